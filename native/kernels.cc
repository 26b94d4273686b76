// Fused CPU kernels. Portable build: compiled for baseline x86-64; every hot function carries
// HOT = target_clones("avx512f", "avx2", "default"), so GCC emits three versions and the dynamic
// loader picks the best one for the CPU it runs on (ifunc). The loops are written so that GCC
// vectorizes them (`#pragma omp simd`, a polynomial exp with no libm call); OpenMP threads split
// rows / heads / sequences when the work is large enough. Reductions are ordered deterministically
// (fixed static partition, partial results summed in thread order), so results do not depend on timing.
#include "kernels.h"
#include "simd.h"

#include <dnnl.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define HOT __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define HOT
#endif

namespace aha {

namespace {

// Work smaller than this (in floats touched) runs on one thread: thread start-up costs ~1-2 µs.
// `parallel for simd if (parallel : …)`: an `if` without the modifier applies to the simd construct
// too, and then turned the vectorization off along with the threads (a 16 × 896 add ran scalar).
constexpr int64_t PAR_MIN = 1 << 15;

inline float dot(const float* a, const float* b, int64_t n) {
  float s = 0.f;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

inline void axpy(float* y, float a, const float* x, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

}  // namespace

const char* simd_level() {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return "avx512f";
  if (__builtin_cpu_supports("avx2")) return "avx2";
#endif
  return "default";
}

// ***** elementwise *****

HOT void to_bf16(uint16_t* out, const float* src, int64_t n) {
#pragma omp parallel for simd if (parallel : n > 4 * PAR_MIN) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    uint32_t u = f32_to_bits(src[i]);
    uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    uint32_t nan = ((u >> 16) | 0x40u);
    out[i] = static_cast<uint16_t>((u & 0x7fffffffu) > 0x7f800000u ? nan : rounded);
  }
}

HOT void round_bf16(float* out, const float* src, int64_t n) {
#pragma omp parallel for simd if (parallel : n > 4 * PAR_MIN) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    uint32_t u = f32_to_bits(src[i]);
    uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    uint32_t nan = (u | 0x00400000u) & 0xffff0000u;
    out[i] = bits_to_f32((u & 0x7fffffffu) > 0x7f800000u ? nan : rounded);
  }
}

HOT void bf16_to_f32(float* out, const uint16_t* src, int64_t n) {
#pragma omp parallel for simd if (parallel : n > 4 * PAR_MIN) schedule(static)
  for (int64_t i = 0; i < n; i++) out[i] = bits_to_f32(static_cast<uint32_t>(src[i]) << 16);
}

HOT void add(float* out, const float* a, const float* b, int64_t n) {
#pragma omp parallel for simd if (parallel : n > 4 * PAR_MIN) schedule(static)
  for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

HOT void add_bias(float* x, const float* bias, int64_t rows, int64_t n) {
#pragma omp parallel for if (rows * n > PAR_MIN) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    float* xr = x + r * n;
#pragma omp simd
    for (int64_t j = 0; j < n; j++) xr[j] += bias[j];
  }
}

HOT void add_bias_backward(float* dbias, const float* dout, int64_t rows, int64_t n) {
  // Each thread owns a block of columns (deterministic); rows are summed in order, in fp32 per
  // 64-column block with an fp64 total per block of 256 rows to bound the error on long batches.
  const int64_t CB = 64;
  const int64_t nb = (n + CB - 1) / CB;
#pragma omp parallel for if (rows * n > PAR_MIN) schedule(static)
  for (int64_t b = 0; b < nb; b++) {
    const int64_t c0 = b * CB, c1 = std::min(n, c0 + CB);
    double tot[CB] = {0};
    float acc[CB];
    for (int64_t r0 = 0; r0 < rows; r0 += 256) {
      const int64_t r1 = std::min(rows, r0 + 256);
      for (int64_t c = 0; c < CB; c++) acc[c] = 0.f;
      for (int64_t r = r0; r < r1; r++) {
        const float* dr = dout + r * n + c0;
#pragma omp simd
        for (int64_t c = 0; c < c1 - c0; c++) acc[c] += dr[c];
      }
      for (int64_t c = 0; c < c1 - c0; c++) tot[c] += acc[c];
    }
    for (int64_t c = c0; c < c1; c++) dbias[c] += static_cast<float>(tot[c - c0]);
  }
}

HOT void scale(float* x, float s, int64_t n) {
#pragma omp parallel for simd if (parallel : n > 4 * PAR_MIN) schedule(static)
  for (int64_t i = 0; i < n; i++) x[i] *= s;
}

HOT double sum_squares(const float* x, int64_t n) {
  // fixed chunks of 4096 summed in fp32 (vectorized), chunk sums in fp64 in order: deterministic.
  const int64_t CH = 4096;
  const int64_t nc = (n + CH - 1) / CH;
  std::vector<double> part(static_cast<size_t>(nc));
#pragma omp parallel for if (n > 4 * PAR_MIN) schedule(static)
  for (int64_t c = 0; c < nc; c++) {
    const int64_t i0 = c * CH, i1 = std::min(n, i0 + CH);
    float s = 0.f;
#pragma omp simd reduction(+ : s)
    for (int64_t i = i0; i < i1; i++) s += x[i] * x[i];
    part[static_cast<size_t>(c)] = s;
  }
  double tot = 0;
  for (double p : part) tot += p;
  return tot;
}

// ***** embedding *****

void embedding_forward(float* out, const int32_t* ids, const float* wte, int64_t T, int64_t C) {
#pragma omp parallel for if (T * C > PAR_MIN) schedule(static)
  for (int64_t t = 0; t < T; t++) std::memcpy(out + t * C, wte + static_cast<int64_t>(ids[t]) * C, sizeof(float) * C);
}

HOT void embedding_backward(float* dwte, const float* dout, const int32_t* ids, int64_t T, int64_t C) {
  // threads own column blocks, tokens are added in order: deterministic, no races on repeated ids
  const int64_t CB = 64;
  const int64_t nb = (C + CB - 1) / CB;
#pragma omp parallel for if (T * C > PAR_MIN) schedule(static)
  for (int64_t b = 0; b < nb; b++) {
    const int64_t c0 = b * CB, len = std::min(C, c0 + CB) - c0;
    for (int64_t t = 0; t < T; t++) {
      float* dst = dwte + static_cast<int64_t>(ids[t]) * C + c0;
      const float* src = dout + t * C + c0;
#pragma omp simd
      for (int64_t c = 0; c < len; c++) dst[c] += src[c];
    }
  }
}

// ***** RMSNorm *****

HOT void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* w, int64_t rows, int64_t C,
                         float eps) {
#pragma omp parallel for if (rows * C > PAR_MIN) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float* x = inp + r * C;
    float* y = out + r * C;
    const float ss = dot(x, x, C);
    const float rs = static_cast<float>(1.0 / std::sqrt(static_cast<double>(ss) / C + eps));
    rstd[r] = rs;
#pragma omp simd
    for (int64_t c = 0; c < C; c++) y[c] = x[c] * rs * w[c];
  }
}

