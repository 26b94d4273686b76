// N-API bindings of the native backend. Typed arrays are used in place (no copies); every length is
// checked against the dimensions before any kernel touches memory (a JS bug must not become a crash).
// The argument order is backend.ts's; src/kernels/native.ts is the thin TypeScript wrapper.
#include <napi.h>
#include <omp.h>
#include <sys/mman.h>

#include <string>
#include <vector>

#include "decode.h"
#include "gemm.h"
#include "kernels.h"

namespace {

struct Args {
  const Napi::CallbackInfo& info;
  const char* fn;

  [[noreturn]] void fail(const std::string& msg) const {
    throw Napi::RangeError::New(info.Env(), std::string(fn) + ": " + msg);
  }

  void* typed(size_t i, napi_typedarray_type want, int64_t need, const char* name, napi_typedarray_type* got = nullptr,
              bool allowNull = false) const {
    napi_value v = info[i];
    if (allowNull && (info[i].IsNull() || info[i].IsUndefined())) return nullptr;
    bool is = false;
    napi_is_typedarray(info.Env(), v, &is);
    if (!is) fail(std::string(name) + " must be a typed array");
    napi_typedarray_type type;
    size_t length;
    void* data;
    napi_value ab;
    size_t off;
    napi_get_typedarray_info(info.Env(), v, &type, &length, &data, &ab, &off);
    if (got) {
      *got = type;
    } else if (type != want) {
      fail(std::string(name) + " has the wrong element type");
    }
    if (static_cast<int64_t>(length) < need)
      fail(std::string(name) + ": length " + std::to_string(length) + " < required " + std::to_string(need));
    return data;
  }
  float* f32(size_t i, int64_t need, const char* name) const {
    return static_cast<float*>(typed(i, napi_float32_array, need, name));
  }
  float* f32OrNull(size_t i, int64_t need, const char* name) const {
    return static_cast<float*>(typed(i, napi_float32_array, need, name, nullptr, true));
  }
  int32_t* i32(size_t i, int64_t need, const char* name) const {
    return static_cast<int32_t*>(typed(i, napi_int32_array, need, name));
  }
  int64_t len(size_t i) const {
    napi_typedarray_type type;
    size_t length;
    void* data;
    napi_value ab;
    size_t off;
    if (napi_get_typedarray_info(info.Env(), info[i], &type, &length, &data, &ab, &off) != napi_ok)
      fail("argument " + std::to_string(i) + " must be a typed array");
    return static_cast<int64_t>(length);
  }
  int64_t dim(size_t i, const char* name) const {
    if (!info[i].IsNumber()) fail(std::string(name) + " must be a number");
    const double d = info[i].As<Napi::Number>().DoubleValue();
    if (!(d >= 0) || d != static_cast<double>(static_cast<int64_t>(d)))
      fail(std::string(name) + " must be a non-negative integer");
    return static_cast<int64_t>(d);
  }
  double num(size_t i, const char* name) const {
    if (!info[i].IsNumber()) fail(std::string(name) + " must be a number");
    return info[i].As<Napi::Number>().DoubleValue();
  }
};

#define ARGS(name) Args A{info, name}

thread_local std::vector<uint16_t> scratchA, scratchB;  // bf16 copies of fp32 operands
thread_local std::vector<float> scratchFA, scratchFB;    // bf16-rounded fp32 copies (emulated path)

const uint16_t* asBf16(void* data, napi_typedarray_type type, int64_t n, std::vector<uint16_t>& scratch) {
  if (type == napi_uint16_array) return static_cast<const uint16_t*>(data);
  if (static_cast<int64_t>(scratch.size()) < n) scratch.resize(static_cast<size_t>(n));
  aha::to_bf16(scratch.data(), static_cast<const float*>(data), n);
  return scratch.data();
}

const float* asRoundedF32(void* data, napi_typedarray_type type, int64_t n, std::vector<float>& scratch) {
  if (static_cast<int64_t>(scratch.size()) < n) scratch.resize(static_cast<size_t>(n));
  if (type == napi_uint16_array) aha::bf16_to_f32(scratch.data(), static_cast<const uint16_t*>(data), n);
  else aha::round_bf16(scratch.data(), static_cast<const float*>(data), n);
  return scratch.data();
}

// How bf16 products run — two paths, chosen per shape class by measurement (src/kernels/choice.ts
// measures once per CPU and caches; AHA_BF16_GEMM overrides), not by CPU flags:
// "onednn":  oneDNN's bf16 matmul on bf16 buffers (AMX or avx512_bf16 kernels where the CPU has them);
//            fp32 operands are converted to bf16 first.
// "emulate": operands rounded to bf16 but kept as fp32, then the fp32 matmul — the same products (a
//            product of two bf16 values is exact in fp32) with fp32 accumulation either way, so the two
//            paths differ only in accumulation order. Faster where the CPU's bf16 kernels are slow.
// The classes: "decode" (m or n < 32: memory-bound, weights dominate), and for larger products one
// per operand layout as the model uses them: "nt" (x · Wᵀ, forward), "nn" (dout · W, input gradient),
// "tn" (doutᵀ · x, weight gradient). Until told otherwise every class takes "onednn".
enum Bf16Class { kDecode = 0, kNT, kNN, kTN, kBf16Classes };
const char* const kBf16ClassNames[kBf16Classes] = {"decode", "nt", "nn", "tn"};
bool bf16Emulate[kBf16Classes] = {false, false, false, false};

int bf16Class(int64_t m, int64_t n, bool transA, bool transB) {
  if (m < 32 || n < 32) return kDecode;
  if (transA) return kTN;
  return transB ? kNT : kNN;
}

// matmul(c, a, b, m, n, k, flags): flags bit 0 transA, 1 transB, 2 accumulate, 3 bf16
Napi::Value Matmul(const Napi::CallbackInfo& info) {
  ARGS("matmul");
  const int64_t m = A.dim(3, "m"), n = A.dim(4, "n"), k = A.dim(5, "k");
  const int64_t flags = A.dim(6, "flags");
  float* c = A.f32(0, m * n, "c");
  napi_typedarray_type ta, tb;
  void* a = A.typed(1, napi_float32_array, m * k, "a", &ta);
  void* b = A.typed(2, napi_float32_array, k * n, "b", &tb);
  for (auto t : {ta, tb})
    if (t != napi_float32_array && t != napi_uint16_array) A.fail("a and b must be Float32Array or Uint16Array");
  const bool bf16 = (flags & 8) || ta == napi_uint16_array || tb == napi_uint16_array;
  const bool transA = flags & 1, transB = flags & 2, acc = flags & 4;
  if (bf16 && bf16Emulate[bf16Class(m, n, transA, transB)]) {
    const float* af = asRoundedF32(a, ta, m * k, scratchFA);
    const float* bf = asRoundedF32(b, tb, k * n, scratchFB);
    aha::matmul(c, af, bf, m, n, k, transA, transB, acc, false);
  } else if (bf16) {
    const uint16_t* ab = asBf16(a, ta, m * k, scratchA);
    const uint16_t* bb = asBf16(b, tb, k * n, scratchB);
    aha::matmul(c, ab, bb, m, n, k, transA, transB, acc, true);
  } else {
    aha::matmul(c, a, b, m, n, k, transA, transB, acc, false);
  }
  return info.Env().Undefined();
}

int classByName(const Args& A, size_t i) {
  if (!A.info[i].IsString()) A.fail("class must be a string");
  const std::string name = A.info[i].As<Napi::String>().Utf8Value();
  for (int c = 0; c < kBf16Classes; c++)
    if (name == kBf16ClassNames[c]) return c;
  A.fail("class must be decode, nt, nn or tn, got '" + name + "'");
}

// setBf16Path(class, "onednn" | "emulate")
Napi::Value SetBf16Path(const Napi::CallbackInfo& info) {
  ARGS("setBf16Path");
  const int c = classByName(A, 0);
  if (!info[1].IsString()) A.fail("path must be a string");
  const std::string path = info[1].As<Napi::String>().Utf8Value();
  if (path != "onednn" && path != "emulate") A.fail("path must be onednn or emulate, got '" + path + "'");
  bf16Emulate[c] = path == "emulate";
  return info.Env().Undefined();
}

// bf16Route(m, n, flags) → { class, path }: where a bf16 product with these dims and layout goes now
Napi::Value Bf16Route(const Napi::CallbackInfo& info) {
  ARGS("bf16Route");
  const int64_t m = A.dim(0, "m"), n = A.dim(1, "n"), flags = A.dim(2, "flags");
  const int c = bf16Class(m, n, flags & 1, flags & 2);
  auto o = Napi::Object::New(info.Env());
  o.Set("class", kBf16ClassNames[c]);
  o.Set("path", bf16Emulate[c] ? "emulate" : "onednn");
  return o;
}

Napi::Value MatmulImpl(const Napi::CallbackInfo& info) {
  ARGS("matmulImpl");
  const int64_t m = A.dim(0, "m"), n = A.dim(1, "n"), k = A.dim(2, "k"), flags = A.dim(3, "flags");
  return Napi::String::New(info.Env(), aha::matmul_impl(m, n, k, flags & 1, flags & 2, flags & 4, flags & 8));
}

// benchRaw(m, n, k, bf16, iters): seconds per product of oneDNN alone (no N-API crossing), on
// internally allocated operands — "raw oneDNN" next to our path in `aha bench`.
Napi::Value BenchRaw(const Napi::CallbackInfo& info) {
  ARGS("benchRaw");
  const int64_t m = A.dim(0, "m"), n = A.dim(1, "n"), k = A.dim(2, "k");
  const bool bf16 = A.num(3, "bf16") != 0;
  const int64_t iters = A.dim(4, "iters");
  std::vector<float> af(static_cast<size_t>(m * k), 0.5f), bfv(static_cast<size_t>(k * n), 0.25f),
      c(static_cast<size_t>(m * n));
  std::vector<uint16_t> ab(af.size()), bb(bfv.size());
  aha::to_bf16(ab.data(), af.data(), m * k);
  aha::to_bf16(bb.data(), bfv.data(), k * n);
  const void* pa = bf16 ? static_cast<const void*>(ab.data()) : af.data();
  const void* pb = bf16 ? static_cast<const void*>(bb.data()) : bfv.data();
  aha::matmul(c.data(), pa, pb, m, n, k, false, true, false, bf16);  // warm-up (primitive creation)
  double best = 1e30;
  for (int64_t r = 0; r < 3; r++) {
    const double t0 = omp_get_wtime();
    for (int64_t i = 0; i < iters; i++) aha::matmul(c.data(), pa, pb, m, n, k, false, true, false, bf16);
    best = std::min(best, (omp_get_wtime() - t0) / static_cast<double>(iters));
  }
  return Napi::Number::New(info.Env(), best);
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
// FMA peak: 12 independent chains of 16-wide fp32 FMAs per thread (enough to hide the FMA latency on
// two ports), on every OpenMP thread, for `iters` rounds. Returns flops/second.
__attribute__((target("avx512f"))) double fmaPeakAvx512(int64_t iters) {
  double t0 = omp_get_wtime();
  float sink = 0.f;
#pragma omp parallel reduction(+ : sink)
  {
    __m512 acc[12];
    for (int i = 0; i < 12; i++) acc[i] = _mm512_set1_ps(0.001f * static_cast<float>(i));
    const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
    for (int64_t it = 0; it < iters; it++)
      for (int i = 0; i < 12; i++) acc[i] = _mm512_fmadd_ps(acc[i], x, y);
    __m512 s = acc[0];
    for (int i = 1; i < 12; i++) s = _mm512_add_ps(s, acc[i]);
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, s);
    for (float l : lanes) sink += l;
  }
  const double dt = omp_get_wtime() - t0;
  volatile float keep = sink;
  (void)keep;
  return static_cast<double>(iters) * 12 * 16 * 2 * omp_get_max_threads() / dt;
}
#endif

// fmaPeak(iters): measured fp32 FMA peak in GFLOP/s on all OpenMP threads (null without AVX-512).
Napi::Value FmaPeak(const Napi::CallbackInfo& info) {
  ARGS("fmaPeak");
  const int64_t iters = A.dim(0, "iters");
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) {
    double best = 0;
    for (int r = 0; r < 3; r++) best = std::max(best, fmaPeakAvx512(iters));
    return Napi::Number::New(info.Env(), best / 1e9);
  }
#endif
  return info.Env().Null();
}

