/**
 * WGSL compute shaders for every kernel of the Backend interface (../backend.ts). No Node API here: the
 * same sources run in Node (Dawn) and in a browser (navigator.gpu).
 *
 * Memory model (docs/webgpu.md): every kernel sees ONE storage buffer, the heap `H` (array<u32>), in which
 * all tensors of a dispatch live at word offsets given in the uniform parameters; fp32 values are read
 * with bitcast (so bf16 pairs and fp32 share one binding without aliasing two writable bindings). bf16
 * tensors are addressed in 16-bit units (element e is the low half of word e/2 when e is even). Integer
 * inputs (token ids, targets, sequence starts, slots) come in a second, read-only buffer `I`; scalars in
 * the uniform `P` (32 words: u32, or f32 bit patterns).
 *
 * Dispatches may be 2-D (x ≤ 65535 workgroups): `gidx` linearizes them.
 */

const HEADER = /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> H: array<u32>;
@group(0) @binding(1) var<storage, read> I: array<i32>;
@group(0) @binding(2) var<uniform> P: array<vec4<u32>, 8>;
fn pu(i: u32) -> u32 { return P[i / 4u][i % 4u]; }
fn pf(i: u32) -> f32 { return bitcast<f32>(P[i / 4u][i % 4u]); }
fn ld(i: u32) -> f32 { return bitcast<f32>(H[i]); }
fn st(i: u32, v: f32) { H[i] = bitcast<u32>(v); }
fn gidx(w: vec3<u32>, nw: vec3<u32>, l: u32, size: u32) -> u32 { return (w.y * nw.x + w.x) * size + l; }
const NEG_BIG: f32 = -3.0e38;
`;

/** One entry point `main`; workgroup size is given per kernel. */
function k(body: string): string {
  return HEADER + body;
}

const ELEMWISE = (expr: string, params: string, extra = ""): string => k(`${extra}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  ${params}
  let i = gidx(w, nw, l, 256u);
  if (i >= n) { return; }
  ${expr}
}`);

/** One 64-invocation workgroup per row r (rows = parameter word `rowsIdx`); `rowSum` adds a value over the workgroup. */
const ROW_KERNEL = (rowsIdx: number, body: string): string => k(`
var<workgroup> red: array<f32, 64>;
fn rowSum(l: u32, s: f32) -> f32 {
  red[l] = s;
  workgroupBarrier();
  for (var h = 32u; h > 0u; h = h >> 1u) { if (l < h) { red[l] = red[l] + red[l + h]; } workgroupBarrier(); }
  let total = red[0];
  workgroupBarrier();
  return total;
}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let r = w.y * nw.x + w.x;
  if (r >= pu(${rowsIdx}u)) { return; }
  ${body}
}`);

/**
 * One invocation per row r (rows = parameter word `rowsIdx`), 64 per workgroup, no barriers: the
 * barrier-free variant of a ROW_KERNEL (SwiftShader runs barriers as coroutine switches).
 */
const ROW_SERIAL = (rowsIdx: number, body: string): string => k(`
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let r = gidx(w, nw, l, 64u);
  if (r >= pu(${rowsIdx}u)) { return; }
  ${body}
}`);

/** Online softmax over keys for one query row: attendBegin, attendKey per key (in order), attendEnd. */
const ATTEND = `
var<private> acc: array<f32, 256>;
var<private> amx: f32;
var<private> asum: f32;
fn attendBegin(D: u32) { for (var d = 0u; d < D; d = d + 1u) { acc[d] = 0.0; } amx = NEG_BIG; asum = 0.0; }
fn attendKey(qo: u32, ko: u32, vo: u32, D: u32, scale: f32) {
  var qk = 0.0;
  for (var d = 0u; d < D; d = d + 1u) { qk = qk + ld(qo + d) * ld(ko + d); }
  let sc = qk * scale;
  if (sc > amx) { let corr = exp(amx - sc); asum = asum * corr; for (var d = 0u; d < D; d = d + 1u) { acc[d] = acc[d] * corr; } amx = sc; }
  let p = exp(sc - amx);
  asum = asum + p;
  for (var d = 0u; d < D; d = d + 1u) { acc[d] = acc[d] + p * ld(vo + d); }
}
fn attendEnd(oo: u32, D: u32) { for (var d = 0u; d < D; d = d + 1u) { st(oo + d, acc[d] / asum); } }
`;

/** Operand loads of the matrix products; FL is a pipeline constant (the flags of MatmulOptions and bf16 operands). */
const MM_OPERANDS = `
override FL: u32 = 0u;
override TA: bool = (FL & 1u) != 0u;
override TB: bool = (FL & 2u) != 0u;
override ACC: bool = (FL & 4u) != 0u;
override RND: bool = (FL & 8u) != 0u;
override ABF: bool = (FL & 16u) != 0u;
override BBF: bool = (FL & 32u) != 0u;
fn rbf(x: f32) -> f32 {
  let u = bitcast<u32>(x);
  if ((u & 0x7f800000u) == 0x7f800000u) { return x; }
  return bitcast<f32>((u + 0x7fffu + ((u >> 16u) & 1u)) & 0xffff0000u);
}
fn half16(e: u32) -> f32 {
  let wd = H[e >> 1u];
  return bitcast<f32>(select(wd & 0xffffu, wd >> 16u, (e & 1u) == 1u) << 16u);
}
fn opA(e: u32) -> f32 { if (ABF) { return half16(e); } if (RND) { return rbf(ld(e)); } return ld(e); }
fn opB(e: u32) -> f32 { if (BBF) { return half16(e); } if (RND) { return rbf(ld(e)); } return ld(e); }
`;


/**
 * The barrier-free matrix product: each invocation computes an R×(4·CV) block of C in registers (8×8
 * invocations per workgroup), walking k in order with one accumulator per element, so every element is
 * summed in the reference's order. Generated unrolled (WGSL has no register arrays to index).
 */
function mmBlock(R: number, CV: number): string {
  const accs = [];
  for (let i = 0; i < R; i++) for (let j = 0; j < CV; j++) accs.push(`var c${i}_${j} = vec4<f32>(0.0);`);
  const aLoads = Array.from({ length: R }, (_, i) => `let a${i} = opA(offA + ia${i});`).join(" ");
  const bLoads = Array.from({ length: CV }, (_, j) => `let b${j} = vec4<f32>(opB(offB + ib${j}.x), opB(offB + ib${j}.y), opB(offB + ib${j}.z), opB(offB + ib${j}.w));`).join("\n    ");
  const fmas = [];
  for (let i = 0; i < R; i++) for (let j = 0; j < CV; j++) fmas.push(`c${i}_${j} = c${i}_${j} + a${i} * b${j};`);
  const iaDecl = Array.from({ length: R }, (_, i) => `var ia${i} = select(min(r0 + ${i}u, m - 1u) * kk, min(r0 + ${i}u, m - 1u), TA);`).join("\n  ");
  const ibDecl = Array.from({ length: CV }, (_, j) => `var ib${j} = min(vec4<u32>(c0 + ${4 * j}u, c0 + ${4 * j + 1}u, c0 + ${4 * j + 2}u, c0 + ${4 * j + 3}u), vec4<u32>(n - 1u)); if (TB) { ib${j} = ib${j} * kk; }`).join("\n  ");
  const iaInc = Array.from({ length: R }, (_, i) => `ia${i} = ia${i} + sa;`).join(" ");
  const ibInc = Array.from({ length: CV }, (_, j) => `ib${j} = ib${j} + vec4<u32>(sb);`).join(" ");
  const stores = [];
  for (let i = 0; i < R; i++) for (let j = 0; j < CV; j++) for (let e = 0; e < 4; e++) {
    stores.push(`if (r0 + ${i}u < m && c0 + ${4 * j + e}u < n) { let ci = offC + (r0 + ${i}u) * n + c0 + ${4 * j + e}u; var v = c${i}_${j}[${e}]; if (ACC) { v = ld(ci) + v; } st(ci, v); }`);
  }
  return k(`${MM_OPERANDS}
