// Fused CPU kernels of the native backend (everything except the matrix products, see gemm.cc).
// Semantics are those of src/kernels/backend.ts; shapes and argument order follow it exactly.
#pragma once
#include <cstdint>

namespace aha {

void to_bf16(uint16_t* out, const float* src, int64_t n);
/** out (n) = src rounded to bf16 (round-to-nearest-even), kept as fp32 values. out may alias src. */
void round_bf16(float* out, const float* src, int64_t n);
/** out (n) = fp32 values of bf16 src. */
void bf16_to_f32(float* out, const uint16_t* src, int64_t n);
void add(float* out, const float* a, const float* b, int64_t n);
void add_bias(float* x, const float* bias, int64_t rows, int64_t n);
void add_bias_backward(float* dbias, const float* dout, int64_t rows, int64_t n);
void scale(float* x, float s, int64_t n);
double sum_squares(const float* x, int64_t n);

void embedding_forward(float* out, const int32_t* ids, const float* wte, int64_t T, int64_t C);
void embedding_backward(float* dwte, const float* dout, const int32_t* ids, int64_t T, int64_t C);

void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* w, int64_t rows, int64_t C, float eps);
void rmsnorm_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w, const float* rstd,
                      int64_t rows, int64_t C);

void rope(float* x, const float* cos, const float* sin, int64_t T, int64_t H, int64_t D, bool inverse);

void swiglu_forward(float* out, const float* gate, const float* up, int64_t n);
void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up, int64_t n);

void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v, const int32_t* cu,
                       int64_t S, int64_t T, int64_t Hq, int64_t Hkv, int64_t D, float scale);
void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* out, const float* lse,
                        const float* q, const float* k, const float* v, const int32_t* cu, int64_t S, int64_t T,
                        int64_t Hq, int64_t Hkv, int64_t D, float scale);
/** One attention row: scores sc[0, n) (scaled) → probabilities over [0, valid), [valid, n) zeroed. Returns lse. */
float softmax_row(float* sc, int64_t valid, int64_t n);

void logprobs_forward(float* logp, float* entropy, float* lse, const float* logits, const int32_t* targets, int64_t T,
                      int64_t V);
void logprobs_backward(float* dlogits, const float* logits, const float* lse, const float* entropy, const float* dlogp,
                       const float* dentropy, const int32_t* targets, int64_t T, int64_t V);

void adamw(float* p, const float* g, float* m, float* v, float lr, float beta1, float beta2, float eps, float wd,
           double step, int64_t n);

/** Which SIMD clone the loader picked for the hot loops ("avx512f", "avx2" or "default"). */
const char* simd_level();

}  // namespace aha