Napi::Value ToBf16(const Napi::CallbackInfo& info) {
  ARGS("toBf16");
  const int64_t n = A.len(1);
  float* src = A.f32(1, n, "src");
  auto* out = static_cast<uint16_t*>(A.typed(0, napi_uint16_array, n, "out"));
  aha::to_bf16(out, src, n);
  return info.Env().Undefined();
}

Napi::Value Add(const Napi::CallbackInfo& info) {
  ARGS("add");
  const int64_t n = A.len(0);
  aha::add(A.f32(0, n, "out"), A.f32(1, n, "a"), A.f32(2, n, "b"), n);
  return info.Env().Undefined();
}

Napi::Value AddBias(const Napi::CallbackInfo& info) {
  ARGS("addBias");
  const int64_t rows = A.dim(2, "rows"), n = A.dim(3, "n");
  aha::add_bias(A.f32(0, rows * n, "x"), A.f32(1, n, "bias"), rows, n);
  return info.Env().Undefined();
}

Napi::Value AddBiasBackward(const Napi::CallbackInfo& info) {
  ARGS("addBiasBackward");
  const int64_t rows = A.dim(2, "rows"), n = A.dim(3, "n");
  aha::add_bias_backward(A.f32(0, n, "dbias"), A.f32(1, rows * n, "dout"), rows, n);
  return info.Env().Undefined();
}

