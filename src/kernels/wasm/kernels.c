/*
 * aha's WASM SIMD kernels: the hot loops of the compute backend for browsers without WebGPU
 * (src/kernels/wasm.ts wraps them behind the Backend interface; the rest of the interface runs the
 * TypeScript reference). Built by scripts/build-wasm.mjs:
 *   clang --target=wasm32 -msimd128 -nostdlib -O3 -Wl,--no-entry …  →  build/wasm/aha_kernels.wasm
 * No libc: memory is the module's own linear memory, laid out by the caller (wasm.ts copies operands in
 * and results out, and grows the memory when a call needs more). Conventions as src/kernels/backend.ts:
 * row-major fp32, outputs first; sizes are element counts.
 *
 * Accumulation is fp32 in four SIMD lanes (the reference accumulates in fp64): results agree with it to
 * fp32 rounding, as the native backend's do (test/kernels/wasm.test.ts, the native tests' tolerances).
 */
#include <wasm_simd128.h>

typedef __SIZE_TYPE__ size_t;

static inline float hsum(v128_t v) {
  return wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1) + wasm_f32x4_extract_lane(v, 2) +
         wasm_f32x4_extract_lane(v, 3);
}

/* dot of two contiguous fp32 rows of length k */
static inline float dot(const float *x, const float *y, int k) {
  v128_t s0 = wasm_f32x4_splat(0.f), s1 = wasm_f32x4_splat(0.f);
  int p = 0;
  for (; p + 8 <= k; p += 8) {
    s0 = wasm_f32x4_add(s0, wasm_f32x4_mul(wasm_v128_load(x + p), wasm_v128_load(y + p)));
    s1 = wasm_f32x4_add(s1, wasm_f32x4_mul(wasm_v128_load(x + p + 4), wasm_v128_load(y + p + 4)));
  }
  for (; p + 4 <= k; p += 4) s0 = wasm_f32x4_add(s0, wasm_f32x4_mul(wasm_v128_load(x + p), wasm_v128_load(y + p)));
  float s = hsum(wasm_f32x4_add(s0, s1));
  for (; p < k; p++) s += x[p] * y[p];
  return s;
}

/*
 * c (m, n) [+]= a (m, k) · b (n, k)ᵀ — the nn.Linear product (x · Wᵀ): dots of contiguous rows,
 * 4 rows of a × 4 rows of b at a time (16 accumulators), so each loaded vector is used four times.
 */
__attribute__((export_name("matmul_nt")))
void matmul_nt(float *c, const float *a, const float *b, int m, int n, int k, int accumulate) {
  int i = 0;
  for (; i + 4 <= m; i += 4) {
    const float *a0 = a + (size_t)i * k, *a1 = a0 + k, *a2 = a1 + k, *a3 = a2 + k;
    int j = 0;
    for (; j + 4 <= n; j += 4) {
      const float *b0 = b + (size_t)j * k, *b1 = b0 + k, *b2 = b1 + k, *b3 = b2 + k;
      v128_t s[16];
      for (int q = 0; q < 16; q++) s[q] = wasm_f32x4_splat(0.f);
      int p = 0;
      for (; p + 4 <= k; p += 4) {
        v128_t x0 = wasm_v128_load(a0 + p), x1 = wasm_v128_load(a1 + p), x2 = wasm_v128_load(a2 + p), x3 = wasm_v128_load(a3 + p);
        v128_t y0 = wasm_v128_load(b0 + p), y1 = wasm_v128_load(b1 + p), y2 = wasm_v128_load(b2 + p), y3 = wasm_v128_load(b3 + p);
        s[0] = wasm_f32x4_add(s[0], wasm_f32x4_mul(x0, y0));
        s[1] = wasm_f32x4_add(s[1], wasm_f32x4_mul(x0, y1));
        s[2] = wasm_f32x4_add(s[2], wasm_f32x4_mul(x0, y2));
        s[3] = wasm_f32x4_add(s[3], wasm_f32x4_mul(x0, y3));
        s[4] = wasm_f32x4_add(s[4], wasm_f32x4_mul(x1, y0));
        s[5] = wasm_f32x4_add(s[5], wasm_f32x4_mul(x1, y1));
        s[6] = wasm_f32x4_add(s[6], wasm_f32x4_mul(x1, y2));
        s[7] = wasm_f32x4_add(s[7], wasm_f32x4_mul(x1, y3));
        s[8] = wasm_f32x4_add(s[8], wasm_f32x4_mul(x2, y0));
        s[9] = wasm_f32x4_add(s[9], wasm_f32x4_mul(x2, y1));
        s[10] = wasm_f32x4_add(s[10], wasm_f32x4_mul(x2, y2));
        s[11] = wasm_f32x4_add(s[11], wasm_f32x4_mul(x2, y3));
        s[12] = wasm_f32x4_add(s[12], wasm_f32x4_mul(x3, y0));
        s[13] = wasm_f32x4_add(s[13], wasm_f32x4_mul(x3, y1));
        s[14] = wasm_f32x4_add(s[14], wasm_f32x4_mul(x3, y2));
        s[15] = wasm_f32x4_add(s[15], wasm_f32x4_mul(x3, y3));
      }
      const float *as[4] = {a0, a1, a2, a3}, *bs[4] = {b0, b1, b2, b3};
      for (int r = 0; r < 4; r++)
        for (int q = 0; q < 4; q++) {
          float v = hsum(s[r * 4 + q]);
          for (int pp = p; pp < k; pp++) v += as[r][pp] * bs[q][pp];
          float *o = c + (size_t)(i + r) * n + j + q;
          *o = accumulate ? *o + v : v;
        }
    }
    for (; j < n; j++)
      for (int r = 0; r < 4; r++) {
        float v = dot(a + (size_t)(i + r) * k, b + (size_t)j * k, k);
        float *o = c + (size_t)(i + r) * n + j;
        *o = accumulate ? *o + v : v;
      }
  }
  for (; i < m; i++)
    for (int j = 0; j < n; j++) {
      float v = dot(a + (size_t)i * k, b + (size_t)j * k, k);
      float *o = c + (size_t)i * n + j;
      *o = accumulate ? *o + v : v;
    }
}