HOT void rmsnorm_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w,
                          const float* rstd, int64_t rows, int64_t C) {
  // pass 1: dinp, rows in parallel
#pragma omp parallel for if (rows * C > PAR_MIN) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float* x = inp + r * C;
    const float* dy = dout + r * C;
    float* dx = dinp + r * C;
    const float rs = rstd[r];
    float d = 0.f;
#pragma omp simd reduction(+ : d)
    for (int64_t c = 0; c < C; c++) d += dy[c] * w[c] * x[c];
    const float kk = d * rs * rs * rs / static_cast<float>(C);
#pragma omp simd
    for (int64_t c = 0; c < C; c++) dx[c] += rs * w[c] * dy[c] - x[c] * kk;
  }
  // pass 2: dw, column blocks in parallel (deterministic)
  const int64_t CB = 64;
  const int64_t nb = (C + CB - 1) / CB;
#pragma omp parallel for if (rows * C > PAR_MIN) schedule(static)
  for (int64_t b = 0; b < nb; b++) {
    const int64_t c0 = b * CB, len = std::min(C, c0 + CB) - c0;
    double tot[CB] = {0};
    float acc[CB];
    for (int64_t r0 = 0; r0 < rows; r0 += 256) {
      const int64_t r1 = std::min(rows, r0 + 256);
      for (int64_t c = 0; c < CB; c++) acc[c] = 0.f;
      for (int64_t r = r0; r < r1; r++) {
        const float* x = inp + r * C + c0;
        const float* dy = dout + r * C + c0;
        const float rs = rstd[r];
#pragma omp simd
        for (int64_t c = 0; c < len; c++) acc[c] += dy[c] * x[c] * rs;
      }
      for (int64_t c = 0; c < len; c++) tot[c] += acc[c];
    }
    for (int64_t c = 0; c < len; c++) dw[c0 + c] += static_cast<float>(tot[c]);
  }
}