Napi::Value Scale(const Napi::CallbackInfo& info) {
  ARGS("scale");
  const int64_t n = A.len(0);
  aha::scale(A.f32(0, n, "x"), static_cast<float>(A.num(1, "s")), n);
  return info.Env().Undefined();
}

Napi::Value SumSquares(const Napi::CallbackInfo& info) {
  ARGS("sumSquares");
  const int64_t n = A.len(0);
  return Napi::Number::New(info.Env(), aha::sum_squares(A.f32(0, n, "x"), n));
}

Napi::Value EmbeddingForward(const Napi::CallbackInfo& info) {
  ARGS("embeddingForward");
  const int64_t T = A.dim(3, "T"), C = A.dim(4, "C");
  float* out = A.f32(0, T * C, "out");
  const int32_t* ids = A.i32(1, T, "ids");
  const int64_t V = C > 0 ? A.len(2) / C : 0;
  float* wte = A.f32(2, V * C, "wte");
  for (int64_t t = 0; t < T; t++)
    if (ids[t] < 0 || ids[t] >= V)
      A.fail("token id " + std::to_string(ids[t]) + " at " + std::to_string(t) + " outside [0, " + std::to_string(V) + ")");
  aha::embedding_forward(out, ids, wte, T, C);
  return info.Env().Undefined();
}

