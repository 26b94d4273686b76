// Kernels for decoding (see decode.cc). Semantics as in src/kernels/backend.ts.
#pragma once
#include <cstdint>

namespace aha {

/** Elements (uint16) of W (n, k) packed by pack_bf16: n rounded up to 16, k to 2. */
int64_t packed_bf16_size(int64_t n, int64_t k);
/** out = W (n, k) fp32 rounded to bf16 and packed into 16-column panels of k/2 pairs (decode.cc). */
void pack_bf16(uint16_t* out, const float* w, int64_t n, int64_t k);
/** True when the CPU has avx512_bf16 (the packed product then runs on vdpbf16ps). */
bool packed_bf16_native();
/** c (m, n) = bf16(x (m, k)) · Wᵀ with W packed by pack_bf16; fp32 accumulation. Overwrites c. */
void matmul_packed_bf16(float* c, const float* x, const uint16_t* wp, int64_t m, int64_t n, int64_t k);
/** One output of matmul_packed_bf16_many: c (m, n) = bf16(x) · W_iᵀ + bias (n; nullptr: none). */
struct PackedOut {
  float* c;
  int64_t n;
  const float* bias;
};
/**
 * Several linears that read the same x, each packed by pack_bf16 and stored one after another in wp
 * (q, k, v; gate, up): one call, one pass over x's conversion, the threads sharing all their columns.
 */
void matmul_packed_bf16_many(const PackedOut* outs, int64_t nOuts, const float* x, const uint16_t* wp, int64_t m,
                             int64_t k);

void attention_decode(float* out, const float* q, const float* kc, const float* vc, const int32_t* slots,
                      const int32_t* lens, int64_t B, int64_t maxLen, int64_t Hq, int64_t Hkv, int64_t D, float scale);
void attention_decode_bf16(float* out, const float* q, const uint16_t* kc, const uint16_t* vc, const int32_t* slots,
                           const int32_t* lens, int64_t B, int64_t maxLen, int64_t Hq, int64_t Hkv, int64_t D,
                           float scale);

/** Tokens per chunk sum of sample_prep (SAMPLE_CHUNK in src/kernels/backend.ts). */
constexpr int64_t SAMPLE_CHUNK = 1024;
/**
 * One logits row z (V): stats (4 + ⌈V / SAMPLE_CHUNK⌉) = [max, argmax (first), Σ exp(z − max), Σ e,
 * Σ e per chunk…], e (V) = exp((z − max)·invT) when invT > 0 (invT = 0: greedy, e untouched, sums of e 0).
 * e = nullptr: the stats only (one pass over z; the sums round a little differently).
 */
void sample_prep(float* e, double* stats, const float* z, int64_t V, float invT);
/** R rows at once (rows over the OpenMP threads): row r of e, stats, z as sample_prep's, at invT[r]. */
void sample_prep_rows(float* e, double* stats, const float* z, int64_t R, int64_t V, const float* invT);

/** bf16 dot-product peak (vdpbf16ps) in GFLOP/s on all OpenMP threads; 0 without avx512_bf16. */
double bf16_peak(int64_t iters);
/** Best read bandwidth in GB/s over `rounds` passes over a buffer of `bytes`, all OpenMP threads. */
double read_bandwidth(int64_t bytes, int64_t rounds);

}  // namespace aha