@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) w: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let offC = pu(0u); let offA = pu(1u); let offB = pu(2u);
  let m = pu(3u); let n = pu(4u); let kk = pu(5u);
  let r0 = (w.y * 8u + lid.y) * ${R}u;
  let c0 = (w.x * 8u + lid.x) * ${4 * CV}u;
  if (r0 >= m || c0 >= n) { return; }
  let sa = select(1u, m, TA);
  let sb = select(n, 1u, TB);
  ${iaDecl}
  ${ibDecl}
  ${accs.join(" ")}
  for (var p = 0u; p < kk; p = p + 1u) {
    ${aLoads}
    ${bLoads}
    ${fmas.join(" ")}
    ${iaInc} ${ibInc}
  }
  ${stores.join("\n  ")}
}`);
}


export const SHADERS: Record<string, string> = {
  // P: offC, offA, offB, m, n, k. Override FL (pipeline constant, so the loops carry no flag tests):
  // 1 transA, 2 transB, 4 accumulate, 8 round operands to bf16, 16 A is bf16, 32 B is bf16.
  // No barriers: 8×8 blocks per invocation (a 64×64 tile per workgroup); matmulNarrow: 4×4 blocks, for
  // products of at most 4 rows (decoding a few sequences), where 8 rows would repeat work.
  matmul: mmBlock(8, 2),
  matmulNarrow: mmBlock(4, 1),

  // The same product with 16×16 shared-memory tiles and barriers (one output per invocation): the
  // usual GPU layout, kept beside the barrier-free one; the backend times both on the adapter and uses
  // the faster (docs/webgpu.md, "Measured kernel choice").
  matmulTiled: k(`${MM_OPERANDS}