Napi::Value EmbeddingBackward(const Napi::CallbackInfo& info) {
  ARGS("embeddingBackward");
  const int64_t T = A.dim(3, "T"), C = A.dim(4, "C");
  const int64_t V = C > 0 ? A.len(0) / C : 0;
  float* dwte = A.f32(0, V * C, "dwte");
  const int32_t* ids = A.i32(2, T, "ids");
  for (int64_t t = 0; t < T; t++)
    if (ids[t] < 0 || ids[t] >= V)
      A.fail("token id " + std::to_string(ids[t]) + " at " + std::to_string(t) + " outside [0, " + std::to_string(V) + ")");
  aha::embedding_backward(dwte, A.f32(1, T * C, "dout"), ids, T, C);
  return info.Env().Undefined();
}

Napi::Value RmsnormForward(const Napi::CallbackInfo& info) {
  ARGS("rmsnormForward");
  const int64_t rows = A.dim(4, "rows"), C = A.dim(5, "C");
  aha::rmsnorm_forward(A.f32(0, rows * C, "out"), A.f32(1, rows, "rstd"), A.f32(2, rows * C, "inp"), A.f32(3, C, "w"),
                       rows, C, static_cast<float>(A.num(6, "eps")));
  return info.Env().Undefined();
}

Napi::Value RmsnormBackward(const Napi::CallbackInfo& info) {
  ARGS("rmsnormBackward");
  const int64_t rows = A.dim(6, "rows"), C = A.dim(7, "C");
  aha::rmsnorm_backward(A.f32(0, rows * C, "dinp"), A.f32(1, C, "dw"), A.f32(2, rows * C, "dout"),
                        A.f32(3, rows * C, "inp"), A.f32(4, C, "w"), A.f32(5, rows, "rstd"), rows, C);
  return info.Env().Undefined();
}

Napi::Value Rope(const Napi::CallbackInfo& info) {
  ARGS("rope");
  const int64_t T = A.dim(3, "T"), H = A.dim(4, "H"), D = A.dim(5, "D");
  if (D % 2 != 0) A.fail("D must be even");
  const bool inverse = info[6].ToBoolean().Value();
  aha::rope(A.f32(0, T * H * D, "x"), A.f32(1, T * D / 2, "cos"), A.f32(2, T * D / 2, "sin"), T, H, D, inverse);
  return info.Env().Undefined();
}

Napi::Value SwigluForward(const Napi::CallbackInfo& info) {
  ARGS("swigluForward");
  const int64_t n = A.len(0);
  aha::swiglu_forward(A.f32(0, n, "out"), A.f32(1, n, "gate"), A.f32(2, n, "up"), n);
  return info.Env().Undefined();
}

Napi::Value SwigluBackward(const Napi::CallbackInfo& info) {
  ARGS("swigluBackward");
  const int64_t n = A.len(2);
  aha::swiglu_backward(A.f32(0, n, "dgate"), A.f32(1, n, "dup"), A.f32(2, n, "dout"), A.f32(3, n, "gate"),
                       A.f32(4, n, "up"), n);
  return info.Env().Undefined();
}

void checkCu(const Args& A, const int32_t* cu, int64_t S, int64_t T) {
  if (cu[0] != 0 || cu[S] != T) A.fail("cuSeqlens must start at 0 and end at T");
  for (int64_t s = 0; s < S; s++)
    if (cu[s + 1] < cu[s]) A.fail("cuSeqlens must be non-decreasing");
}

