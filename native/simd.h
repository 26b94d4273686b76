// Small inline helpers shared by the kernel files (kernels.cc, decode.cc): float bit casts and a
// vectorizable exp. Header-only so that each caller's target_clones versions inline them.
#pragma once
#include <algorithm>
#include <cstdint>

namespace aha {

inline float bits_to_f32(uint32_t u) { return __builtin_bit_cast(float, u); }
inline uint32_t f32_to_bits(float f) { return __builtin_bit_cast(uint32_t, f); }

// exp(x) for float, vectorizable (Cephes expf: range reduction by ln2, degree-6 polynomial).
// Relative error ~2e-7 on [-87, 88]; inputs below -87 give exp(-87) ≈ 1.6e-38 (never 0, never NaN
// from -inf), which is what softmax-style callers want.
inline float exp_f(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  // round to nearest by the 1.5·2^23 trick (vectorizes; floorf would not without -fno-trapping-math)
  float n = (x * 1.44269504088896341f + 12582912.f) - 12582912.f;
  float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t e = static_cast<int32_t>(n) + 127;
  return p * bits_to_f32(static_cast<uint32_t>(e) << 23);
}

// s[j] = exp(s[j] − mx) for j in [0, n); returns their sum (softmax numerators: the attention kernels)
inline float exp_shift_sum(float* s, int64_t n, float mx) {
  float sum = 0.f;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < n; j++) {
    const float e = exp_f(s[j] - mx);
    s[j] = e;
    sum += e;
  }
  return sum;
}

// max of z[0, n) ignoring NaN (−∞ for none), 16 lanes at a time in a GCC vector (one zmm in the
// AVX-512 clones): a loop-carried max is not vectorized by GCC without -ffast-math, and as scalar code
// (maxss latency, 3 cycles per element) it was most of the sampler's pass over a 151,936-token row.
inline float max_f(const float* z, int64_t n) {
  typedef float v16f __attribute__((vector_size(64)));
  v16f acc;
  for (int l = 0; l < 16; l++) acc[l] = -__builtin_inff();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    v16f v;
    __builtin_memcpy(&v, z + i, sizeof v);
    acc = v > acc ? v : acc;  // NaN compares false: kept out, as std::max(acc, v) would
  }
  float m = -__builtin_inff();
  for (int l = 0; l < 16; l++) m = acc[l] > m ? acc[l] : m;
  for (; i < n; i++) m = z[i] > m ? z[i] : m;
  return m;
}

}  // namespace aha