// ***** RoPE *****

HOT void rope(float* x, const float* cos, const float* sin, int64_t T, int64_t H, int64_t D, bool inverse) {
  const int64_t half = D / 2;
  const float sg = inverse ? -1.f : 1.f;
#pragma omp parallel for if (T * H * D > PAR_MIN) schedule(static)
  for (int64_t t = 0; t < T; t++) {
    const float* c = cos + t * half;
    const float* s = sin + t * half;
    for (int64_t h = 0; h < H; h++) {
      float* x1 = x + (t * H + h) * D;
      float* x2 = x1 + half;
#pragma omp simd
      for (int64_t i = 0; i < half; i++) {
        const float a = x1[i], b = x2[i], si = sg * s[i];
        x1[i] = a * c[i] - b * si;
        x2[i] = b * c[i] + a * si;
      }
    }
  }
}

// ***** SwiGLU *****

HOT void swiglu_forward(float* out, const float* gate, const float* up, int64_t n) {
#pragma omp parallel for simd if (parallel : n > PAR_MIN) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    const float g = gate[i];
    out[i] = g / (1.f + exp_f(-g)) * up[i];
  }
}

HOT void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up, int64_t n) {
#pragma omp parallel for simd if (parallel : n > PAR_MIN) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    const float g = gate[i];
    const float sig = 1.f / (1.f + exp_f(-g));
    const float d = dout[i];
    dup[i] = d * g * sig;
    dgate[i] = d * up[i] * sig * (1.f + g * (1.f - sig));
  }
}

// ***** attention *****
// Training attention works on tiles: for each (sequence, head, block of QB query rows) the scores of
// the block against the causal key prefix of its sequence, (QB × prefix), live in a thread-local
// buffer — O(QB·T) memory per thread, never T×T — and the four products per tile go through oneDNN's
// sgemm (single-threaded inside our OpenMP loop; strided operands, no copies). The softmax and the
// masking of the diagonal tile are ours. Decoding (one query per sequence) uses the per-row kernel.

