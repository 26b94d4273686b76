// Kernels for decoding (one new token per sequence, M = 1…64 rows): what a sampling step spends its time
// on once the weights are streamed as bf16.
//
// - matmul_packed_bf16: c (M, N) = x (M, K) · Wᵀ with W pre-packed once per weight version into panels
//   of 16 output columns × K/2 bf16 pairs (the layout of avx512_bf16's vdpbf16ps: lane c of one 512-bit
//   load holds W[c][2p], W[c][2p+1]). One pass over the packed weights per call — no per-call reorder, no
//   fp32 copy — which is what decoding needs: at M = 16 a step is bounded by streaming ~1 GB of weights.
//   Work is split over threads by panels of 48 or 64 columns (each output written by one thread, in a
//   fixed k order: deterministic). Register tiles of 8 × 48 or 6 × 64 reuse each weight load for 8 or 6
//   rows; the weights of the next panel are prefetched into L2 during the passes over this one.
//   Without avx512_bf16 a portable loop computes the same sums in fp32.
// - attention_decode (fp32 cache) and attention_decode_bf16 (bf16 cache): one (sequence, kv head) work
//   item reads its cached keys and values once for all `group` query heads that share them.
// - sample_prep: max, argmax and the softmax sums the token sampler needs, in one native pass over V.
// - bf16_peak / read_bandwidth: the two machine limits `aha bench sample` compares decoding against.
#include "decode.h"
#include "kernels.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "simd.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
#define HOT __attribute__((target_clones("avx512f", "avx2", "default")))
#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#define HAVE_BF16_KERNEL 1
#else
#define HOT
#define HAVE_BF16_KERNEL 0
#endif

namespace aha {

namespace {

constexpr int64_t COLS = 16;    // output columns per packed block (one zmm of fp32 accumulators)
// Register tiles: 6 rows × 4 blocks (24 accumulators + 4 weight registers) or 8 rows × 3 blocks (24 + 3),
// whichever wastes fewer rows for m (m = 16 or 64: 8 × 3, two or eight passes over each weight block
// instead of three or eleven). A panel (nb blocks) is the unit of work of one thread.
struct Tiling {
  int64_t mb, nb;
};
inline Tiling tiling(int64_t m) {
  const int64_t r6 = (m + 5) / 6 * 6, r8 = (m + 7) / 8 * 8;
  return r8 < r6 || (r8 == r6 && m > 6) ? Tiling{8, 3} : Tiling{6, 4};
}

inline uint16_t bf16_bits(float f) {
  const uint32_t u = f32_to_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // NaN stays NaN
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

inline float bf16_f32(uint16_t b) { return bits_to_f32(static_cast<uint32_t>(b) << 16); }

bool cpu_has_bf16() {
#if HAVE_BF16_KERNEL
  static const int has = (__builtin_cpu_init(), __builtin_cpu_supports("avx512bf16") ? 1 : 0);
  return has == 1;
#else
  return false;
#endif
}

// Row r of x (k fp32 values) → K2 pairs of bf16 in one uint32 each (low half = even k, zero-padded).
void pack_row(uint32_t* o, const float* xr, int64_t k) {
  const int64_t K2 = (k + 1) / 2;
  for (int64_t p = 0; p < K2; p++) {
    const uint32_t lo = bf16_bits(xr[2 * p]);
    const uint32_t hi = 2 * p + 1 < k ? bf16_bits(xr[2 * p + 1]) : 0u;
    o[p] = lo | (hi << 16);
  }
}

#if HAVE_BF16_KERNEL
// The same with vcvtne2ps2bf16 (round to nearest even, NaN stays NaN, denormals to zero: vdpbf16ps
// reads bf16 denormals as zero anyway, so the products are the same). The scalar loop took ~0.25 ms for
// 64 × 4,864 values on one thread, 6 ms of a 64-sequence decoding step.
BF16_TARGET void pack_row_bf16(uint32_t* o, const float* xr, int64_t k) {
  int64_t i = 0;
  for (; i + 32 <= k; i += 32) {
    const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(xr + i + 16), _mm512_loadu_ps(xr + i));
    _mm512_storeu_si512(o + i / 2, (__m512i)v);
  }
  if (i < k) {
    const int64_t rem = k - i, n0 = std::min<int64_t>(16, rem), n1 = rem - n0;
    const __m512 lo = _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n0) - 1u), xr + i);
    const __m512 hi = _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n1) - 1u), xr + i + 16);
    const __m512bh v = _mm512_cvtne2ps_pbh(hi, lo);
    _mm512_mask_storeu_epi32(o + i / 2, static_cast<__mmask16>((1u << ((rem + 1) / 2)) - 1u), (__m512i)v);
  }
}
#endif