/*
 * c (m, n) [+]= A · b (k, n), A's element (i, p) at a[i·sai + p·sap] (a (m, k): sai = k, sap = 1;
 * a stored (k, m) and transposed: sai = 1, sap = m). Rows of c are built by axpy over rows of b:
 * 4 rows of c × 8 columns at a time, in registers across the whole k loop.
 */
__attribute__((export_name("matmul_nn")))
void matmul_nn(float *c, const float *a, const float *b, int m, int n, int k, int sai, int sap, int accumulate) {
  int i = 0;
  for (; i < m; i += 4) {
    int rows = m - i < 4 ? m - i : 4;
    int j = 0;
    for (; j + 8 <= n; j += 8) {
      v128_t s[8];
      for (int q = 0; q < 8; q++) s[q] = wasm_f32x4_splat(0.f);
      for (int p = 0; p < k; p++) {
        const float *brow = b + (size_t)p * n + j;
        v128_t y0 = wasm_v128_load(brow), y1 = wasm_v128_load(brow + 4);
        for (int r = 0; r < rows; r++) {
          v128_t x = wasm_f32x4_splat(a[(size_t)(i + r) * sai + (size_t)p * sap]);
          s[2 * r] = wasm_f32x4_add(s[2 * r], wasm_f32x4_mul(x, y0));
          s[2 * r + 1] = wasm_f32x4_add(s[2 * r + 1], wasm_f32x4_mul(x, y1));
        }
      }
      for (int r = 0; r < rows; r++) {
        float *o = c + (size_t)(i + r) * n + j;
        if (accumulate) {
          s[2 * r] = wasm_f32x4_add(s[2 * r], wasm_v128_load(o));
          s[2 * r + 1] = wasm_f32x4_add(s[2 * r + 1], wasm_v128_load(o + 4));
        }
        wasm_v128_store(o, s[2 * r]);
        wasm_v128_store(o + 4, s[2 * r + 1]);
      }
    }
    for (; j < n; j++)
      for (int r = 0; r < rows; r++) {
        float v = 0.f;
        for (int p = 0; p < k; p++) v += a[(size_t)(i + r) * sai + (size_t)p * sap] * b[(size_t)p * n + j];
        float *o = c + (size_t)(i + r) * n + j;
        *o = accumulate ? *o + v : v;
      }
  }
}

/* ***** exp and log without libc ***** */

/* e^x: x = n·ln2 + r (Cody–Waite), |r| ≤ ln2/2, e^r by its Taylor polynomial of degree 7 (relative
 * error < 2e-8 before rounding), scaled by 2^n through the exponent bits. Overflow → inf, underflow → 0. */