void checkHeads(const Args& A, int64_t Hq, int64_t Hkv) {
  if (Hkv == 0 || Hq % Hkv != 0) A.fail("Hq must be a multiple of Hkv");
}

// attentionForward(out, lse, q, k, v, cuSeqlens, T, Hq, Hkv, D, scale)
Napi::Value AttentionForward(const Napi::CallbackInfo& info) {
  ARGS("attentionForward");
  const int64_t T = A.dim(6, "T"), Hq = A.dim(7, "Hq"), Hkv = A.dim(8, "Hkv"), D = A.dim(9, "D");
  checkHeads(A, Hq, Hkv);
  const int64_t S = A.len(5) - 1;
  if (S < 0) A.fail("cuSeqlens must have at least one entry");
  const int32_t* cu = A.i32(5, S + 1, "cuSeqlens");
  checkCu(A, cu, S, T);
  aha::attention_forward(A.f32(0, T * Hq * D, "out"), A.f32(1, Hq * T, "lse"), A.f32(2, T * Hq * D, "q"),
                         A.f32(3, T * Hkv * D, "k"), A.f32(4, T * Hkv * D, "v"), cu, S, T, Hq, Hkv, D,
                         static_cast<float>(A.num(10, "scale")));
  return info.Env().Undefined();
}

// attentionBackward(dq, dk, dv, dout, out, lse, q, k, v, cuSeqlens, T, Hq, Hkv, D, scale)
Napi::Value AttentionBackward(const Napi::CallbackInfo& info) {
  ARGS("attentionBackward");
  const int64_t T = A.dim(10, "T"), Hq = A.dim(11, "Hq"), Hkv = A.dim(12, "Hkv"), D = A.dim(13, "D");
  checkHeads(A, Hq, Hkv);
  const int64_t S = A.len(9) - 1;
  if (S < 0) A.fail("cuSeqlens must have at least one entry");
  const int32_t* cu = A.i32(9, S + 1, "cuSeqlens");
  checkCu(A, cu, S, T);
  const int64_t nq = T * Hq * D, nk = T * Hkv * D;
  aha::attention_backward(A.f32(0, nq, "dq"), A.f32(1, nk, "dk"), A.f32(2, nk, "dv"), A.f32(3, nq, "dout"),
                          A.f32(4, nq, "out"), A.f32(5, Hq * T, "lse"), A.f32(6, nq, "q"), A.f32(7, nk, "k"),
                          A.f32(8, nk, "v"), cu, S, T, Hq, Hkv, D, static_cast<float>(A.num(14, "scale")));
  return info.Env().Undefined();
}

// attentionDecode(out, q, kCache, vCache, slots, lens, B, maxLen, Hq, Hkv, D, scale); the caches are
// both Float32Array or both Uint16Array (bf16)
Napi::Value AttentionDecode(const Napi::CallbackInfo& info) {
  ARGS("attentionDecode");
  const int64_t B = A.dim(6, "B"), maxLen = A.dim(7, "maxLen"), Hq = A.dim(8, "Hq"), Hkv = A.dim(9, "Hkv"),
                D = A.dim(10, "D");
  checkHeads(A, Hq, Hkv);
  const int64_t slotSize = maxLen * Hkv * D;
  const int64_t nSlots = slotSize > 0 ? std::min(A.len(2), A.len(3)) / slotSize : 0;
  const int32_t* slots = A.i32(4, B, "slots");
  const int32_t* lens = A.i32(5, B, "lens");
  for (int64_t b = 0; b < B; b++) {
    if (slots[b] < 0 || slots[b] >= nSlots) A.fail("slots[" + std::to_string(b) + "] outside the cache");
    if (lens[b] < 1 || lens[b] > maxLen)
      A.fail("lens[" + std::to_string(b) + "] = " + std::to_string(lens[b]) + " outside [1, " + std::to_string(maxLen) + "]");
  }
  napi_typedarray_type tk, tv;
  void* kc = A.typed(2, napi_float32_array, nSlots * slotSize, "kCache", &tk);
  void* vc = A.typed(3, napi_float32_array, nSlots * slotSize, "vCache", &tv);
  if (tk != tv || (tk != napi_float32_array && tk != napi_uint16_array))
    A.fail("kCache and vCache must both be Float32Array or both Uint16Array (bf16)");
  float* out = A.f32(0, B * Hq * D, "out");
  const float* q = A.f32(1, B * Hq * D, "q");
  const float scale = static_cast<float>(A.num(11, "scale"));
  if (tk == napi_uint16_array)
    aha::attention_decode_bf16(out, q, static_cast<const uint16_t*>(kc), static_cast<const uint16_t*>(vc), slots, lens,
                               B, maxLen, Hq, Hkv, D, scale);
  else
    aha::attention_decode(out, q, static_cast<const float*>(kc), static_cast<const float*>(vc), slots, lens, B, maxLen,
                          Hq, Hkv, D, scale);
  return info.Env().Undefined();
}