// Software prefetch of the weights the next panel will read (into L2), spread evenly over the
// row-block passes of this one: without it the first pass over a panel waits on memory and the others
// only compute, so memory and compute take turns instead of overlapping (M = 16: ~55% of either).
struct Prefetch {
  const char* base = nullptr;  // first line of the next panel (its block 0)
  int64_t bstride = 0;         // bytes between the slices of consecutive 16-column blocks
  int64_t nb = 0, len = 0;     // blocks, and lines (k pairs) per block
  int64_t passes = 1;          // row-block passes over this panel
  int64_t acc = 0, q = 0, j = 0;
  // one iteration of a pass: nb / passes lines on average
  inline void step() {
    acc += nb;
    while (acc >= passes) {
      acc -= passes;
      if (q < len) __builtin_prefetch(base + j * bstride + q * 64, 0, 2);  // prefetcht1: into L2
      if (++j == nb) {
        j = 0;
        q++;
      }
    }
  }
};

#if HAVE_BF16_KERNEL
// One register tile: rows [0, MB) × blocks [0, NB) over all K2 pairs. The sums start at the bias (the
// same for every row; nullptr: 0): a bias costs nothing here and a separate pass over c otherwise.
template <int MB, int NB>
BF16_TARGET void tile_bf16(float* c, int64_t ldc, const uint32_t* xp, int64_t K2, const uint16_t* wp, int64_t bstride,
                           int64_t nValid, const float* bias, Prefetch& pf) {
  __m512 acc[MB][NB];
  const __mmask16 lastMask = static_cast<__mmask16>((nValid - (NB - 1) * COLS) >= 16 ? 0xffff : ((1u << (nValid - (NB - 1) * COLS)) - 1u));
#pragma GCC unroll 4
  for (int j = 0; j < NB; j++) {
    const __mmask16 mk = j == NB - 1 ? lastMask : static_cast<__mmask16>(0xffff);
    const __m512 b0 = bias ? _mm512_maskz_loadu_ps(mk, bias + j * COLS) : _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int r = 0; r < MB; r++) acc[r][j] = b0;
  }
  Prefetch lp = pf;  // in registers for the loop (through the reference its fields were stored every step)
  for (int64_t p = 0; p < K2; p++) {
    lp.step();
    __m512i w[NB];
#pragma GCC unroll 4
    for (int j = 0; j < NB; j++) w[j] = _mm512_loadu_si512(wp + j * bstride + p * 2 * COLS);
#pragma GCC unroll 8
    for (int r = 0; r < MB; r++) {
      const __m512i xb = _mm512_set1_epi32(static_cast<int>(xp[r * K2 + p]));
#pragma GCC unroll 4
      for (int j = 0; j < NB; j++) acc[r][j] = _mm512_dpbf16_ps(acc[r][j], (__m512bh)xb, (__m512bh)w[j]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MB; r++)
#pragma GCC unroll 4
    for (int j = 0; j < NB; j++) {
      const __mmask16 mk = j == NB - 1 ? lastMask : static_cast<__mmask16>(0xffff);
      _mm512_mask_storeu_ps(c + r * ldc + j * COLS, mk, acc[r][j]);
    }
  pf = lp;
}

using TileFn = void (*)(float*, int64_t, const uint32_t*, int64_t, const uint16_t*, int64_t, int64_t, const float*,
                        Prefetch&);

template <int MB, int NBMAX>
TileFn tile_for_nb(int64_t nb) {
  switch (nb) {
    case 1: return tile_bf16<MB, 1>;
    case 2: return tile_bf16<MB, 2>;
    case 3: return tile_bf16<MB, 3>;
    default: return tile_bf16<MB, NBMAX>;
  }
}

// rows 1…6 with up to 4 blocks, 7…8 with up to 3 (32 accumulators would spill)
TileFn tile_for(int64_t mb, int64_t nb) {
  switch (mb) {
    case 1: return tile_for_nb<1, 4>(nb);
    case 2: return tile_for_nb<2, 4>(nb);
    case 3: return tile_for_nb<3, 4>(nb);
    case 4: return tile_for_nb<4, 4>(nb);
    case 5: return tile_for_nb<5, 4>(nb);
    case 6: return tile_for_nb<6, 4>(nb);
    case 7: return tile_for_nb<7, 3>(nb);
    default: return tile_for_nb<8, 3>(nb);
  }
}
#endif

// Portable tile (no avx512_bf16): the same sums in fp32 (bf16 × bf16 products are exact in fp32).
HOT void tile_portable(float* c, int64_t ldc, const uint32_t* xp, int64_t K2, const uint16_t* wp, int64_t bstride,
                       int64_t mb, int64_t nb, int64_t nValid, const float* bias) {
  float acc[COLS];
  for (int64_t r = 0; r < mb; r++) {
    for (int64_t j = 0; j < nb; j++) {
      const int64_t cols = std::min<int64_t>(COLS, nValid - j * COLS);
      float* cr = c + r * ldc + j * COLS;
      for (int64_t l = 0; l < COLS; l++) acc[l] = bias && l < cols ? bias[j * COLS + l] : 0.f;
      const uint16_t* wb = wp + j * bstride;
      for (int64_t p = 0; p < K2; p++) {
        const uint32_t xx = xp[r * K2 + p];
        const float x0 = bf16_f32(static_cast<uint16_t>(xx & 0xffffu)), x1 = bf16_f32(static_cast<uint16_t>(xx >> 16));
        const uint16_t* w = wb + p * 2 * COLS;
#pragma omp simd
        for (int64_t l = 0; l < COLS; l++) acc[l] += x0 * bf16_f32(w[2 * l]) + x1 * bf16_f32(w[2 * l + 1]);
      }
      for (int64_t l = 0; l < cols; l++) cr[l] = acc[l];
    }
  }
}

thread_local std::vector<uint32_t> xpScratch;

}  // namespace

