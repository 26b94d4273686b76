// Matrix products through oneDNN (see gemm.cc).
#pragma once
#include <cstdint>
#include <string>

namespace aha {

/**
 * c (m, n) = op(a) · op(b) [+ c]. a: (m, k) or stored (k, m) if transA; b: (k, n) or stored (n, k) if transB.
 * bf16: a and b point to bf16 (uint16) data, otherwise fp32. c is always fp32.
 */
void matmul(float* c, const void* a, const void* b, int64_t m, int64_t n, int64_t k, bool transA, bool transB,
            bool accumulate, bool bf16);

/** oneDNN's implementation name for this product (e.g. "brg:avx512_core_amx_bf16"). */
std::string matmul_impl(int64_t m, int64_t n, int64_t k, bool transA, bool transB, bool accumulate, bool bf16);

/** oneDNN's version, "major.minor.patch+hash". */
std::string onednn_version();

/** The instruction set oneDNN dispatches to on this CPU (its cpu_isa enum as a number string). */
std::string onednn_isa();

}  // namespace aha