var<workgroup> As: array<array<f32, 16>, 16>;
var<workgroup> Bs: array<array<f32, 16>, 16>;
@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) w: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let offC = pu(0u); let offA = pu(1u); let offB = pu(2u);
  let m = pu(3u); let n = pu(4u); let kk = pu(5u);
  let row = w.y * 16u + lid.y;
  let col = w.x * 16u + lid.x;
  var acc = 0.0;
  for (var t = 0u; t < kk; t = t + 16u) {
    let ak = t + lid.x;
    var av = 0.0;
    if (row < m && ak < kk) { av = opA(offA + select(row * kk + ak, ak * m + row, TA)); }
    As[lid.y][lid.x] = av;
    let bk = t + lid.y;
    var bv = 0.0;
    if (bk < kk && col < n) { bv = opB(offB + select(bk * n + col, col * kk + bk, TB)); }
    Bs[lid.y][lid.x] = bv;
    workgroupBarrier();
    for (var p = 0u; p < 16u; p = p + 1u) { acc = acc + As[lid.y][p] * Bs[p][lid.x]; }
    workgroupBarrier();
  }
  if (row < m && col < n) {
    let ci = offC + row * n + col;
    if (ACC) { acc = ld(ci) + acc; }
    st(ci, acc);
  }
}`),

  // P: offOut (16-bit units), offSrc, n. One invocation per 32-bit word of the output (owns both halves).
  toBf16: k(`