// packBf16(out, w, n, k): out (Uint16Array, packedBf16Size(n, k)) = w (n, k) in the packed bf16 layout
Napi::Value PackBf16(const Napi::CallbackInfo& info) {
  ARGS("packBf16");
  const int64_t n = A.dim(2, "n"), k = A.dim(3, "k");
  auto* out = static_cast<uint16_t*>(A.typed(0, napi_uint16_array, aha::packed_bf16_size(n, k), "out"));
  aha::pack_bf16(out, A.f32(1, n * k, "w"), n, k);
  return info.Env().Undefined();
}

// matmulPacked(c, x, wPacked, m, n, k): c (m, n) = x (m, k) · Wᵀ, W packed by packBf16
Napi::Value MatmulPacked(const Napi::CallbackInfo& info) {
  ARGS("matmulPacked");
  const int64_t m = A.dim(3, "m"), n = A.dim(4, "n"), k = A.dim(5, "k");
  const auto* wp = static_cast<const uint16_t*>(A.typed(2, napi_uint16_array, aha::packed_bf16_size(n, k), "wPacked"));
  aha::matmul_packed_bf16(A.f32(0, m * n, "c"), A.f32(1, m * k, "x"), wp, m, n, k);
  return info.Env().Undefined();
}

// matmulPackedMany(outs, x, wPacked, m, ns, k, biases): outs[i] (m, ns[i]) = x (m, k) · W_iᵀ + biases[i], the
// W_i packed by packBf16 one after another in wPacked; biases an array of Float32Array or null, or undefined
Napi::Value MatmulPackedMany(const Napi::CallbackInfo& info) {
  ARGS("matmulPackedMany");
  const int64_t m = A.dim(3, "m"), k = A.dim(5, "k");
  if (!info[0].IsArray() || !info[4].IsArray()) A.fail("outs and ns must be arrays");
  const auto outs = info[0].As<Napi::Array>(), ns = info[4].As<Napi::Array>();
  const bool hasBias = !info[6].IsUndefined() && !info[6].IsNull();
  if (hasBias && !info[6].IsArray()) A.fail("biases must be an array");
  const uint32_t count = outs.Length();
  if (ns.Length() != count) A.fail("outs and ns differ in length");
  if (hasBias && info[6].As<Napi::Array>().Length() != count) A.fail("outs and biases differ in length");
  // each array element checked as a typed array of its own length requirement, as Args.typed does
  auto f32At = [&](Napi::Value v, int64_t need, const std::string& name, bool allowNull) -> float* {
    if (allowNull && (v.IsNull() || v.IsUndefined())) return nullptr;
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      A.fail(name + " must be a Float32Array");
    auto ta = v.As<Napi::Float32Array>();
    if (static_cast<int64_t>(ta.ElementLength()) < need)
      A.fail(name + ": length " + std::to_string(ta.ElementLength()) + " < required " + std::to_string(need));
    return ta.Data();
  };
  std::vector<aha::PackedOut> po(count);
  int64_t wTotal = 0;
  for (uint32_t i = 0; i < count; i++) {
    const Napi::Value nv = ns.Get(i);
    if (!nv.IsNumber()) A.fail("ns[" + std::to_string(i) + "] must be a number");
    const double nd = nv.As<Napi::Number>().DoubleValue();
    if (!(nd >= 0) || nd != static_cast<double>(static_cast<int64_t>(nd)))
      A.fail("ns[" + std::to_string(i) + "] must be a non-negative integer");
    const auto n = static_cast<int64_t>(nd);
    po[i].n = n;
    po[i].c = f32At(outs.Get(i), m * n, "outs[" + std::to_string(i) + "]", false);
    po[i].bias = hasBias ? f32At(info[6].As<Napi::Array>().Get(i), n, "biases[" + std::to_string(i) + "]", true) : nullptr;
    wTotal += aha::packed_bf16_size(n, k);
  }
  const auto* wp = static_cast<const uint16_t*>(A.typed(2, napi_uint16_array, wTotal, "wPacked"));
  aha::matmul_packed_bf16_many(po.data(), count, A.f32(1, m * k, "x"), wp, m, k);
  return info.Env().Undefined();
}