int64_t packed_bf16_size(int64_t n, int64_t k) { return ((n + COLS - 1) / COLS) * COLS * ((k + 1) / 2) * 2; }

bool packed_bf16_native() { return cpu_has_bf16(); }

void pack_bf16(uint16_t* out, const float* w, int64_t n, int64_t k) {
  const int64_t K2 = (k + 1) / 2, NBt = (n + COLS - 1) / COLS;
#pragma omp parallel for schedule(static) if (n * k > (1 << 18))
  for (int64_t j = 0; j < NBt; j++) {
    uint16_t* ob = out + j * K2 * 2 * COLS;
    for (int64_t p = 0; p < K2; p++)
      for (int64_t l = 0; l < COLS; l++) {
        const int64_t col = j * COLS + l;
        for (int64_t e = 0; e < 2; e++) {
          const int64_t kk = 2 * p + e;
          ob[(p * COLS + l) * 2 + e] = (col < n && kk < k) ? bf16_bits(w[col * k + kk]) : 0;
        }
      }
  }
}

void matmul_packed_bf16(float* c, const float* x, const uint16_t* wp, int64_t m, int64_t n, int64_t k) {
  const PackedOut one{c, n, nullptr};
  matmul_packed_bf16_many(&one, 1, x, wp, m, k);
}