fn bits(x: f32) -> u32 {
  let u = bitcast<u32>(x);
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu) != 0u) { return ((u >> 16u) | 0x40u) & 0xffffu; }
  return ((u + 0x7fffu + ((u >> 16u) & 1u)) >> 16u) & 0xffffu;
}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let off = pu(0u); let src = pu(1u); let n = pu(2u);
  let word = (off >> 1u) + gidx(w, nw, l, 256u);
  if (word * 2u >= off + n) { return; }
  var v = H[word];
  let e0 = word * 2u;
  if (e0 >= off) { v = (v & 0xffff0000u) | bits(ld(src + e0 - off)); }
  if (e0 + 1u < off + n) { v = (v & 0x0000ffffu) | (bits(ld(src + e0 + 1u - off)) << 16u); }
  H[word] = v;
}`),

  // P: offOut, offA, offB, n
  add: ELEMWISE("st(o + i, ld(a + i) + ld(b + i));", "let o = pu(0u); let a = pu(1u); let b = pu(2u); let n = pu(3u);"),
  // P: offDst, offSrc, n
  copy: ELEMWISE("st(o + i, ld(a + i));", "let o = pu(0u); let a = pu(1u); let n = pu(2u);"),
  // P: count; I: [dst, src, n] word offsets per copy — one 64-invocation workgroup per copy (copies of a
  // batch do not overlap: the host sends the batch before a copy that would)
  copyBatch: k(`
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let c = w.y * nw.x + w.x;
  if (c >= pu(0u)) { return; }
  let d = u32(I[3u * c]); let s = u32(I[3u * c + 1u]); let n = u32(I[3u * c + 2u]);
  for (var i = l; i < n; i = i + 64u) { H[d + i] = H[s + i]; }
}`),
  // P: offX, offBias, rows·cols, cols
  addBias: ELEMWISE("st(x + i, ld(x + i) + ld(b + i % c));", "let x = pu(0u); let b = pu(1u); let n = pu(2u); let c = pu(3u);"),
  // P: offDb, offD, rows, cols — one invocation per column (no races)
  addBiasBackward: ELEMWISE(
    "var s = 0.0; for (var r = 0u; r < rows; r = r + 1u) { s = s + ld(d + r * n + i); } st(db + i, ld(db + i) + s);",
    "let db = pu(0u); let d = pu(1u); let rows = pu(2u); let n = pu(3u);"),
  // P: offX, n, s
  scale: ELEMWISE("st(x + i, ld(x + i) * s);", "let x = pu(0u); let n = pu(1u); let s = pf(2u);"),
  // P: offOut, offGate, offUp, n
  swigluForward: ELEMWISE("let g = ld(gt + i); st(o + i, g / (1.0 + exp(-g)) * ld(up + i));",
    "let o = pu(0u); let gt = pu(1u); let up = pu(2u); let n = pu(3u);"),
  // P: offDgate, offDup, offDout, offGate, offUp, n
  swigluBackward: ELEMWISE(`let g = ld(gt + i); let sg = 1.0 / (1.0 + exp(-g)); let d = ld(dd + i);
    st(du + i, d * g * sg);
    st(dg + i, d * ld(up + i) * sg * (1.0 + g * (1.0 - sg)));`,
  "let dg = pu(0u); let du = pu(1u); let dd = pu(2u); let gt = pu(3u); let up = pu(4u); let n = pu(5u);"),
  // P: offP, offG, offM, offV, n, lr, b1, b2, eps, decayFactor (1 − lr·wd), bc1, bc2
  adamw: ELEMWISE(`let g = ld(gp + i);
    var p = ld(pp + i) * dec;
    let m = b1 * ld(mp + i) + (1.0 - b1) * g;
    let v = b2 * ld(vp + i) + (1.0 - b2) * g * g;
    st(mp + i, m); st(vp + i, v);
    p = p - (lr * (m / bc1)) / (sqrt(v / bc2) + eps);
    st(pp + i, p);`,
  `let pp = pu(0u); let gp = pu(1u); let mp = pu(2u); let vp = pu(3u); let n = pu(4u);
  let lr = pf(5u); let b1 = pf(6u); let b2 = pf(7u); let eps = pf(8u); let dec = pf(9u); let bc1 = pf(10u); let bc2 = pf(11u);`),
  // P: offOut, offW, T·C, C; I: ids (T)
  embeddingForward: ELEMWISE("let t = i / c; st(o + i, ld(wt + u32(I[t]) * c + i % c));",
    "let o = pu(0u); let wt = pu(1u); let n = pu(2u); let c = pu(3u);"),
  // P: offDw, offDout, T, C; I: ids (T). One invocation per column: it adds the rows in order (no races).
  embeddingBackward: ELEMWISE(
    "for (var t = 0u; t < T; t = t + 1u) { let j = dw + u32(I[t]) * n + i; st(j, ld(j) + ld(d + t * n + i)); }",
    "let dw = pu(0u); let d = pu(1u); let T = pu(2u); let n = pu(3u);"),
  // P: offX, offCos, offSin, T·H·(D/2), H, D, inverse
  rope: ELEMWISE(`let half = D / 2u; let ii = i % half; let th = i / half; let t = th / Hh;
    let base = x + th * D;
    let c = ld(cs + t * half + ii); var s = ld(sn + t * half + ii); if (inv != 0u) { s = -s; }
    let x1 = ld(base + ii); let x2 = ld(base + ii + half);
    st(base + ii, x1 * c - x2 * s); st(base + ii + half, x2 * c + x1 * s);`,
  "let x = pu(0u); let cs = pu(1u); let sn = pu(2u); let n = pu(3u); let Hh = pu(4u); let D = pu(5u); let inv = pu(6u);"),
  // P: offDw, offDout, offInp, offRstd, rows, C — dw[c] += Σ_rows dout·x·rstd, one invocation per column
  rmsnormBackwardW: ELEMWISE(
    "var s = 0.0; for (var r = 0u; r < rows; r = r + 1u) { s = s + ld(d + r * n + i) * ld(x + r * n + i) * ld(rs + r); } st(dw + i, ld(dw + i) + s);",
    "let dw = pu(0u); let d = pu(1u); let x = pu(2u); let rs = pu(3u); let rows = pu(4u); let n = pu(5u);"),

  // P: offX, n, offPartials, chunks — Σ x² of each 64-element chunk, one invocation per chunk (four
  // interleaved sums: fp32 error like the tiled tree's); the host adds the partials in fp64
  sumSquares: ROW_SERIAL(3, `let x = pu(0u); let n = pu(1u); let outp = pu(2u);
  let lo = r * 64u; let hi = min(n, lo + 64u);
  var s = vec4<f32>(0.0);
  var i = lo;
  for (; i + 4u <= hi; i = i + 4u) { let v = vec4<f32>(ld(x + i), ld(x + i + 1u), ld(x + i + 2u), ld(x + i + 3u)); s = s + v * v; }
  for (; i < hi; i = i + 1u) { let v = ld(x + i); s.x = s.x + v * v; }
  st(outp + r, (s.x + s.y) + (s.z + s.w));`),

  // P: offX, n, offPartials — Σ x² of each 4096-element chunk:
  // the same with a 256-invocation workgroup per chunk and a shared-memory tree (the GPU layout)
  sumSquaresTiled: k(`