namespace {

constexpr int64_t QB = 64;  // query rows per tile

// row-major C (m, n) = alpha · op(A) · op(B) + beta · C
inline void sgemm(char ta, char tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
                  const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  dnnl_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

HOT void attn_row(float* o, float* lse_out, const float* qi, const float* k, const float* v, int64_t j0, int64_t j1,
                  int64_t kvStride, float scale, int64_t D, float* sc) {
  float mx = -INFINITY;
  for (int64_t j = j0; j < j1; j++) {
    const float s = dot(qi, k + j * kvStride, D) * scale;
    sc[j - j0] = s;
    mx = std::max(mx, s);
  }
  const int64_t L = j1 - j0;
  const float sum = exp_shift_sum(sc, L, mx);
  for (int64_t d = 0; d < D; d++) o[d] = 0.f;
  const float inv = 1.f / sum;
  for (int64_t j = j0; j < j1; j++) axpy(o, sc[j - j0] * inv, v + j * kvStride, D);
  if (lse_out) *lse_out = mx + std::log(sum);
}

}  // namespace

// Row r of a tile: scores sc[0, n) (already scaled) → probabilities, columns [valid, n) zeroed. Returns lse.
HOT float softmax_row(float* sc, int64_t valid, int64_t n) {
  const float mx = max_f(sc, valid);  // vectorized (an omp simd max reduction compiled to scalar maxss)
  const float sum = exp_shift_sum(sc, valid, mx);
  const float inv = 1.f / sum;
#pragma omp simd
  for (int64_t j = 0; j < valid; j++) sc[j] *= inv;
  for (int64_t j = valid; j < n; j++) sc[j] = 0.f;
  return mx + std::log(sum);
}

namespace {


// Backward of one tile row: p = exp(sc − lse) on [0, valid), 0 after; ds = p·(dp − delta)·scale into dp.
HOT void softmax_back_row(float* sc, float* dp, float lse, float delta, float scale, int64_t valid, int64_t n) {
#pragma omp simd
  for (int64_t j = 0; j < valid; j++) {
    const float p = exp_f(sc[j] - lse);
    sc[j] = p;
    dp[j] = p * (dp[j] - delta) * scale;
  }
  for (int64_t j = valid; j < n; j++) {
    sc[j] = 0.f;
    dp[j] = 0.f;
  }
}

struct Tiles {
  std::vector<int64_t> seq, q0;  // per tile: sequence index, first query row
};

Tiles make_tiles(const int32_t* cu, int64_t S) {
  Tiles t;
  for (int64_t s = 0; s < S; s++)
    for (int64_t i0 = cu[s]; i0 < cu[s + 1]; i0 += QB) {
      t.seq.push_back(s);
      t.q0.push_back(i0);
    }
  return t;
}

}  // namespace

void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v, const int32_t* cu,
                       int64_t S, int64_t T, int64_t Hq, int64_t Hkv, int64_t D, float scale) {
  const int64_t group = Hq / Hkv;
  int64_t maxL = 0;
  for (int64_t s = 0; s < S; s++) maxL = std::max<int64_t>(maxL, cu[s + 1] - cu[s]);
  const Tiles tiles = make_tiles(cu, S);
  const int64_t nt = static_cast<int64_t>(tiles.seq.size());
  const int64_t work = nt * Hq;
  const bool par = work > 1 && maxL * T * Hq * D > PAR_MIN;
  const int64_t qs = Hq * D, ks = Hkv * D;
#pragma omp parallel if (par)
  {
    std::vector<float> sc(static_cast<size_t>(QB * std::max<int64_t>(maxL, 1)));
#pragma omp for schedule(dynamic, 1)
    for (int64_t w = 0; w < work; w++) {
      // longest tiles (last in their sequence) first balances better: walk tiles backwards
      const int64_t ti = nt - 1 - w / Hq, h = w % Hq, kh = h / group;
      const int64_t s = tiles.seq[static_cast<size_t>(ti)], i0 = tiles.q0[static_cast<size_t>(ti)];
      const int64_t start = cu[s], i1 = std::min<int64_t>(cu[s + 1], i0 + QB);
      const int64_t rows = i1 - i0, Lp = i1 - start;
      sgemm('N', 'T', rows, Lp, D, scale, q + i0 * qs + h * D, qs, k + start * ks + kh * D, ks, 0.f, sc.data(), Lp);
      for (int64_t r = 0; r < rows; r++)
        lse[h * T + i0 + r] = softmax_row(sc.data() + r * Lp, i0 + r - start + 1, Lp);
      sgemm('N', 'N', rows, D, Lp, 1.f, sc.data(), Lp, v + start * ks + kh * D, ks, 0.f, out + i0 * qs + h * D, qs);
    }
  }
}

void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* out, const float* lse,
                        const float* q, const float* k, const float* v, const int32_t* cu, int64_t S, int64_t T,
                        int64_t Hq, int64_t Hkv, int64_t D, float scale) {
  // Work item = (sequence, kv head): it alone writes dk/dv of that head in that sequence and dq of the
  // query heads of its group, so there are no races and the summation order is fixed.
  const int64_t group = Hq / Hkv;
  const int64_t qs = Hq * D, ks = Hkv * D;
  const int64_t items = S * Hkv;
  int64_t maxL = 0;
  for (int64_t s = 0; s < S; s++) maxL = std::max<int64_t>(maxL, cu[s + 1] - cu[s]);
  const bool par = items > 1 && maxL * T * Hq * D > PAR_MIN;
#pragma omp parallel if (par)
  {
    std::vector<float> sc(static_cast<size_t>(QB * std::max<int64_t>(maxL, 1)));
    std::vector<float> dp(sc.size());
#pragma omp for schedule(dynamic, 1)
    for (int64_t it = 0; it < items; it++) {
      const int64_t s = it / Hkv, kh = it % Hkv;
      const int64_t start = cu[s], end = cu[s + 1];
      const float* kp = k + start * ks + kh * D;
      const float* vp = v + start * ks + kh * D;
      float* dkp = dk + start * ks + kh * D;
      float* dvp = dv + start * ks + kh * D;
      for (int64_t h = kh * group; h < (kh + 1) * group; h++) {
        for (int64_t i0 = start; i0 < end; i0 += QB) {
          const int64_t i1 = std::min(end, i0 + QB);
          const int64_t rows = i1 - i0, Lp = i1 - start;
          const float* qb = q + i0 * qs + h * D;
          const float* dob = dout + i0 * qs + h * D;
          sgemm('N', 'T', rows, Lp, D, scale, qb, qs, kp, ks, 0.f, sc.data(), Lp);
          sgemm('N', 'T', rows, Lp, D, 1.f, dob, qs, vp, ks, 0.f, dp.data(), Lp);
          for (int64_t r = 0; r < rows; r++) {
            const int64_t i = i0 + r;
            const float delta = dot(dout + i * qs + h * D, out + i * qs + h * D, D);
            softmax_back_row(sc.data() + r * Lp, dp.data() + r * Lp, lse[h * T + i], delta, scale, i - start + 1, Lp);
          }
          sgemm('T', 'N', Lp, D, rows, 1.f, sc.data(), Lp, dob, qs, 1.f, dvp, ks);              // dV += Pᵀ dO
          sgemm('T', 'N', Lp, D, rows, 1.f, dp.data(), Lp, qb, qs, 1.f, dkp, ks);               // dK += dSᵀ Q
          sgemm('N', 'N', rows, D, Lp, 1.f, dp.data(), Lp, kp, ks, 1.f, dq + i0 * qs + h * D, qs);  // dQ += dS K
        }
      }
    }
  }
}