// samplePrep(e, stats, logits, invT): see decode.h; stats is a Float64Array(4 + ceil(V / SAMPLE_CHUNK)).
// invT a Float32Array of R values: R rows (logits (R·V), e (R·V), stats R × that), in one call.
Napi::Value SamplePrep(const Napi::CallbackInfo& info) {
  ARGS("samplePrep");
  if (info[3].IsNumber()) {
    const int64_t V = A.len(2);
    auto* stats = static_cast<double*>(
        A.typed(1, napi_float64_array, 4 + (V + aha::SAMPLE_CHUNK - 1) / aha::SAMPLE_CHUNK, "stats"));
    aha::sample_prep(A.len(0) == 0 ? nullptr : A.f32(0, V, "e"), stats, A.f32(2, V, "logits"), V, static_cast<float>(A.num(3, "invT")));
    return info.Env().Undefined();
  }
  const int64_t R = A.len(3), n = A.len(2);
  if (R < 1 || n % R != 0) A.fail("logits length " + std::to_string(n) + " is not a multiple of the rows in invT (" + std::to_string(R) + ")");
  const int64_t V = n / R;
  const float* invT = A.f32(3, R, "invT");
  auto* stats = static_cast<double*>(
      A.typed(1, napi_float64_array, R * (4 + (V + aha::SAMPLE_CHUNK - 1) / aha::SAMPLE_CHUNK), "stats"));
  aha::sample_prep_rows(A.len(0) == 0 ? nullptr : A.f32(0, R * V, "e"), stats, A.f32(2, R * V, "logits"), R, V, invT);
  return info.Env().Undefined();
}

// decodeLimits(bandwidthBytes, rounds, peakIters): {bf16PeakGflops, readGBs, packedNative}
Napi::Value DecodeLimits(const Napi::CallbackInfo& info) {
  ARGS("decodeLimits");
  auto o = Napi::Object::New(info.Env());
  o.Set("bf16PeakGflops", aha::bf16_peak(A.dim(2, "peakIters")));
  o.Set("readGBs", aha::read_bandwidth(A.dim(0, "bandwidthBytes"), A.dim(1, "rounds")));
  o.Set("packedNative", aha::packed_bf16_native());
  return o;
}

void checkTargets(const Args& A, const int32_t* tg, int64_t T, int64_t V) {
  for (int64_t t = 0; t < T; t++)
    if (tg[t] >= V) A.fail("target " + std::to_string(tg[t]) + " at " + std::to_string(t) + " >= V");
}

// logprobsForward(logp, entropy, lse, logits, targets, T, V)
Napi::Value LogprobsForward(const Napi::CallbackInfo& info) {
  ARGS("logprobsForward");
  const int64_t T = A.dim(5, "T"), V = A.dim(6, "V");
  const int32_t* tg = A.i32(4, T, "targets");
  checkTargets(A, tg, T, V);
  aha::logprobs_forward(A.f32(0, T, "logp"), A.f32(1, T, "entropy"), A.f32(2, T, "lse"), A.f32(3, T * V, "logits"), tg,
                        T, V);
  return info.Env().Undefined();
}

// logprobsBackward(dlogits, logits, lse, entropy, dlogp|null, dentropy|null, targets, T, V)
Napi::Value LogprobsBackward(const Napi::CallbackInfo& info) {
  ARGS("logprobsBackward");
  const int64_t T = A.dim(7, "T"), V = A.dim(8, "V");
  const int32_t* tg = A.i32(6, T, "targets");
  checkTargets(A, tg, T, V);
  aha::logprobs_backward(A.f32(0, T * V, "dlogits"), A.f32(1, T * V, "logits"), A.f32(2, T, "lse"),
                         A.f32(3, T, "entropy"), A.f32OrNull(4, T, "dlogp"), A.f32OrNull(5, T, "dentropy"), tg, T, V);
  return info.Env().Undefined();
}

// adamw(p, g, m, v, lr, beta1, beta2, eps, weightDecay, step)
Napi::Value Adamw(const Napi::CallbackInfo& info) {
  ARGS("adamw");
  const int64_t n = A.len(0);
  aha::adamw(A.f32(0, n, "p"), A.f32(1, n, "g"), A.f32(2, n, "m"), A.f32(3, n, "v"), static_cast<float>(A.num(4, "lr")),
             static_cast<float>(A.num(5, "beta1")), static_cast<float>(A.num(6, "beta2")),
             static_cast<float>(A.num(7, "eps")), static_cast<float>(A.num(8, "weightDecay")), A.num(9, "step"), n);
  return info.Env().Undefined();
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  auto o = Napi::Object::New(info.Env());
  o.Set("simd", aha::simd_level());
  o.Set("threads", omp_get_max_threads());
  return o;
}