var<workgroup> red: array<f32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let x = pu(0u); let n = pu(1u); let outp = pu(2u);
  let g = w.y * nw.x + w.x;
  var s = 0.0;
  for (var j = 0u; j < 16u; j = j + 1u) { let i = g * 4096u + j * 256u + l; if (i < n) { let v = ld(x + i); s = s + v * v; } }
  red[l] = s;
  workgroupBarrier();
  for (var h = 128u; h > 0u; h = h >> 1u) { if (l < h) { red[l] = red[l] + red[l + h]; } workgroupBarrier(); }
  if (l == 0u) { st(outp + g, red[0]); }
}`),

  // P: offOut, offRstd, offInp, offW, rows, C, eps — one invocation per row
  rmsnormForward: ROW_SERIAL(4, `let o = pu(0u); let rs = pu(1u); let x = pu(2u); let wt = pu(3u); let C = pu(5u); let eps = pf(6u);
  let b = r * C;
  var s = 0.0;
  for (var c = 0u; c < C; c = c + 1u) { let v = ld(x + b + c); s = s + v * v; }
  let rstd = 1.0 / sqrt(s / f32(C) + eps);
  st(rs + r, rstd);
  for (var c = 0u; c < C; c = c + 1u) { st(o + b + c, ld(x + b + c) * rstd * ld(wt + c)); }`),

  // the same, one 64-invocation workgroup per row
  rmsnormForwardTiled: ROW_KERNEL(4, `let o = pu(0u); let rs = pu(1u); let x = pu(2u); let wt = pu(3u); let C = pu(5u); let eps = pf(6u);
  var s = 0.0;
  for (var c = l; c < C; c = c + 64u) { let v = ld(x + r * C + c); s = s + v * v; }
  let rstd = 1.0 / sqrt(rowSum(l, s) / f32(C) + eps);
  if (l == 0u) { st(rs + r, rstd); }
  for (var c = l; c < C; c = c + 64u) { st(o + r * C + c, ld(x + r * C + c) * rstd * ld(wt + c)); }`),

  // P: offDinp, offDout, offInp, offW, offRstd, rows, C — one invocation per row
  rmsnormBackwardX: ROW_SERIAL(5, `let dx = pu(0u); let d = pu(1u); let x = pu(2u); let wt = pu(3u); let rs = pu(4u); let C = pu(6u);
  let b = r * C;
  var s = 0.0;
  for (var c = 0u; c < C; c = c + 1u) { s = s + ld(d + b + c) * ld(wt + c) * ld(x + b + c); }
  let rstd = ld(rs + r);
  let kk = s * rstd * rstd * rstd / f32(C);
  for (var c = 0u; c < C; c = c + 1u) {
    let i = b + c;
    st(dx + i, ld(dx + i) + (rstd * ld(wt + c) * ld(d + i) - ld(x + i) * kk));
  }`),

  // the same, one 64-invocation workgroup per row
  rmsnormBackwardXTiled: ROW_KERNEL(5, `let dx = pu(0u); let d = pu(1u); let x = pu(2u); let wt = pu(3u); let rs = pu(4u); let C = pu(6u);
  var s = 0.0;
  for (var c = l; c < C; c = c + 64u) { s = s + ld(d + r * C + c) * ld(wt + c) * ld(x + r * C + c); }
  let rstd = ld(rs + r);
  let kk = rowSum(l, s) * rstd * rstd * rstd / f32(C);
  for (var c = l; c < C; c = c + 64u) {
    let i = r * C + c;
    st(dx + i, ld(dx + i) + (rstd * ld(wt + c) * ld(d + i) - ld(x + i) * kk));
  }`),

  // P: offLogp, offEnt, offLse, offLogits, T, V; I: targets (T) — one invocation per row
  logprobsForward: ROW_SERIAL(4, `let lp = pu(0u); let en = pu(1u); let ls = pu(2u); let z = pu(3u); let V = pu(5u);
  let o = z + r * V;
  var mx = NEG_BIG;
  for (var v = 0u; v < V; v = v + 1u) { mx = max(mx, ld(o + v)); }
  var s = 0.0; var sz = 0.0;
  for (var v = 0u; v < V; v = v + 1u) { let q = ld(o + v) - mx; let e = exp(q); s = s + e; sz = sz + e * q; }
  let logZ = log(s);
  let lse = mx + logZ;
  st(ls + r, lse);
  st(en + r, logZ - sz / s);
  let tg = I[r];
  if (tg < 0) { st(lp + r, 0.0); } else { st(lp + r, ld(o + u32(tg)) - lse); }`),

  // the same, one 256-invocation workgroup per row with shared-memory trees
  logprobsForwardTiled: k(`