void matmul_packed_bf16_many(const PackedOut* outs, int64_t nOuts, const float* x, const uint16_t* wp, int64_t m,
                             int64_t k) {
  if (m == 0 || nOuts == 0) return;
  const Tiling tl = tiling(m);
  const int64_t NB_MAX = tl.nb, MB_MAX = tl.mb;
  const int64_t K2 = (k + 1) / 2, bstride = K2 * 2 * COLS;
  // the outputs' 16-column blocks, numbered through all outputs in order: output i holds [segB[i], segB[i+1])
  std::vector<int64_t> segB(static_cast<size_t>(nOuts) + 1, 0);
  int64_t flops = 0;
  for (int64_t i = 0; i < nOuts; i++) {
    segB[i + 1] = segB[i] + (outs[i].n + COLS - 1) / COLS;
    flops += m * outs[i].n * k;
  }
  const int64_t NBt = segB[nOuts];
  if (K2 == 0) {
    for (int64_t i = 0; i < nOuts; i++)
      for (int64_t r = 0; r < m; r++)
        for (int64_t j = 0; j < outs[i].n; j++) outs[i].c[r * outs[i].n + j] = outs[i].bias ? outs[i].bias[j] : 0.f;
    return;
  }
  xpScratch.resize(static_cast<size_t>(m * K2));
  uint32_t* const xp = xpScratch.data();
  const bool fast = cpu_has_bf16();
  // A panel's passes run over all of k at once (no k blocks), so each output tile is written once and
  // each thread's weight stream runs uninterrupted to the end of its panel; the prefetch reaches for the
  // next panel. Measured against k blocks of 256 pairs on the AMD EPYC development machine, 2 threads,
  // weights streamed from memory (not L3): 16 × 896 × 151,936 11.1 → 7.0 ms, 64 rows 31.3 → 23.8 ms,
  // 16 × 4864 × 896 0.41 → 0.33–0.40 ms; a panel is 86 KiB (k = 896) to 467 KiB (k = 4864), in L2.
  const bool par = NBt > NB_MAX && flops > (1 << 20);
#pragma omp parallel if (par)
  {
    // x to bf16 pairs, rows shared among the threads (the barrier at the end of the for: all rows done)
#pragma omp for schedule(static)
    for (int64_t r = 0; r < m; r++) {
#if HAVE_BF16_KERNEL
      if (fast) {
        pack_row_bf16(xp + r * K2, x + r * k, k);
        continue;
      }
#endif
      pack_row(xp + r * K2, x + r * k, k);
    }
    // Each thread takes an equal share of the 16-column blocks of all outputs together (not of whole
    // panels: n = 896 is 56 blocks, 19 panels of 3, which split 10 / 9), in panels of up to NB_MAX blocks
    // that never cross from one output into the next; a remainder between NB_MAX and 2·NB_MAX becomes
    // two near-equal panels rather than a full one and a sliver.
    const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t b0 = NBt * t / nt, b1 = NBt * (t + 1) / nt;
    // the output that global block j belongs to (searched from s on; outputs may have no columns)
    auto segOf = [&](int64_t j, int64_t s) {
      while (segB[s + 1] <= j) s++;
      return s;
    };
    // the panel starting at block j0 of output s: its width
    auto width = [&](int64_t j0, int64_t s) {
      const int64_t rem = std::min(b1, segB[s + 1]) - j0;
      return rem > NB_MAX && rem < 2 * NB_MAX ? (rem + 1) / 2 : std::min(NB_MAX, rem);
    };
    int64_t seg = 0;
    for (int64_t j0 = b0; j0 < b1;) {
      seg = segOf(j0, seg);
      const PackedOut& o = outs[seg];
      const int64_t jl = j0 - segB[seg];  // block within output seg
      const int64_t nb = width(j0, seg), nValid = std::min(o.n - jl * COLS, nb * COLS);
      const uint16_t* wpan = wp + j0 * bstride;
      Prefetch pf;
      pf.bstride = bstride * 2;
      pf.passes = (m + MB_MAX - 1) / MB_MAX;
      // one pass (m ≤ 8): the hardware prefetcher streams it better alone
      if (pf.passes > 1 && j0 + nb < b1) {
        pf.base = reinterpret_cast<const char*>(wpan + nb * bstride);
        pf.nb = width(j0 + nb, segOf(j0 + nb, seg));
        pf.len = K2;
      }
      const float* bias = o.bias ? o.bias + jl * COLS : nullptr;
      for (int64_t r0 = 0; r0 < m; r0 += MB_MAX) {
        const int64_t mb = std::min(MB_MAX, m - r0);
        float* ct = o.c + r0 * o.n + jl * COLS;
#if HAVE_BF16_KERNEL
        if (fast) {
          tile_for(mb, nb)(ct, o.n, xp + r0 * K2, K2, wpan, bstride, nValid, bias, pf);
          continue;
        }
#endif
        tile_portable(ct, o.n, xp + r0 * K2, K2, wpan, bstride, mb, nb, nValid, bias);
      }
      j0 += nb;
    }
  }
  (void)fast;
}

// ***** attention over the KV cache *****

