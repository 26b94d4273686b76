// Matrix products through oneDNN (Debian libdnnl 2.6, OpenMP runtime — the same libgomp threads as
// our kernels). One oneDNN matmul primitive per (M, N, K, transA, transB, accumulate, dtype), created
// on first use and cached (per thread): creating a primitive costs far more than running a small one. Per call only
// the data handles of three cached memory objects change. bf16 runs on real bf16 buffers (that is what
// makes oneDNN pick its AMX / avx512_bf16 kernels) with fp32 accumulation and fp32 output.
#include "gemm.h"

#include <dnnl.hpp>

#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <tuple>

namespace aha {

namespace {

using dnnl::memory;
using tag = memory::format_tag;

struct Ctx {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
};

// Per thread (the addon may be loaded in several worker threads): engine, stream and primitive cache.
Ctx& ctx() {
  thread_local Ctx c;
  return c;
}

struct Prim {
  dnnl::matmul mm;
  memory a, b, c;
  std::string impl;
};

using Key = std::tuple<int64_t, int64_t, int64_t, bool, bool, bool, bool>;
thread_local std::map<Key, std::unique_ptr<Prim>> cache;

Prim& get(int64_t m, int64_t n, int64_t k, bool transA, bool transB, bool acc, bool bf16) {
  Key key{m, n, k, transA, transB, acc, bf16};
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;
  const auto dt = bf16 ? memory::data_type::bf16 : memory::data_type::f32;
  // logical a (M, K): stored (M, K) → strides {K, 1}; stored (K, M) → strides {1, M}
  memory::desc aMd({m, k}, dt, transA ? memory::dims{1, m} : memory::dims{k, 1});
  // logical b (K, N): stored (K, N) → {N, 1}; stored (N, K) → {1, K}
  memory::desc bMd({k, n}, dt, transB ? memory::dims{1, k} : memory::dims{n, 1});
  memory::desc cMd({m, n}, memory::data_type::f32, memory::dims{n, 1});
  dnnl::primitive_attr attr;
  if (acc) {
    dnnl::post_ops po;
    po.append_sum(1.0f);
    attr.set_post_ops(po);
  }
  auto& cx = ctx();
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(aMd, bMd, cMd), attr, cx.eng);
  auto p = std::make_unique<Prim>();
  p->mm = dnnl::matmul(pd);
  p->a = memory(aMd, cx.eng, DNNL_MEMORY_NONE);
  p->b = memory(bMd, cx.eng, DNNL_MEMORY_NONE);
  p->c = memory(cMd, cx.eng, DNNL_MEMORY_NONE);
  const char* impl = pd.impl_info_str();
  p->impl = impl ? impl : "?";
  auto& ref = *p;
  cache.emplace(key, std::move(p));
  return ref;
}

}  // namespace

void matmul(float* c, const void* a, const void* b, int64_t m, int64_t n, int64_t k, bool transA, bool transB,
            bool accumulate, bool bf16) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    if (!accumulate) std::memset(c, 0, sizeof(float) * static_cast<size_t>(m * n));
    return;
  }
  Prim& p = get(m, n, k, transA, transB, accumulate, bf16);
  p.a.set_data_handle(const_cast<void*>(a));
  p.b.set_data_handle(const_cast<void*>(b));
  p.c.set_data_handle(c);
  auto& cx = ctx();
  p.mm.execute(cx.strm, {{DNNL_ARG_SRC, p.a}, {DNNL_ARG_WEIGHTS, p.b}, {DNNL_ARG_DST, p.c}});
  cx.strm.wait();
}

std::string matmul_impl(int64_t m, int64_t n, int64_t k, bool transA, bool transB, bool accumulate, bool bf16) {
  return get(m, n, k, transA, transB, accumulate, bf16).impl;
}

std::string onednn_version() {
  const dnnl_version_t* v = dnnl_version();
  return std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch) + "+" +
         (v->hash ? v->hash : "");
}

std::string onednn_isa() { return std::to_string(static_cast<int>(dnnl::get_effective_cpu_isa())); }

}  // namespace aha