static inline float aha_exp(float x) {
  if (x != x) return x;
  if (x > 88.7228f) return __builtin_inff();
  if (x < -103.9721f) return 0.f;
  float n = __builtin_rintf(x * 1.44269504f);
  float r = (x - n * 0.693145752f) - n * 1.42860677e-6f;
  float p = 1.f + r * (1.f + r * (0.5f + r * (0.166666667f + r * (0.0416666667f + r * (0.00833333333f + r * (0.00138888889f + r * 0.000198412698f))))));
  int e = (int)n;
  union { float f; unsigned u; } s;
  if (e < -126) {
    s.u = (unsigned)(e + 126 + 127) << 23;
    return p * s.f * 1.17549435e-38f; /* 2^-126 */
  }
  if (e > 127) {
    s.u = (unsigned)(127 + 127) << 23;
    return p * s.f * 2.f;
  }
  s.u = (unsigned)(e + 127) << 23;
  return p * s.f;
}

/* ln y for a normal y > 0: y = m·2^e with m in [√½, √2), ln m = 2·atanh((m−1)/(m+1)) by its series. */
static inline float aha_log(float y) {
  union { float f; unsigned u; } b = {y};
  int e = (int)((b.u >> 23) & 255) - 127;
  b.u = (b.u & 0x7fffff) | 0x3f800000;
  float m = b.f;
  if (m > 1.41421356f) {
    m *= 0.5f;
    e += 1;
  }
  float s = (m - 1.f) / (m + 1.f), s2 = s * s;
  float lm = 2.f * s * (1.f + s2 * (0.333333333f + s2 * (0.2f + s2 * (0.142857143f + s2 * 0.111111111f))));
  return (float)e * 0.693147181f + lm;
}

/* ***** attention over packed variable-length sequences (causal, grouped-query) ***** */

static inline v128_t splat(float x) { return wasm_f32x4_splat(x); }

/* y[0..D) += a · x[0..D) */
static inline void axpy(float *y, float a, const float *x, int D) {
  int d = 0;
  v128_t va = splat(a);
  for (; d + 4 <= D; d += 4) wasm_v128_store(y + d, wasm_f32x4_add(wasm_v128_load(y + d), wasm_f32x4_mul(va, wasm_v128_load(x + d))));
  for (; d < D; d++) y[d] += a * x[d];
}

/* scores[j] = (q · k_j)·scale for the n keys k_j = k0 + j·stride; returns their maximum. */
static inline float scores_max(float *scores, const float *q, const float *k0, size_t stride, int n, int D, float scale) {
  float mx = -__builtin_inff();
  for (int j = 0; j < n; j++) {
    float sc = dot(q, k0 + j * stride, D) * scale;
    scores[j] = sc;
    if (sc > mx) mx = sc;
  }
  return mx;
}

/* o (D) = Σ_j softmax(scores)_j · v_j for v_j = v0 + j·stride (scores become e^(s − mx)); returns Σ e^(s − mx). */
static inline float softmax_mix(float *o, float *scores, int n, float mx, const float *v0, size_t stride, int D) {
  float sum = 0.f;
  for (int j = 0; j < n; j++) {
    float p = aha_exp(scores[j] - mx);
    scores[j] = p;
    sum += p;
  }
  for (int d = 0; d < D; d++) o[d] = 0.f;
  float inv = 1.f / sum;
  for (int j = 0; j < n; j++) axpy(o, scores[j] * inv, v0 + j * stride, D);
  return sum;
}

/*
 * out (T, Hq·D), lse (Hq, T); q (T, Hq·D), k, v (T, Hkv·D); cu (S+1); scores: scratch of the longest
 * sequence's length. As src/kernels/backend.ts attentionForward.
 */
__attribute__((export_name("attention_forward")))
void attention_forward(float *out, float *lse, const float *q, const float *k, const float *v, const int *cu, int S,
                       int T, int Hq, int Hkv, int D, float scale, float *scores) {
  int group = Hq / Hkv;
  for (int s = 0; s < S; s++) {
    int start = cu[s], end = cu[s + 1];
    for (int h = 0; h < Hq; h++) {
      int kh = h / group;
      for (int i = start; i < end; i++) {
        size_t stride = (size_t)Hkv * D;
        const float *k0 = k + ((size_t)start * Hkv + kh) * D, *v0 = v + ((size_t)start * Hkv + kh) * D;
        float mx = scores_max(scores, q + ((size_t)i * Hq + h) * D, k0, stride, i - start + 1, D, scale);
        float sum = softmax_mix(out + ((size_t)i * Hq + h) * D, scores, i - start + 1, mx, v0, stride, D);
        lse[(size_t)h * T + i] = mx + aha_log(sum);
      }
    }
  }
}