namespace {

inline float load_f(const float* p, int64_t i) { return p[i]; }
inline float load_f(const uint16_t* p, int64_t i) { return bf16_f32(p[i]); }

// One (sequence, kv head): the `group` query rows qg (group, D) against L cached positions with row
// stride ks. sc holds (group, L) scores, row (D) one converted key / value row.
template <typename KV>
__attribute__((always_inline)) inline void decode_item(float* og, const float* qg, const KV* kb, const KV* vb, int64_t L,
                                                        int64_t ks, int64_t group, int64_t D, float scale, float* sc,
                                                        float* row) {
  for (int64_t j = 0; j < L; j++) {
    const KV* kr = kb + j * ks;
#pragma omp simd
    for (int64_t d = 0; d < D; d++) row[d] = load_f(kr, d);
    for (int64_t g = 0; g < group; g++) {
      const float* qr = qg + g * D;
      float s = 0.f;
#pragma omp simd reduction(+ : s)
      for (int64_t d = 0; d < D; d++) s += qr[d] * row[d];
      sc[g * L + j] = s * scale;
    }
  }
  for (int64_t g = 0; g < group; g++) softmax_row(sc + g * L, L, L);
  std::memset(og, 0, sizeof(float) * static_cast<size_t>(group * D));
  for (int64_t j = 0; j < L; j++) {
    const KV* vr = vb + j * ks;
#pragma omp simd
    for (int64_t d = 0; d < D; d++) row[d] = load_f(vr, d);
    for (int64_t g = 0; g < group; g++) {
      const float p = sc[g * L + j];
      float* o = og + g * D;
#pragma omp simd
      for (int64_t d = 0; d < D; d++) o[d] += p * row[d];
    }
  }
}

#if HAVE_BF16_KERNEL
#define AVX512_TARGET __attribute__((target("avx512f")))
constexpr int64_t DT = 16;  // positions per tile of the AVX-512 decode attention

AVX512_TARGET inline __m512 load16(const float* p) { return _mm512_loadu_ps(p); }
AVX512_TARGET inline __m512 load16(const uint16_t* p) {
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// lane i = the sum of v[i]'s 16 lanes (a transpose-and-add tree: ~30 shuffles and adds for 16 sums)
AVX512_TARGET inline __m512 hsum16(const __m512* v) {
  __m512 a[8], b[4];
  for (int i = 0; i < 8; i++)
    a[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
  for (int i = 0; i < 4; i++)
    b[i] = _mm512_add_ps(_mm512_shuffle_ps(a[2 * i], a[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_ps(a[2 * i], a[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  const __m512 c0 = _mm512_add_ps(_mm512_shuffle_f32x4(b[0], b[1], _MM_SHUFFLE(1, 0, 1, 0)),
                                  _mm512_shuffle_f32x4(b[0], b[1], _MM_SHUFFLE(3, 2, 3, 2)));
  const __m512 c1 = _mm512_add_ps(_mm512_shuffle_f32x4(b[2], b[3], _MM_SHUFFLE(1, 0, 1, 0)),
                                  _mm512_shuffle_f32x4(b[2], b[3], _MM_SHUFFLE(3, 2, 3, 2)));
  return _mm512_add_ps(_mm512_shuffle_f32x4(c0, c1, _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_f32x4(c0, c1, _MM_SHUFFLE(3, 1, 3, 1)));
}

// Cached row min(j, L − 1) towards L1, ahead of its use: the rows of one (sequence, kv head) are ks
// apart, a stride the hardware prefetcher does not follow well enough (without this, ~40% of the
// item's time was the loads of the cache waiting on memory). Always inlined: as a function of its
// own, GCC 12 finds it free of side effects and deletes its calls. Rows up to 256 bytes are covered
// (D = 64 in bf16 is 128).
template <typename KV>
__attribute__((always_inline)) inline void prefetch_row(const KV* base, int64_t j, int64_t L, int64_t ks, int64_t D) {
  const char* p = reinterpret_cast<const char*>(base + std::min(j, L - 1) * ks);
  const int64_t bytes = D * static_cast<int64_t>(sizeof(KV));
  _mm_prefetch(p, _MM_HINT_T0);
  if (bytes > 64) _mm_prefetch(p + 64, _MM_HINT_T0);
  if (bytes > 128) _mm_prefetch(p + 128, _MM_HINT_T0);
  if (bytes > 192) _mm_prefetch(p + 192, _MM_HINT_T0);
}

// decode_item for D a multiple of 16 (≤ 256): tiles of 16 cached positions are converted to fp32 once
// (tile, 16 × D) and read by every query head of the group; 16 scores at a time come out of one
// transpose-and-add instead of one horizontal sum per (head, position) — what made the scalar
// version ~20× slower than its memory traffic at 64 sequences. The weighted sum of the values keeps
// each head's output in registers across a tile.
// DCT: D / 16 fixed at compile time (4 and 8: head dims 64 and 128; 0: any, from D) — with it the
// chunk loops unroll and the value accumulators stay in registers.
template <typename KV, int DCT>
AVX512_TARGET void decode_item_avx512(float* og, const float* qg, const KV* kb, const KV* vb, int64_t L, int64_t ks,
                                      int64_t group, int64_t D, float scale, float* sc, float* tile) {
  const int64_t DC = DCT > 0 ? DCT : D / 16;
  const __m512 vscale = _mm512_set1_ps(scale);
  for (int64_t j0 = 0; j0 < L; j0 += DT) {
    const int64_t nt = std::min(DT, L - j0);
    for (int64_t jj = 0; jj < nt; jj++) {
      prefetch_row(kb, j0 + DT + jj, L, ks, D);
      for (int64_t c = 0; c < DC; c++) _mm512_storeu_ps(tile + jj * D + c * 16, load16(kb + (j0 + jj) * ks + c * 16));
    }
    for (int64_t g = 0; g < group; g++) {
      const float* qr = qg + g * D;
      __m512 v[DT];
      for (int64_t jj = 0; jj < DT; jj++) {
        if (jj >= nt) {
          v[jj] = _mm512_setzero_ps();
          continue;
        }
        const float* kr = tile + jj * D;
        __m512 a = _mm512_mul_ps(_mm512_loadu_ps(qr), _mm512_loadu_ps(kr));
        for (int64_t c = 1; c < DC; c++) a = _mm512_fmadd_ps(_mm512_loadu_ps(qr + c * 16), _mm512_loadu_ps(kr + c * 16), a);
        v[jj] = a;
      }
      const __mmask16 mk = nt == DT ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << nt) - 1u);
      _mm512_mask_storeu_ps(sc + g * L + j0, mk, _mm512_mul_ps(hsum16(v), vscale));
    }
  }
  // exp(score − max) without the division: each head's output is scaled by 1 / Σ once at the end (one
  // pass over the scores fewer); inv (group) lies past the scores, in the scratch's spare row
  float* const inv = sc + group * L;
  for (int64_t g = 0; g < group; g++) {
    float* const s = sc + g * L;
    inv[g] = 1.f / exp_shift_sum(s, L, max_f(s, L));
  }
  std::memset(og, 0, sizeof(float) * static_cast<size_t>(group * D));
  for (int64_t j0 = 0; j0 < L; j0 += DT) {
    const int64_t nt = std::min(DT, L - j0);
    for (int64_t jj = 0; jj < nt; jj++) {
      prefetch_row(vb, j0 + DT + jj, L, ks, D);
      for (int64_t c = 0; c < DC; c++) _mm512_storeu_ps(tile + jj * D + c * 16, load16(vb + (j0 + jj) * ks + c * 16));
    }
    for (int64_t g = 0; g < group; g++) {
      float* o = og + g * D;
      const float* pr = sc + g * L + j0;
      __m512 acc[16], acc2[8];
      for (int64_t c = 0; c < DC; c++) acc[c] = _mm512_loadu_ps(o + c * 16);
      int64_t jj = 0;
      if (DCT > 0 && DCT <= 8) {
        // two positions at a time into two sets of accumulators: 2·DC independent FMA chains (one set
        // of 4 waits on the FMA latency, half the throughput)
        for (int64_t c = 0; c < DC; c++) acc2[c] = _mm512_setzero_ps();
        for (; jj + 1 < nt; jj += 2) {
          const __m512 p0 = _mm512_set1_ps(pr[jj]), p1 = _mm512_set1_ps(pr[jj + 1]);
          for (int64_t c = 0; c < DC; c++) {
            acc[c] = _mm512_fmadd_ps(p0, _mm512_loadu_ps(tile + jj * D + c * 16), acc[c]);
            acc2[c] = _mm512_fmadd_ps(p1, _mm512_loadu_ps(tile + (jj + 1) * D + c * 16), acc2[c]);
          }
        }
        for (int64_t c = 0; c < DC; c++) acc[c] = _mm512_add_ps(acc[c], acc2[c]);
      }
      for (; jj < nt; jj++) {
        const __m512 p = _mm512_set1_ps(pr[jj]);
        for (int64_t c = 0; c < DC; c++) acc[c] = _mm512_fmadd_ps(p, _mm512_loadu_ps(tile + jj * D + c * 16), acc[c]);
      }
      for (int64_t c = 0; c < DC; c++) _mm512_storeu_ps(o + c * 16, acc[c]);
    }
  }
  for (int64_t g = 0; g < group; g++) {
    const __m512 f = _mm512_set1_ps(inv[g]);
    for (int64_t c = 0; c < DC; c++) _mm512_storeu_ps(og + g * D + c * 16, _mm512_mul_ps(f, _mm512_loadu_ps(og + g * D + c * 16)));
  }
}

bool cpu_has_avx512f() {
  static const int has = (__builtin_cpu_init(), __builtin_cpu_supports("avx512f") ? 1 : 0);
  return has == 1;
}
#endif

template <typename KV>
__attribute__((always_inline)) inline void decode_all(float* out, const float* q, const KV* kc, const KV* vc,
                                                       const int32_t* slots, const int32_t* lens, int64_t B,
                                                       int64_t maxLen, int64_t Hq, int64_t Hkv, int64_t D, float scale) {
  const int64_t group = Hq / Hkv, ks = Hkv * D, work = B * Hkv;
  int64_t tot = 0;
  for (int64_t b = 0; b < B; b++) tot += lens[b];
#pragma omp parallel if (work > 1 && tot * Hkv * D > (1 << 13))
  {
#if HAVE_BF16_KERNEL
    const bool wide = D % 16 == 0 && D <= 256 && cpu_has_avx512f();
#else
    const bool wide = false;
#endif
    std::vector<float> sc(static_cast<size_t>(group * (maxLen + 1))), row(static_cast<size_t>(wide ? DT * D : D));
#pragma omp for schedule(static)
    for (int64_t w = 0; w < work; w++) {
      const int64_t b = w / Hkv, kh = w % Hkv;
      const int64_t base = static_cast<int64_t>(slots[b]) * maxLen * ks + kh * D;
      float* og = out + (b * Hq + kh * group) * D;
      const float* qg = q + (b * Hq + kh * group) * D;
#if HAVE_BF16_KERNEL
      if (wide) {
        const auto item = D == 64 ? decode_item_avx512<KV, 4> : D == 128 ? decode_item_avx512<KV, 8> : decode_item_avx512<KV, 0>;
        item(og, qg, kc + base, vc + base, lens[b], ks, group, D, scale, sc.data(), row.data());
        continue;
      }
#endif
      decode_item(og, qg, kc + base, vc + base, lens[b], ks, group, D, scale, sc.data(), row.data());
    }
  }
}

}  // namespace

HOT void attention_decode(float* out, const float* q, const float* kc, const float* vc, const int32_t* slots,
                          const int32_t* lens, int64_t B, int64_t maxLen, int64_t Hq, int64_t Hkv, int64_t D,
                          float scale) {
  decode_all(out, q, kc, vc, slots, lens, B, maxLen, Hq, Hkv, D, scale);
}

HOT void attention_decode_bf16(float* out, const float* q, const uint16_t* kc, const uint16_t* vc,
                               const int32_t* slots, const int32_t* lens, int64_t B, int64_t maxLen, int64_t Hq,
                               int64_t Hkv, int64_t D, float scale) {
  decode_all(out, q, kc, vc, slots, lens, B, maxLen, Hq, Hkv, D, scale);
}

// ***** the token sampler's pass over the vocabulary *****

namespace {

// The four leading stats; argmax = the first index of mx inside the chunk starting at argChunk (the
// first chunk that holds it: as the TypeScript loop, first index; NaN compares false, as there).
inline void lead_stats(double* stats, const float* z, int64_t V, int64_t argChunk, float mx, double s1, double mass) {
  int64_t arg = 0;
  for (int64_t i = argChunk; i < std::min(V, argChunk + SAMPLE_CHUNK); i++)
    if (z[i] == mx) {
      arg = i;
      break;
    }
  stats[0] = mx;
  stats[1] = static_cast<double>(arg);
  stats[2] = s1;
  stats[3] = mass;
}

// e == nullptr: the sums only, in one pass over z — each chunk's maximum cm first (the chunk is then in
// L1), its sums relative to cm, and at the end each chunk's sums scaled by exp((cm − max)·invT). Two
// passes over z and a pass writing e were ~7 ms of a 64-row decoding step (39 MB of logits), for an
// e the sampler needs only where it is cutting (top-k / top-p).
HOT void sample_sums(double* stats, const float* z, int64_t V, float invT) {
  const int64_t nc = (V + SAMPLE_CHUNK - 1) / SAMPLE_CHUNK;
  float mx = -INFINITY;
  int64_t argChunk = 0;
  thread_local std::vector<float> chunk;  // per chunk: its maximum, its sums a (T = 1) and b (T) relative to it
  chunk.resize(static_cast<size_t>(3 * nc));
  for (int64_t c = 0; c < nc; c++) {
    const int64_t i0 = c * SAMPLE_CHUNK, i1 = std::min(V, i0 + SAMPLE_CHUNK);
    const float cm = max_f(z + i0, i1 - i0);
    if (cm > mx) {
      mx = cm;
      argChunk = i0;
    }
    float a = 0.f, b = 0.f;
    if (cm == -INFINITY) {
      // all −∞ (nothing to add), unless NaN hid among them: the sums must carry it. (A loop setting
      // a = NAN where z[i] != z[i] came out of GCC 12's -O3 vectorizer setting nothing.)
      int64_t i = i0;
      while (i < i1 && !__builtin_isnan(z[i])) i++;
      if (i < i1) a = b = NAN;
    } else {
      if (invT > 0.f && invT != 1.f) {
#pragma omp simd reduction(+ : a, b)
        for (int64_t i = i0; i < i1; i++) {
          const float d = z[i] - cm;
          const bool dead = d == -INFINITY;
          a += dead ? 0.f : exp_f(d);
          b += dead ? 0.f : exp_f(d * invT);
        }
      } else {
#pragma omp simd reduction(+ : a)
        for (int64_t i = i0; i < i1; i++) {
          const float d = z[i] - cm;
          a += d == -INFINITY ? 0.f : exp_f(d);
        }
        if (invT > 0.f) b = a;
      }
    }
    float* ch = chunk.data() + 3 * c;
    ch[0] = cm;
    ch[1] = a;
    ch[2] = b;
  }
  double s1 = 0.0, mass = 0.0;
  for (int64_t c = 0; c < nc; c++) {
    const float* ch = chunk.data() + 3 * c;
    const float d = ch[0] - mx;  // NaN where every logit is −∞ or NaN: the sums carry it
    const bool dead = ch[0] == -INFINITY;  // then a and b are 0 (or NaN), unscaled
    const double a = static_cast<double>(ch[1]) * (dead ? 1.f : exp_f(d));
    const double b = invT <= 0.f ? 0.0 : static_cast<double>(ch[2]) * (dead ? 1.f : exp_f(d * invT));
    s1 += a;
    mass += b;
    stats[4 + c] = b;
  }
  lead_stats(stats, z, V, argChunk, mx, s1, mass);
}

}  // namespace

HOT void sample_prep(float* e, double* stats, const float* z, int64_t V, float invT) {
  if (e == nullptr) {
    sample_sums(stats, z, V, invT);
    return;
  }
  // the maximum in SIMD lanes, chunk by chunk (lead_stats finds its first index)
  float mx = -INFINITY;
  int64_t argChunk = 0;
  for (int64_t i0 = 0; i0 < V; i0 += SAMPLE_CHUNK) {
    const int64_t i1 = std::min(V, i0 + SAMPLE_CHUNK);
    const float cm = max_f(z + i0, i1 - i0);
    if (cm > mx) {
      mx = cm;
      argChunk = i0;
    }
  }
  // Sums in fp32 SIMD lanes within a chunk of SAMPLE_CHUNK tokens, fp64 across chunks.
  double s1 = 0.0, mass = 0.0;
  for (int64_t c = 0; c * SAMPLE_CHUNK < V; c++) {
    const int64_t i0 = c * SAMPLE_CHUNK, i1 = std::min(V, i0 + SAMPLE_CHUNK);
    float a = 0.f, b = 0.f;
    if (invT > 0.f) {
#pragma omp simd reduction(+ : a, b)
      for (int64_t i = i0; i < i1; i++) {
        const float d = z[i] - mx;
        const bool dead = d == -INFINITY;
        const float e1 = dead ? 0.f : exp_f(d), et = dead ? 0.f : (invT == 1.f ? e1 : exp_f(d * invT));
        a += e1;
        b += et;
        e[i] = et;
      }
    } else {
#pragma omp simd reduction(+ : a)
      for (int64_t i = i0; i < i1; i++) {
        const float d = z[i] - mx;
        a += d == -INFINITY ? 0.f : exp_f(d);
      }
    }
    s1 += a;
    mass += b;
    stats[4 + c] = b;
  }
  lead_stats(stats, z, V, argChunk, mx, s1, mass);
}

void sample_prep_rows(float* e, double* stats, const float* z, int64_t R, int64_t V, const float* invT) {
  const int64_t ns = 4 + (V + SAMPLE_CHUNK - 1) / SAMPLE_CHUNK;
#pragma omp parallel for schedule(static) if (R > 1)
  for (int64_t r = 0; r < R; r++) sample_prep(e ? e + r * V : nullptr, stats + r * ns, z + r * V, V, invT[r]);
}

// ***** machine limits *****

#if HAVE_BF16_KERNEL
BF16_TARGET double bf16_peak_avx512(int64_t iters);
#endif

double bf16_peak(int64_t iters) {
#if HAVE_BF16_KERNEL
  if (!cpu_has_bf16()) return 0.0;
  return bf16_peak_avx512(iters);
#else
  (void)iters;
  return 0.0;
#endif
}

#if HAVE_BF16_KERNEL
// 12 independent chains of vdpbf16ps (64 flops each) per thread, on every OpenMP thread.
BF16_TARGET double bf16_peak_avx512(int64_t iters) {
  const double t0 = omp_get_wtime();
  float sink = 0.f;
#pragma omp parallel reduction(+ : sink)
  {
    __m512 acc[12];
    for (int i = 0; i < 12; i++) acc[i] = _mm512_set1_ps(static_cast<float>(i));
    const __m512i a = _mm512_set1_epi32(0x3f803f80), b = _mm512_set1_epi32(0x3c003c00);  // bf16 1.0, 2^-7
    for (int64_t it = 0; it < iters; it++) {
#pragma GCC unroll 12
      for (int i = 0; i < 12; i++) acc[i] = _mm512_dpbf16_ps(acc[i], (__m512bh)a, (__m512bh)b);
    }
    __m512 s = acc[0];
    for (int i = 1; i < 12; i++) s = _mm512_add_ps(s, acc[i]);
    sink += _mm512_reduce_add_ps(s);
  }
  const double dt = omp_get_wtime() - t0;
  const double flops = static_cast<double>(iters) * 12.0 * 64.0 * omp_get_max_threads();
  return sink == 0.12345f ? 0.0 : flops / dt / 1e9;
}
#endif

HOT double read_bandwidth(int64_t bytes, int64_t rounds) {
  const int64_t n = bytes / static_cast<int64_t>(sizeof(float));
  std::vector<float> buf(static_cast<size_t>(n));
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) buf[i] = static_cast<float>(i & 7);  // touch every page on its reader's thread
  const float* p = buf.data();
  double best = 1e30, sink = 0.0;
  for (int64_t r = 0; r < rounds; r++) {
    const double t0 = omp_get_wtime();
    float s = 0.f;
#pragma omp parallel for simd reduction(+ : s) schedule(static)
    for (int64_t i = 0; i < n; i++) s += p[i];
    best = std::min(best, omp_get_wtime() - t0);
    sink += s;
  }
  return sink == -1.0 ? 0.0 : static_cast<double>(n * sizeof(float)) / best / 1e9;
}

}  // namespace aha