// versions() → { onednn: "2.6.3+<hash>", isa: oneDNN's effective ISA }: part of the kernel-choice cache key
Napi::Value Versions(const Napi::CallbackInfo& info) {
  auto o = Napi::Object::New(info.Env());
  o.Set("onednn", aha::onednn_version());
  o.Set("isa", aha::onednn_isa());
  return o;
}

// allocLarge(bytes): a zeroed ArrayBuffer for a large long-lived array (the packed weights) in
// anonymous memory aligned to 2 MiB and advised MADV_HUGEPAGE, so that where the kernel offers
// transparent huge pages on request (THP "madvise" or "always") it is backed by 2 MiB pages: a decoding
// step streaming ~1 GB of weights then misses the TLB 512× less often, and first touch costs one fault
// per 2 MiB instead of one per 4 KiB — though on the development VM that fault cost ~3.9 ms (512 host
// pages at once), so memory made per run and touched a row at a time (KV caches) stays on plain
// ArrayBuffers. Without THP it is ordinary memory. The memory is unmapped when the ArrayBuffer is
// collected; V8 is told of it meanwhile.
Napi::Value AllocLarge(const Napi::CallbackInfo& info) {
  ARGS("allocLarge");
  const int64_t bytes = A.dim(0, "bytes");
  if (bytes == 0) return Napi::ArrayBuffer::New(info.Env(), 0);
  constexpr size_t HUGE_PAGE = size_t(2) << 20;
  const size_t len = static_cast<size_t>(bytes), map = (len + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE + HUGE_PAGE;
  void* base = mmap(nullptr, map, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) A.fail("cannot map " + std::to_string(bytes) + " bytes");
  char* data = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(base) + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE);
#ifdef MADV_HUGEPAGE
  madvise(data, map - static_cast<size_t>(data - static_cast<char*>(base)), MADV_HUGEPAGE);  // a hint: may fail
#endif
  struct Mapping {
    void* base;
    size_t size;
  };
  auto* m = new Mapping{base, map};
  Napi::MemoryManagement::AdjustExternalMemory(info.Env(), static_cast<int64_t>(map));
  return Napi::ArrayBuffer::New(info.Env(), data, len, [](Napi::Env env, void*, Mapping* mp) {
    Napi::MemoryManagement::AdjustExternalMemory(env, -static_cast<int64_t>(mp->size));
    munmap(mp->base, mp->size);
    delete mp;
  }, m);
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  ARGS("setThreads");
  const int64_t n = A.dim(0, "n");
  if (n < 1) A.fail("n must be >= 1");
  omp_set_num_threads(static_cast<int>(n));
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
#define EXPORT(name, fn) exports.Set(name, Napi::Function::New(env, fn, name))
  EXPORT("matmul", Matmul);
  EXPORT("matmulImpl", MatmulImpl);
  EXPORT("setBf16Path", SetBf16Path);
  EXPORT("bf16Route", Bf16Route);
  EXPORT("versions", Versions);
  EXPORT("benchRaw", BenchRaw);
  EXPORT("fmaPeak", FmaPeak);
  EXPORT("toBf16", ToBf16);
  EXPORT("add", Add);
  EXPORT("addBias", AddBias);
  EXPORT("addBiasBackward", AddBiasBackward);
  EXPORT("scale", Scale);
  EXPORT("sumSquares", SumSquares);
  EXPORT("embeddingForward", EmbeddingForward);
  EXPORT("embeddingBackward", EmbeddingBackward);
  EXPORT("rmsnormForward", RmsnormForward);
  EXPORT("rmsnormBackward", RmsnormBackward);
  EXPORT("rope", Rope);
  EXPORT("swigluForward", SwigluForward);
  EXPORT("swigluBackward", SwigluBackward);
  EXPORT("attentionForward", AttentionForward);
  EXPORT("attentionBackward", AttentionBackward);
  EXPORT("attentionDecode", AttentionDecode);
  EXPORT("packBf16", PackBf16);
  EXPORT("matmulPacked", MatmulPacked);
  EXPORT("matmulPackedMany", MatmulPackedMany);
  EXPORT("samplePrep", SamplePrep);
  EXPORT("decodeLimits", DecodeLimits);
  EXPORT("logprobsForward", LogprobsForward);
  EXPORT("logprobsBackward", LogprobsBackward);
  EXPORT("adamw", Adamw);
  EXPORT("info", Info);
  EXPORT("setThreads", SetThreads);
  EXPORT("allocLarge", AllocLarge);
#undef EXPORT
  return exports;
}

}  // namespace

NODE_API_MODULE(aha_native, Init)