var<workgroup> r1: array<f32, 256>;
var<workgroup> r2: array<f32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) w: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let lp = pu(0u); let en = pu(1u); let ls = pu(2u); let z = pu(3u); let T = pu(4u); let V = pu(5u);
  let t = w.y * nw.x + w.x;
  if (t >= T) { return; }
  let o = z + t * V;
  var mx = NEG_BIG;
  for (var v = l; v < V; v = v + 256u) { mx = max(mx, ld(o + v)); }
  r1[l] = mx;
  workgroupBarrier();
  for (var h = 128u; h > 0u; h = h >> 1u) { if (l < h) { r1[l] = max(r1[l], r1[l + h]); } workgroupBarrier(); }
  mx = r1[0];
  workgroupBarrier();
  var s = 0.0; var sz = 0.0;
  for (var v = l; v < V; v = v + 256u) { let q = ld(o + v) - mx; let e = exp(q); s = s + e; sz = sz + e * q; }
  r1[l] = s; r2[l] = sz;
  workgroupBarrier();
  for (var h = 128u; h > 0u; h = h >> 1u) { if (l < h) { r1[l] = r1[l] + r1[l + h]; r2[l] = r2[l] + r2[l + h]; } workgroupBarrier(); }
  if (l == 0u) {
    let logZ = log(r1[0]);
    let lse = mx + logZ;
    st(ls + t, lse);
    st(en + t, logZ - r2[0] / r1[0]);
    let tg = I[t];
    if (tg < 0) { st(lp + t, 0.0); } else { st(lp + t, ld(o + u32(tg)) - lse); }
  }
}`),

  // P: offD, offLogits, offLse, offEnt, offDlogp, offDent, T·V, V, flags (1 dlogp, 2 dentropy); I: targets
  logprobsBackward: ELEMWISE(`let t = i / V; let v = i % V;
    let tg = I[t];
    var gl = 0.0; if ((fl & 1u) != 0u && tg >= 0) { gl = ld(dlp + t); }
    var ge = 0.0; if ((fl & 2u) != 0u) { ge = ld(den + t); }
    let lpv = ld(z + i) - ld(ls + t);
    let p = exp(lpv);
    var g = -gl * p - ge * p * (lpv + ld(en + t));
    if (i32(v) == tg) { g = g + gl; }
    st(dz + i, g);`,
  "let dz = pu(0u); let z = pu(1u); let ls = pu(2u); let en = pu(3u); let dlp = pu(4u); let den = pu(5u); let n = pu(6u); let V = pu(7u); let fl = pu(8u);"),

  // P: offOut, offLse, offQ, offK, offV, T, Hq, Hkv, D, scale; I: start of each token's sequence (T)
  attentionForward: ELEMWISE(`let ti = i / Hq; let h = i % Hq; let kh = h / (Hq / Hkv);
    let qo = q + (ti * Hq + h) * D;
    attendBegin(D);
    for (var j = u32(I[ti]); j <= ti; j = j + 1u) { attendKey(qo, kp + (j * Hkv + kh) * D, vp + (j * Hkv + kh) * D, D, scale); }
    attendEnd(o + (ti * Hq + h) * D, D);
    st(lse + h * T + ti, amx + log(asum));`,
  `let o = pu(0u); let lse = pu(1u); let q = pu(2u); let kp = pu(3u); let vp = pu(4u);
  let T = pu(5u); let Hq = pu(6u); let Hkv = pu(7u); let D = pu(8u); let scale = pf(9u); let n = T * Hq;`, ATTEND),

  // P: offDelta, offDout, offOut, T, Hq, D — Δ[h·T + i] = dout_i·out_i
  attentionDelta: ELEMWISE(`let ti = i / Hq; let h = i % Hq; let b = (ti * Hq + h) * D;
    var s = 0.0; for (var d = 0u; d < D; d = d + 1u) { s = s + ld(dd + b + d) * ld(o + b + d); }
    st(dl + h * T + ti, s);`,
  "let dl = pu(0u); let dd = pu(1u); let o = pu(2u); let T = pu(3u); let Hq = pu(4u); let D = pu(5u); let n = T * Hq;"),

  // P: offDq, offDout, offLse, offDelta, offQ, offK, offV, T, Hq, Hkv, D, scale; I: starts (T), ends (T) — one invocation per (query, head)
  attentionBackwardQ: ELEMWISE(`let ti = i / Hq; let h = i % Hq; let kh = h / (Hq / Hkv);
    let qo = q + (ti * Hq + h) * D; let go = dd + (ti * Hq + h) * D;
    let lsev = ld(ls + h * T + ti); let delta = ld(dl + h * T + ti);
    var acc: array<f32, 256>;
    for (var d = 0u; d < D; d = d + 1u) { acc[d] = 0.0; }
    for (var j = u32(I[ti]); j <= ti; j = j + 1u) {
      let ko = kp + (j * Hkv + kh) * D; let vo = vp + (j * Hkv + kh) * D;
      var qk = 0.0; var dp = 0.0;
      for (var d = 0u; d < D; d = d + 1u) { qk = qk + ld(qo + d) * ld(ko + d); dp = dp + ld(go + d) * ld(vo + d); }
      let ds = exp(qk * scale - lsev) * (dp - delta) * scale;
      for (var d = 0u; d < D; d = d + 1u) { acc[d] = acc[d] + ds * ld(ko + d); }
    }
    let oo = dq + (ti * Hq + h) * D;
    for (var d = 0u; d < D; d = d + 1u) { st(oo + d, ld(oo + d) + acc[d]); }`,
  `let dq = pu(0u); let dd = pu(1u); let ls = pu(2u); let dl = pu(3u); let q = pu(4u); let kp = pu(5u); let vp = pu(6u);
  let T = pu(7u); let Hq = pu(8u); let Hkv = pu(9u); let D = pu(10u); let scale = pf(11u); let n = T * Hq;`),

  // P: offDk, offDv, offDout, offLse, offDelta, offQ, offK, offV, T, Hq, Hkv, D, scale; I: starts (T), ends (T)
  // One invocation per (key, kv head): it owns dk_j and dv_j (no races).
  attentionBackwardKV: ELEMWISE(`let tj = i / Hkv; let kh = i % Hkv; let grp = Hq / Hkv;
    let ko = kp + (tj * Hkv + kh) * D; let vo = vp + (tj * Hkv + kh) * D;
    var ak: array<f32, 256>; var av: array<f32, 256>;
    for (var d = 0u; d < D; d = d + 1u) { ak[d] = 0.0; av[d] = 0.0; }
    let tend = u32(I[T + tj]);
    for (var h = kh * grp; h < (kh + 1u) * grp; h = h + 1u) {
      for (var ti = tj; ti < tend; ti = ti + 1u) {
        let qo = q + (ti * Hq + h) * D; let go = dd + (ti * Hq + h) * D;
        var qk = 0.0; var dp = 0.0;
        for (var d = 0u; d < D; d = d + 1u) { qk = qk + ld(qo + d) * ld(ko + d); dp = dp + ld(go + d) * ld(vo + d); }
        let p = exp(qk * scale - ld(ls + h * T + ti));
        let ds = p * (dp - ld(dl + h * T + ti)) * scale;
        for (var d = 0u; d < D; d = d + 1u) { av[d] = av[d] + p * ld(go + d); ak[d] = ak[d] + ds * ld(qo + d); }
      }
    }
    let b = (tj * Hkv + kh) * D;
    for (var d = 0u; d < D; d = d + 1u) { st(dk + b + d, ld(dk + b + d) + ak[d]); st(dv + b + d, ld(dv + b + d) + av[d]); }`,
  `let dk = pu(0u); let dv = pu(1u); let dd = pu(2u); let ls = pu(3u); let dl = pu(4u); let q = pu(5u); let kp = pu(6u); let vp = pu(7u);
  let T = pu(8u); let Hq = pu(9u); let Hkv = pu(10u); let D = pu(11u); let scale = pf(12u); let n = T * Hkv;`),

  // P: offOut, offQ, offK, offV, B, maxLen, Hq, Hkv, D, scale; I: slots (B), lens (B)
  attentionDecode: ELEMWISE(`let b = i / Hq; let h = i % Hq; let kh = h / (Hq / Hkv);
    let slot = u32(I[b]); let len = u32(I[B + b]);
    let qo = q + (b * Hq + h) * D;
    attendBegin(D);
    for (var j = 0u; j < len; j = j + 1u) {
      attendKey(qo, kp + ((slot * maxLen + j) * Hkv + kh) * D, vp + ((slot * maxLen + j) * Hkv + kh) * D, D, scale);
    }
    attendEnd(o + (b * Hq + h) * D, D);`,
  `let o = pu(0u); let q = pu(1u); let kp = pu(2u); let vp = pu(3u); let B = pu(4u); let maxLen = pu(5u);
  let Hq = pu(6u); let Hkv = pu(7u); let D = pu(8u); let scale = pf(9u); let n = B * Hq;`, ATTEND),
};

/** Workgroups per dispatch unit of each kernel: "elements / 256" for ELEMWISE, rows for row kernels, tiles for matmul. */
export type KernelName = keyof typeof SHADERS;

/** Largest head dimension the attention shaders hold in registers. */
export const MAX_HEAD_DIM = 256;