/* dq, dk, dv +=; as src/kernels/backend.ts attentionBackward (P from the saved lse). */
__attribute__((export_name("attention_backward")))
void attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *out, const float *lse,
                        const float *q, const float *k, const float *v, const int *cu, int S, int T, int Hq, int Hkv,
                        int D, float scale) {
  int group = Hq / Hkv;
  for (int s = 0; s < S; s++) {
    int start = cu[s], end = cu[s + 1];
    for (int h = 0; h < Hq; h++) {
      int kh = h / group;
      for (int i = start; i < end; i++) {
        size_t qo = ((size_t)i * Hq + h) * D;
        float delta = dot(dout + qo, out + qo, D);
        float l = lse[(size_t)h * T + i];
        for (int j = start; j <= i; j++) {
          size_t ko = ((size_t)j * Hkv + kh) * D;
          float p = aha_exp(dot(q + qo, k + ko, D) * scale - l);
          float dp = dot(dout + qo, v + ko, D);
          float ds = p * (dp - delta) * scale;
          axpy(dv + ko, p, dout + qo, D);
          axpy(dk + ko, ds, q + qo, D);
          axpy(dq + qo, ds, k + ko, D);
        }
      }
    }
  }
}

/*
 * Decoding: out (B, Hq·D), q (B, Hq·D); k, v hold each query's cache rows packed one after another
 * (query b's len[b] rows, Hkv·D each, from row start[b]). scores: scratch of the longest len.
 */
__attribute__((export_name("attention_decode")))
void attention_decode(float *out, const float *q, const float *k, const float *v, const int *start, const int *lens, int B,
                      int Hq, int Hkv, int D, float scale, float *scores) {
  int group = Hq / Hkv;
  size_t row = (size_t)Hkv * D;
  for (int b = 0; b < B; b++) {
    int len = lens[b];
    const float *kb = k + (size_t)start[b] * row, *vb = v + (size_t)start[b] * row;
    for (int h = 0; h < Hq; h++) {
      int kh = h / group;
      float mx = scores_max(scores, q + ((size_t)b * Hq + h) * D, kb + (size_t)kh * D, row, len, D, scale);
      softmax_mix(out + ((size_t)b * Hq + h) * D, scores, len, mx, vb + (size_t)kh * D, row, D);
    }
  }
}

/* ***** SwiGLU and RMSNorm ***** */

__attribute__((export_name("swiglu_forward")))
void swiglu_forward(float *out, const float *gate, const float *up, int n) {
  for (int i = 0; i < n; i++) {
    float g = gate[i];
    out[i] = g / (1.f + aha_exp(-g)) * up[i];
  }
}

__attribute__((export_name("swiglu_backward")))
void swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate, const float *up, int n) {
  for (int i = 0; i < n; i++) {
    float g = gate[i], sig = 1.f / (1.f + aha_exp(-g)), d = dout[i];
    dup[i] = d * g * sig;
    dgate[i] = d * up[i] * sig * (1.f + g * (1.f - sig));
  }
}

__attribute__((export_name("rmsnorm_forward")))
void rmsnorm_forward(float *out, float *rstd, const float *inp, const float *w, int rows, int C, float eps) {
  for (int r = 0; r < rows; r++) {
    const float *x = inp + (size_t)r * C;
    float rs = 1.f / __builtin_sqrtf(dot(x, x, C) / (float)C + eps);
    rstd[r] = rs;
    float *o = out + (size_t)r * C;
    int c = 0;
    for (; c + 4 <= C; c += 4) wasm_v128_store(o + c, wasm_f32x4_mul(wasm_f32x4_mul(wasm_v128_load(x + c), splat(rs)), wasm_v128_load(w + c)));
    for (; c < C; c++) o[c] = x[c] * rs * w[c];
  }
}

/* dinp +=, dw += (dw accumulated over the rows first, then added). dwacc: scratch of C floats. */
__attribute__((export_name("rmsnorm_backward")))
void rmsnorm_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w, const float *rstd,
                      int rows, int C, float *dwacc) {
  for (int c = 0; c < C; c++) dwacc[c] = 0.f;
  for (int row = 0; row < rows; row++) {
    const float *x = inp + (size_t)row * C, *dy = dout + (size_t)row * C;
    float *dx = dinp + (size_t)row * C;
    float r = rstd[row];
    float acc = 0.f;
    for (int c = 0; c < C; c++) acc += dy[c] * w[c] * x[c];
    float kk = acc * r * r * r / (float)C;
    for (int c = 0; c < C; c++) {
      dx[c] += r * w[c] * dy[c] - x[c] * kk;
      dwacc[c] += dy[c] * x[c] * r;
    }
  }
  for (int c = 0; c < C; c++) dw[c] += dwacc[c];
}