// ***** log-softmax / entropy over the vocabulary *****

namespace {

HOT void logprobs_row(float* logp, float* entropy, float* lse, const float* z, int32_t target, int64_t V) {
  float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
  for (int64_t v = 0; v < V; v++) mx = std::max(mx, z[v]);
  float sum = 0.f, sumz = 0.f;
#pragma omp simd reduction(+ : sum, sumz)
  for (int64_t v = 0; v < V; v++) {
    const float zz = z[v] - mx;
    const float e = exp_f(zz);
    sum += e;
    sumz += e * zz;
  }
  const float logZ = std::log(sum);
  *lse = mx + logZ;
  *entropy = logZ - sumz / sum;
  *logp = target < 0 ? 0.f : z[target] - *lse;
}

HOT void logprobs_back_row(float* dz, const float* z, float l, float H, float gl, float ge, int32_t target, int64_t V) {
  // dz may alias z: each element is read before it is written
#pragma omp simd
  for (int64_t v = 0; v < V; v++) {
    const float lp = z[v] - l;
    const float p = exp_f(lp);
    dz[v] = -gl * p - ge * p * (lp + H);
  }
  if (target >= 0) dz[target] += gl;
}

}  // namespace

void logprobs_forward(float* logp, float* entropy, float* lse, const float* logits, const int32_t* targets, int64_t T,
                      int64_t V) {
#pragma omp parallel for if (T > 1 && T * V > PAR_MIN) schedule(static)
  for (int64_t t = 0; t < T; t++) logprobs_row(logp + t, entropy + t, lse + t, logits + t * V, targets[t], V);
}

void logprobs_backward(float* dlogits, const float* logits, const float* lse, const float* entropy, const float* dlogp,
                       const float* dentropy, const int32_t* targets, int64_t T, int64_t V) {
#pragma omp parallel for if (T > 1 && T * V > PAR_MIN) schedule(static)
  for (int64_t t = 0; t < T; t++) {
    const int32_t tg = targets[t];
    const float gl = (dlogp && tg >= 0) ? dlogp[t] : 0.f;
    const float ge = dentropy ? dentropy[t] : 0.f;
    logprobs_back_row(dlogits + t * V, logits + t * V, lse[t], entropy[t], gl, ge, tg, V);
  }
}

// ***** AdamW (torch.optim.AdamW, decoupled decay) *****

HOT void adamw(float* p, const float* g, float* m, float* v, float lr, float beta1, float beta2, float eps, float wd,
               double step, int64_t n) {
  const float bc1 = static_cast<float>(1.0 - std::pow(static_cast<double>(beta1), step));
  const float bc2sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(static_cast<double>(beta2), step)));
  const float decay = 1.f - lr * wd;
  const float stepSize = lr / bc1;
#pragma omp parallel for simd if (parallel : n > PAR_MIN) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    const float gi = g[i];
    const float mi = beta1 * m[i] + (1.f - beta1) * gi;
    const float vi = beta2 * v[i] + (1.f - beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - stepSize * mi / (std::sqrt(vi) / bc2sqrt + eps);
  }
}

}  // namespace aha
