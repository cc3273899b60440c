// Flash attention tile kernels, written once over the ISA structs of native/core/simd.h. Included by flash.cc
// (scalar) and, inside a TF_SIMD_BEGIN_* region, by flash_avx2.cc and flash_avx512.cc (AVX-512 is the same
// template instantiated at 16 lanes: it compiles everywhere but has not been run on the build machine).
//
// One work item = up to kFlashGroup query tiles of kFlashBq rows of one (batch, head). Per query tile:
//   Qt = (scale · Q_tile)ᵀ, packed once into scratch as [D × Bq] (zero columns past the last query);
// then for each key tile of kFlashBk keys that some row of the item can see (K and V tiles copied to scratch
// first when their rows are strided, layout [B, N, H, D]), for each query tile that sees some of its keys:
//     Sᵀ[jn × qc] = K_tile · Qt         (register tiles of 4 keys × 3 vectors of queries, over D; qc = the
//                                        tile's queries rounded up to whole vectors, so decoding computes 1 vector)
//     + bias, -inf where masked (padding; window/causal only on tiles that cross a window edge)
//     online softmax vectorized across queries: m' = max(m, max_j Sᵀ[j, i]), alpha = e^(m - m'),
//     Pᵀ = e^(Sᵀ - m') (in place), l = l·alpha + Σ_j Pᵀ[j, i]
//     O[i, :] = alpha_i · O[i, :] + Σ_j Pᵀ[j, i] · V[j, :]   (3 queries × 4 vectors of D, over the keys)
//   out = O / l (zeros where l = 0), lse = m + log l (-inf where l = 0).
// O lives in the output tensor itself when its rows are contiguous ([B, H, N, D]), in scratch otherwise.
// Every sum runs in an order fixed by the shapes alone (not by the grouping or the thread count).
// The per-tile pieces (flash_tile_begin, flash_keys, flash_step, flash_tile_end) are shared with block-sparse
// attention (blocksparse_impl.h), which feeds them the runs of present key blocks instead of every key tile.
#pragma once
#include "../../core/dispatch.h"
#include "../../core/simd.h"
#include "../../core/simd_math.h"
#include "flash.h"

namespace tf {
namespace {

// Rows of B taken in turn: n rows from b, ldb floats apart (block-sparse attention's PV product reads the V rows
// of several runs of keys in place, one segment per run).
struct FlashSeg {
  const float* b;
  int64_t n;
};

// C[MR × NV·W] (=, or scaled by rs[i] then +=) A · B over depth k = the segments' rows in turn, A(i, p) at
// a[i * rsa + p * csa], B row p (contiguous) at column col of its segment's row, C row i at c + i * ldc. Tail:
// the last vector holds only `tail` columns. The accumulators stay in registers across segments: each sum
// runs over p in order, as with one segment of all the rows.
template <class V, int MR, int NV, bool Acc, bool Tail>
inline void flash_tile(const FlashSeg* seg, int64_t nseg, int64_t col, const float* a, int64_t rsa, int64_t csa,
                       int64_t ldb, float* c, int64_t ldc, const float* rs, size_t tail) {
  using R = typename V::reg;
  constexpr int W = V::W;
  R acc[MR][NV];
  for (int i = 0; i < MR; ++i) {
    for (int v = 0; v < NV; ++v) {
      if constexpr (Acc) {
        const float* cp = c + i * ldc + v * W;
        R x = (Tail && v == NV - 1) ? V::load_tail(cp, tail) : V::load(cp);
        acc[i][v] = V::mul(x, V::set1(rs[i]));
      } else {
        acc[i][v] = V::zero();
      }
    }
  }
  const float* ap = a;
  for (int64_t s = 0; s < nseg; ++s) {
    const float* b = seg[s].b + col;
    const int64_t k = seg[s].n;
#pragma GCC unroll 4  // fewer loop branches per tile (depth 64 at D = 64 or kFlashBk keys): measured ~3% faster flash
    for (int64_t p = 0; p < k; ++p, ap += csa) {
      const float* bp = b + p * ldb;
      R bv[NV];
      for (int v = 0; v < NV; ++v) bv[v] = (Tail && v == NV - 1) ? V::load_tail(bp + v * W, tail) : V::load(bp + v * W);
      for (int i = 0; i < MR; ++i) {
        const R av = V::set1(ap[i * rsa]);
        for (int v = 0; v < NV; ++v) acc[i][v] = V::fma(av, bv[v], acc[i][v]);
      }
    }
  }
  for (int i = 0; i < MR; ++i) {
    for (int v = 0; v < NV; ++v) {
      float* cp = c + i * ldc + v * W;
      if (Tail && v == NV - 1)
        V::store_tail(cp, acc[i][v], tail);
      else
        V::store(cp, acc[i][v]);
    }
  }
}

template <class V, int MR, int NV, bool Acc>
inline void flash_cols_rest(const FlashSeg* seg, int64_t nseg, int64_t col, const float* a, int64_t rsa, int64_t csa,
                            int64_t ldb, float* c, int64_t ldc, const float* rs, size_t tail) {
  if (tail)
    flash_tile<V, MR, NV, Acc, true>(seg, nseg, col, a, rsa, csa, ldb, c, ldc, rs, tail);
  else
    flash_tile<V, MR, NV, Acc, false>(seg, nseg, col, a, rsa, csa, ldb, c, ldc, rs, 0);
}

// MR rows of C, n columns: blocks of NV vectors, then one block of 1 to NV vectors (the last maybe partial).
template <class V, int MR, int NV, bool Acc>
inline void flash_rows(int64_t n, const FlashSeg* seg, int64_t nseg, const float* a, int64_t rsa, int64_t csa,
                       int64_t ldb, float* c, int64_t ldc, const float* rs) {
  constexpr int64_t W = V::W;
  int64_t j = 0;
  for (; j + NV * W <= n; j += NV * W)
    flash_tile<V, MR, NV, Acc, false>(seg, nseg, j, a, rsa, csa, ldb, c + j, ldc, rs, 0);
  const int64_t r = n - j;
  if (r == 0) return;
  const size_t tail = static_cast<size_t>(r % W);
  const int64_t nv = r / W + (tail ? 1 : 0);
  c += j;
  if (nv == 1) return flash_cols_rest<V, MR, 1, Acc>(seg, nseg, j, a, rsa, csa, ldb, c, ldc, rs, tail);
  if constexpr (NV > 2) {
    if (nv == 2) return flash_cols_rest<V, MR, 2, Acc>(seg, nseg, j, a, rsa, csa, ldb, c, ldc, rs, tail);
  }
  if constexpr (NV > 3) {
    if (nv == 3) return flash_cols_rest<V, MR, 3, Acc>(seg, nseg, j, a, rsa, csa, ldb, c, ldc, rs, tail);
  }
  flash_cols_rest<V, MR, NV, Acc>(seg, nseg, j, a, rsa, csa, ldb, c, ldc, rs, tail);  // nv == NV, partial last vector
}

// C[m × n] (=, or row-scaled +=) A · B, B's rows given by segments, in register tiles of MR rows × NV vectors.
template <class V, int MR, int NV, bool Acc>
inline void flash_gemm_seg(int64_t m, int64_t n, const FlashSeg* seg, int64_t nseg, const float* a, int64_t rsa,
                           int64_t csa, int64_t ldb, float* c, int64_t ldc, const float* rs) {
  int64_t i = 0;
  if constexpr (MR == 3) {  // 3k + 1 rows as 3(k - 1) + 2 + 2: a 1-row tile has too few accumulators to hide
    if (m >= 4 && m % 3 == 1) {  // the FMA latency (it costs about as much as two rows in 2-row tiles)
      for (; i + 4 < m; i += 3)
        flash_rows<V, 3, NV, Acc>(n, seg, nseg, a + i * rsa, rsa, csa, ldb, c + i * ldc, ldc, Acc ? rs + i : nullptr);
      for (; i < m; i += 2)
        flash_rows<V, 2, NV, Acc>(n, seg, nseg, a + i * rsa, rsa, csa, ldb, c + i * ldc, ldc, Acc ? rs + i : nullptr);
      return;
    }
  }
  for (; i + MR <= m; i += MR) {
    if (MR == 6 && m - i == 8) break;  // 8 rows as 4 + 4, not 6 + a 2-row tile (too few accumulators)
    flash_rows<V, MR, NV, Acc>(n, seg, nseg, a + i * rsa, rsa, csa, ldb, c + i * ldc, ldc, Acc ? rs + i : nullptr);
  }
  if constexpr (MR > 4) {  // tall tiles (narrow query tiles): the rest in tiles of 4 rows first
    for (; i + 4 <= m; i += 4)
      flash_rows<V, 4, NV, Acc>(n, seg, nseg, a + i * rsa, rsa, csa, ldb, c + i * ldc, ldc, Acc ? rs + i : nullptr);
  }
  const float* ai = a + i * rsa;
  float* ci = c + i * ldc;
  const float* ri = Acc ? rs + i : nullptr;
  const int64_t rest = m - i;
  if (rest == 1) return flash_rows<V, 1, NV, Acc>(n, seg, nseg, ai, rsa, csa, ldb, ci, ldc, ri);
  if constexpr (MR > 2) {
    if (rest == 2) return flash_rows<V, 2, NV, Acc>(n, seg, nseg, ai, rsa, csa, ldb, ci, ldc, ri);
  }
  if constexpr (MR > 3) {
    if (rest == 3) return flash_rows<V, 3, NV, Acc>(n, seg, nseg, ai, rsa, csa, ldb, ci, ldc, ri);
  }
}

// C[m × n] (=, or row-scaled +=) A · B over depth k, B row p at b + p * ldb.
template <class V, int MR, int NV, bool Acc>
inline void flash_gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t rsa, int64_t csa, const float* b,
                       int64_t ldb, float* c, int64_t ldc, const float* rs) {
  const FlashSeg one{b, k};
  flash_gemm_seg<V, MR, NV, Acc>(m, n, &one, 1, a, rsa, csa, ldb, c, ldc, rs);
}

// Register tiles: Sᵀ = K · Qt has Bq columns (a whole number of vectors), 4 keys × 3 vectors; O += P · V runs
// along D, 3 queries × 4 vectors (12 accumulators; the fourth vector of B is read from memory by the FMA
// where registers run out), so D = 64 is two full tiles in AVX2 (flash_step's O update takes other tiles on
// AVX2: flash_pv below, also used by the LSH and local attention items).
constexpr int kQkRows = 4, kQkVecs = 3, kPvRows = 3, kPvVecs = 4;

// One register tile: C[MR × NV·W] (=, or scaled by rs[i] then +=) A · B over depth k, B row p (contiguous) at
// b + p * ldb, A(i, p) at a[i * rsa + p * csa]: flash_tile for one segment and no tail, as its own function so that
// the accumulators stay in registers from start to end (flash_tile's loop over segments made GCC spill them).
template <class V, int MR, int NV, bool Acc>
inline void flash_tile1(int64_t k, const float* a, int64_t rsa, int64_t csa, const float* b, int64_t ldb, float* c,
                        int64_t ldc, const float* rs) {
  using R = typename V::reg;
  constexpr int W = V::W;
  R acc[MR][NV];
  if constexpr (Acc) {
    for (int i = 0; i < MR; ++i) {
      const R s = V::set1(rs[i]);
      for (int v = 0; v < NV; ++v) acc[i][v] = V::mul(V::load(c + i * ldc + v * W), s);
    }
  } else {
    for (int i = 0; i < MR; ++i)
      for (int v = 0; v < NV; ++v) acc[i][v] = V::zero();
  }
#pragma GCC unroll 4  // as in flash_tile
  for (int64_t p = 0; p < k; ++p, a += csa, b += ldb) {
    R bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = V::load(b + v * W);
    for (int i = 0; i < MR; ++i) {
      const R av = V::set1(a[i * rsa]);
      for (int v = 0; v < NV; ++v) acc[i][v] = V::fma(av, bv[v], acc[i][v]);
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) V::store(c + i * ldc + v * W, acc[i][v]);
}

// O[m × n] = rs[i] · O + Pᵀᵀ · V (the PV product of flash_step). With 16 vector registers (AVX2) a 3 × 4 tile
// re-reads its fourth vector of V from memory for every row (9 loads per 12 FMAs); when n is whole vectors the
// columns are instead taken as 4 × 3 tiles (7 loads per 12 FMAs) and a last block of 2 (or 4) vectors in
// 6 × 2 tiles (8 loads). Each element's sum runs over p in the same order whatever the tile, so the result is
// bitwise that of the 3 × 4 tiles. Acc = false: O = Pᵀᵀ · V (O not read: its first update, when O = 0 and
// alpha = 0 would give the same bits). With one segment (flash's key tile, LSH) the column strips are the outer
// loop: one strip of V (the keys × 3 or 2 vectors, 6 KiB at 64 keys) stays in L1 while all the rows pass over
// it, instead of the whole V tile (16 KiB) being re-read by every row block next to Pᵀ and O; measured about 5%
// faster for all of flash attention at N = 4096 and 8192 (PV's share of the time about that of QK, down from
// 1.2 times it).
template <class V, bool Acc = true>
inline void flash_pv(int64_t m, int64_t n, const FlashSeg* seg, int64_t nseg, const float* a, int64_t rsa,
                     int64_t csa, int64_t ldb, float* c, int64_t ldc, const float* rs) {
  constexpr int64_t W = V::W;
  if constexpr (W == 8) {
    if (nseg == 1 && n % W == 0 && n >= 2 * W) {
      // one segment (flash, LSH): column strips outer, so that one strip of B (k rows × 3 or 2 vectors) stays in L1
      // while every row of A passes over it, in tiles of one fixed shape that keep their sums in registers
      const int64_t nv = n / W, r = nv % 3;
      const int64_t n3 = (r == 1 ? nv - 4 : nv - r) * W;  // columns in 4 × 3 tiles; the rest (0, 2 or 4 vectors) 6 × 2
      const float* b = seg[0].b;
      const int64_t k = seg[0].n;
      for (int64_t j = 0; j < n; j += j < n3 ? 3 * W : 2 * W) {
        int64_t i = 0;
        if (j < n3) {
          for (; i + 4 <= m; i += 4)
            flash_tile1<V, 4, 3, Acc>(k, a + i * rsa, rsa, csa, b + j, ldb, c + i * ldc + j, ldc, Acc ? rs + i : nullptr);
        } else {
          for (; i + 6 <= m && m - i != 8; i += 6)
            flash_tile1<V, 6, 2, Acc>(k, a + i * rsa, rsa, csa, b + j, ldb, c + i * ldc + j, ldc, Acc ? rs + i : nullptr);
        }
        if (i < m) {  // the last rows (fewer than a tile): the general tiles
          const FlashSeg sh{b + j, k};
          if (j < n3)
            flash_gemm_seg<V, 4, 3, Acc>(m - i, 3 * W, &sh, 1, a + i * rsa, rsa, csa, ldb, c + i * ldc + j, ldc, Acc ? rs + i : nullptr);
          else
            flash_gemm_seg<V, 6, 2, Acc>(m - i, 2 * W, &sh, 1, a + i * rsa, rsa, csa, ldb, c + i * ldc + j, ldc, Acc ? rs + i : nullptr);
        }
      }
      return;
    }
    if (n % W == 0 && n >= 2 * W) {
      const int64_t nv = n / W, r = nv % 3;
      const int64_t n3 = (r == 1 ? nv - 4 : nv - r) * W;  // columns in 4 × 3 tiles; the rest (0, 2 or 4 vectors) 6 × 2
      if (n3 > 0) flash_gemm_seg<V, 4, 3, Acc>(m, n3, seg, nseg, a, rsa, csa, ldb, c, ldc, rs);
      if (n3 < n) {  // B's columns from n3 on: the same segments, shifted
        FlashSeg sh[kFlashBk];
        for (int64_t s = 0; s < nseg; ++s) sh[s] = FlashSeg{seg[s].b + n3, seg[s].n};
        flash_gemm_seg<V, 6, 2, Acc>(m, n - n3, sh, nseg, a, rsa, csa, ldb, c + n3, ldc, rs);
      }
      return;
    }
  }
  flash_gemm_seg<V, kPvRows, kPvVecs, Acc>(m, n, seg, nseg, a, rsa, csa, ldb, c, ldc, rs);
}

// x[0:n] *= s
template <class V>
inline void flash_scale_row(float* x, int64_t n, float s) {
  constexpr int64_t W = V::W;
  const typename V::reg vs = V::set1(s);
  int64_t d = 0;
  for (; d + W <= n; d += W) V::store(x + d, V::mul(V::load(x + d), vs));
  if (d < n) {
    const size_t t = static_cast<size_t>(n - d);
    V::store_tail(x + d, V::mul(V::load_tail(x + d, t), vs), t);
  }
}

// e^x for the softmax, where x = score - running max <= 0 (or -inf, or NaN): the range reduction and polynomial
// of simd::exp (same accuracy), without its handling of large and subnormal results, which cannot occur here:
// x is clamped to -87.3 (e^x stays a normal float), 2^n is built from the bits of the rounding constant, and
// x below the clamp (masked scores) gives exactly 0; NaN propagates.
template <class V>
inline typename V::reg flash_exp(typename V::reg x) {
  using R = typename V::reg;
  constexpr float kLo = -87.3f, kShift = 12582912.0f + 127.0f;  // 1.5 * 2^23 + 127: bits(t) << 23 = 2^n
  const R xc = V::max(V::set1(kLo), x);  // keeps a NaN x
  const R t = V::fma(xc, V::set1(simd::kLog2e), V::set1(kShift));
  const R n = V::sub(t, V::set1(kShift));
  R r = V::fma(n, V::set1(-simd::kLn2Hi), xc);
  r = V::fma(n, V::set1(-simd::kLn2Lo), r);
  const R p = V::fma(V::mul(r, r), simd::horner<V>(r, simd::kExpQ), V::add(r, V::set1(1.0f)));
  R scale;
#if defined(TF_SIMD_X86)
  if constexpr (V::W == 8) {
    scale = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(t), 23));
  } else if constexpr (V::W == 16) {
    scale = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_castps_si512(t), 23));
  } else {
    scale = V::ldexp(V::set1(1.0f), n);
  }
#else
  scale = V::ldexp(V::set1(1.0f), n);
#endif
  return V::select(V::lt(x, V::set1(kLo)), V::zero(), V::mul(p, scale));  // a NaN x stays NaN
}

// Rows of a work item: the (query, head) pairs of one (batch, key/value head), query-major: row r is query
// i = r / g of query head h = hk·g + r % g, with g = Hq / Hkv. Grouped-query heads thus share every K and V
// tile (decoding with GQA reads the cache once per key/value head, not once per query head), and a
// contiguous range of queries is a contiguous range of rows.
struct FlashCtx {
  int64_t b = 0, hk = 0, g = 1;
  const uint8_t* keep = nullptr;  // this batch row's key mask, or null
  const float* bias = nullptr;    // at this batch row, or null
};

// State of one tile of kFlashBq rows.
struct FlashTile {
  int64_t r0 = 0, qn = 0;          // first row and count
  int64_t ifirst = 0, ilast = 0;   // queries of the first and last row
  int64_t jlo = 0, jhi = -1;       // keys some row of the tile may see
  float* qt = nullptr;             // [D × Bq] scaled Qᵀ
  float* o = nullptr;              // O rows (in the output, or scratch), leading dimension ldo
  int64_t ldo = 0;
  float* m = nullptr;              // [Bq] running maximum
  float* l = nullptr;              // [Bq] running sum
  float* alpha = nullptr;          // [Bq] rescale of O for the current key tile
  uint32_t fresh = 0;              // bit c: the O rows of column group c (flash_step) not written yet
};

// The online-softmax update for one key tile: st holds its scores transposed (jn rows of `ld` floats, one
// column per query, columns [0, qc) used); per query, the running maximum m and sum l are updated, alpha
// gets the factor that rescales O, and st is overwritten with e^(s - m) (Pᵀ). Fully masked columns
// (-inf throughout) keep m = -inf and contribute 0. Flash, block-sparse and LSH attention share it.
template <class V>
inline void flash_online_softmax(float* st, int64_t ld, int64_t jn, int64_t qc, float* m, float* l, float* alpha) {
  using R = typename V::reg;
  constexpr int64_t W = V::W;
  constexpr float inf = std::numeric_limits<float>::infinity();
  for (int64_t c = 0; c < qc; c += W) {
    const R mo = V::load(m + c);
    R mx = mo;
    for (int64_t jj = 0; jj < jn; ++jj) mx = V::max(mx, V::load(st + jj * ld + c));
    const R ms = V::select(V::eq(mx, V::set1(-inf)), V::zero(), mx);  // no (-inf) - (-inf)
    const R al = flash_exp<V>(V::sub(mo, ms));
    R sum0 = V::zero(), sum1 = V::zero();
    int64_t jj = 0;
    for (; jj + 2 <= jn; jj += 2) {
      const R e0 = flash_exp<V>(V::sub(V::load(st + jj * ld + c), ms));
      const R e1 = flash_exp<V>(V::sub(V::load(st + (jj + 1) * ld + c), ms));
      V::store(st + jj * ld + c, e0);
      V::store(st + (jj + 1) * ld + c, e1);
      sum0 = V::add(sum0, e0);
      sum1 = V::add(sum1, e1);
    }
    if (jj < jn) {
      const R e0 = flash_exp<V>(V::sub(V::load(st + jj * ld + c), ms));
      V::store(st + jj * ld + c, e0);
      sum0 = V::add(sum0, e0);
    }
    V::store(l + c, V::add(V::mul(V::load(l + c), al), V::add(sum0, sum1)));
    V::store(m + c, mx);
    V::store(alpha + c, al);
  }
}

// A run of consecutive keys [j, j + n) of one (batch, key/value head); its K and V rows start at k and v.
struct FlashRun {  // no default member values: arrays of them are filled as needed, not zeroed first
  int64_t j, n;
  const float* k;
  const float* v;
};

// Columns (queries) per group that flash_step trims separately: a whole number of vectors, 8 at least.
template <class V>
constexpr int64_t flash_col_group() {
  return V::W >= 8 ? V::W : 8;
}

// One batch of keys for one row tile: the runs[0 .. nrun) (nondecreasing keys, at most kFlashBk in all; K and
// V rows ldk and ldv floats apart within a run): Sᵀ, masks, online softmax, O update. Flash passes one run (its
// key tile); block-sparse attention passes the runs of its present key blocks, read in place (Sᵀ one product
// per run; O += P·V one product whose depth walks the runs, flash_gemm_seg), so scattered blocks still make
// full-width tiles without being copied.
// Causal / right window: each group of flash_col_group() query columns only computes the prefix of the batch's
// keys that its last query may see (diagonal tiles and blocks: a staircase instead of the whole square). The
// keys it skips are masked for all of its queries anyway, so this only drops exact zeros from the sums.
template <class V>
inline void flash_step(const FlashParams& p, const FlashCtx& cx, FlashTile& t, const FlashRun* runs, int64_t nrun,
                       int64_t ldk, int64_t ldv, float* st) {
  constexpr int64_t W = V::W, BQ = kFlashBq, BK = kFlashBk, CW = flash_col_group<V>(), NG = BQ / CW;
  static_assert(BQ % CW == 0, "the query tile must be a whole number of column groups");
  constexpr float inf = std::numeric_limits<float>::infinity();
  const int64_t D = p.D, off = p.Nk - p.Nq, qn = t.qn, g = cx.g;
  const int64_t qc = (qn + W - 1) / W * W;  // columns computed: the tile's rows, whole vectors (decode: 1 vector)
  const int64_t ng = (qc + CW - 1) / CW;
  int64_t jn = 0;
  for (int64_t s = 0; s < nrun; ++s) jn += runs[s].n;
  const int64_t jfirst = runs[0].j, jlast = runs[nrun - 1].j + runs[nrun - 1].n - 1;
  // cn[c]: the keys [0, cn[c]) of the batch that column group c computes (a prefix: keys never decrease)
  int64_t cn[NG] = {};
  for (int64_t c = 0; c < ng; ++c) {
    const int64_t jm = (t.r0 + std::min(qn, (c + 1) * CW) - 1) / g + off + p.right;  // last key the group sees
    if (jm >= jlast) {
      cn[c] = jn;
      continue;
    }
    int64_t k = 0;
    for (int64_t s = 0; s < nrun && runs[s].j <= jm; ++s) k += std::min(runs[s].n, jm - runs[s].j + 1);
    cn[c] = k;
  }
  const int64_t jused = cn[ng - 1];  // keys past it are seen by no row of the tile
  // Sᵀ[ra, rb) × columns [c0, qc) = K rows · Qt, run by run. A narrow product (decoding, small block-sparse
  // blocks, the last groups of a staircase) has 1 or 2 vectors of queries: taller register tiles then keep
  // enough independent accumulators (12 keys × 1 vector, 6 × 2) to hide the FMA latency; 4 vectors (block 32,
  // staircase groups) are two 6 × 2 column blocks, not 4 × 3 plus a 4 × 1 remainder of 4 accumulators. Each
  // element's sum over D runs in the same order whatever the tile shape.
  auto qk = [&](int64_t ra, int64_t rb, int64_t c0) {
    const int64_t nc = qc - c0;
    int64_t base = 0;
    for (int64_t s = 0; s < nrun && base < rb; ++s) {
      const int64_t a = std::max(ra, base), e = std::min(rb, base + runs[s].n);
      if (a < e) {
        const float* kr = runs[s].k + (a - base) * ldk;
        float* sr = st + a * BQ + c0;
        if (nc <= W)
          flash_gemm<V, 12, 1, false>(e - a, nc, D, kr, ldk, 1, t.qt + c0, BQ, sr, BQ, nullptr);
        else if (nc <= 2 * W || nc == 4 * W)
          flash_gemm<V, 6, 2, false>(e - a, nc, D, kr, ldk, 1, t.qt + c0, BQ, sr, BQ, nullptr);
        else
          flash_gemm<V, kQkRows, kQkVecs, false>(e - a, nc, D, kr, ldk, 1, t.qt + c0, BQ, sr, BQ, nullptr);
      }
      base += runs[s].n;
    }
  };
  // a staircase group's keys that the groups before it do not see take at least 2 vectors of columns when the tile
  // has them (the earlier groups' columns then hold scores of keys they never read): 1-vector products with few
  // keys leave too few independent sums to hide the FMA latency
  const int64_t cmax = qc >= 2 * W ? qc - 2 * W : 0;
  for (int64_t c = 0, done = 0; c < ng; ++c) {
    if (cn[c] > done) qk(done, cn[c], std::min(c * CW, cmax));
    done = std::max(done, cn[c]);
  }
  if (cx.bias) {  // flash only: one run
    const int64_t j0 = runs[0].j;
    for (int64_t r = 0; r < qn; ++r) {
      const int64_t rr = t.r0 + r, i = rr / g, h = cx.hk * g + rr % g, kn = cn[r / CW];
      const float* br = cx.bias + h * p.bias_sh + i * p.bias_sq + j0 * p.bias_sk;
      for (int64_t jj = 0; jj < kn; ++jj) st[jj * BQ + r] += br[jj * p.bias_sk];
    }
  }
  // window / causal: key j is visible to query i iff j - off - right <= i <= j - off + left, i.e. to the rows
  // [ia·g, (ib + 1)·g) (clamped first: the sides may be "unbounded")
  const bool inside = t.ilast + off - p.left <= jfirst && t.ifirst + off + p.right >= jlast;
  if (cx.keep || !inside) {
    int64_t jmap[BK];
    for (int64_t s = 0, jj = 0; s < nrun && jj < jused; ++s)
      for (int64_t x = 0; x < runs[s].n && jj < jused; ++x) jmap[jj++] = runs[s].j + x;
    if (cx.keep) {
      for (int64_t jj = 0; jj < jused; ++jj)
        if (!cx.keep[jmap[jj]])
          for (int64_t r = 0; r < qc; ++r) st[jj * BQ + r] = -inf;
    }
    if (!inside) {
      // keys every query of the tile sees need nothing (their columns past qn are padding, never read)
      const int64_t all_lo = t.ilast + off - p.left, all_hi = t.ifirst + off + p.right;
      for (int64_t jj = 0; jj < jused; ++jj) {
        const int64_t j = jmap[jj];
        if (j >= all_lo && j <= all_hi) continue;
        const int64_t ia = std::max<int64_t>(-1, std::min<int64_t>(p.Nq, j - off - p.right));
        const int64_t ib = std::max<int64_t>(-1, std::min<int64_t>(p.Nq, j - off + p.left));
        const int64_t ra = std::max<int64_t>(0, std::min<int64_t>(qc, ia * g - t.r0));
        const int64_t rb = std::max<int64_t>(ra, std::min<int64_t>(qc, (ib + 1) * g - t.r0));
        float* row = st + jj * BQ;
        for (int64_t r = 0; r < ra; ++r) row[r] = -inf;
        for (int64_t r = rb; r < qc; ++r) row[r] = -inf;
      }
    }
  }
  // per run of column groups with the same key count: online softmax across the rows (W at a time), Pᵀ in
  // place, then O = alpha · O + Pᵀᵀ · V in one product whose depth runs over the runs of keys in turn (each V
  // run read in place, the sums kept in registers from one run to the next)
  // O rows not written yet (t.fresh: no earlier batch had a key for their column group) are set, not updated:
  // O = 0 and alpha = 0 there, so the update would give the same bits; this spares zeroing O up front
  auto fresh = [&](int64_t c) { return (t.fresh >> c) & 1u; };
  for (int64_t c = 0; c < ng;) {
    int64_t e = c + 1;
    while (e < ng && cn[e] == cn[c] && fresh(e) == fresh(c)) ++e;
    const int64_t c0 = c * CW, c1 = std::min(qc, e * CW), r1 = std::min(qn, e * CW), kn = cn[c];
    if (kn > 0) {  // else nothing changes (alpha = 1, or O = 0 and alpha = 0 before the first visible key)
      flash_online_softmax<V>(st + c0, BQ, kn, c1 - c0, t.m + c0, t.l + c0, t.alpha + c0);
      FlashSeg seg[BK];
      int64_t nseg = 0;
      for (int64_t s = 0, base = 0; s < nrun && base < kn; base += runs[s].n, ++s)
        seg[nseg++] = FlashSeg{runs[s].v, std::min(runs[s].n, kn - base)};
      if (fresh(c)) {
        flash_pv<V, false>(r1 - c0, D, seg, nseg, st + c0, 1, BQ, ldv, t.o + c0 * t.ldo, t.ldo, nullptr);
        t.fresh &= ~(((1u << (e - c)) - 1u) << c);
      } else {
        flash_pv<V>(r1 - c0, D, seg, nseg, st + c0, 1, BQ, ldv, t.o + c0 * t.ldo, t.ldo, t.alpha + c0);
      }
    }
    c = e;
  }
}

// Sets up a row tile whose r0 and qn are set: Qt = (scale · Q rows)ᵀ with zero columns past qn up to the
// columns flash_step computes (qn rounded up to whole vectors: a narrow block-sparse tile does not pay for
// the BQ - qn columns it never reads), m = -inf, l = 0, and every column group's O rows marked fresh (O = 0 in
// effect: flash_step sets them on their first update, flash_tile_end zeroes those it never updated).
// q_row(r) points to row r's query.
template <class V, class QRow>
inline void flash_tile_begin(const FlashParams& p, FlashTile& s, QRow q_row) {
  constexpr int64_t BQ = kFlashBq;
  constexpr float inf = std::numeric_limits<float>::infinity();
  const int64_t D = p.D, qc = (s.qn + V::W - 1) / V::W * V::W;
  int64_t r = 0;
#if defined(TF_SIMD_X86)
  if constexpr (V::W >= 8) {  // 8 rows at a time when they are equally spaced: 8 × 8 transposes, scaled below
    for (; r + 8 <= s.qn; r += 8) {
      const float* q0 = q_row(s.r0 + r);
      const int64_t ld = q_row(s.r0 + r + 1) - q0;
      bool even = true;
      for (int64_t i = 2; i < 8 && even; ++i) even = q_row(s.r0 + r + i) == q0 + i * ld;
      if (!even) break;
      int64_t d = 0;
      for (; d + 8 <= D; d += 8) simd::transpose_8x8(q0 + d, ld, s.qt + d * BQ + r, BQ);
      for (; d < D; ++d)
        for (int64_t i = 0; i < 8; ++i) s.qt[d * BQ + r + i] = q0[i * ld + d];
    }
    for (int64_t d = 0; d < D; ++d) {
      float* row = s.qt + d * BQ;
      for (int64_t i = 0; i < r; ++i) row[i] *= p.scale;
    }
  }
#endif
  for (; r < s.qn; ++r) {
    const float* qi = q_row(s.r0 + r);
    for (int64_t d = 0; d < D; ++d) s.qt[d * BQ + r] = qi[d] * p.scale;
  }
  static_assert(kFlashBq / flash_col_group<V>() <= 32, "fresh is a 32-bit mask");
  s.fresh = static_cast<uint32_t>((uint64_t{1} << ((s.qn + flash_col_group<V>() - 1) / flash_col_group<V>())) - 1);
  if (qc > s.qn)
    for (int64_t d = 0; d < D; ++d)
      for (int64_t i = s.qn; i < qc; ++i) s.qt[d * BQ + i] = 0.0f;
  for (int64_t r = 0; r < BQ; ++r) {
    s.m[r] = -inf;
    s.l[r] = 0.0f;
  }
}

// Finishes a row tile: out = O / l (zeros where l = 0), copied to out_row(r) when O was packed; lse_at(r)
// (a float*, or null) gets m + log l (-inf where l = 0).
template <class V, class OutRow, class LseAt>
inline void flash_tile_end(const FlashParams& p, FlashTile& s, bool pack_o, OutRow out_row, LseAt lse_at) {
  constexpr float inf = std::numeric_limits<float>::infinity();
  const int64_t D = p.D;
  for (int64_t r = 0; r < s.qn; ++r) {
    const float li = s.l[r];
    if ((s.fresh >> (r / flash_col_group<V>())) & 1u)  // never updated (no visible key): O = 0
      std::memset(s.o + r * s.ldo, 0, static_cast<size_t>(D) * sizeof(float));
    else
      flash_scale_row<V>(s.o + r * s.ldo, D, li > 0.0f ? 1.0f / li : 0.0f);
    const int64_t rr = s.r0 + r;
    if (pack_o) std::memcpy(out_row(rr), s.o + r * s.ldo, static_cast<size_t>(D) * sizeof(float));
    if (float* lp = lse_at(rr)) *lp = li > 0.0f ? s.m[r] + std::log(li) : -inf;
  }
}

// Keys [j0, j0 + jn) (jn <= kFlashBk) against the tn row tiles that see some of them: skipped when all are
// padding; K and V rows read in place when contiguous ([B, H, N, D]), otherwise ([B, N, H, D], rows H·D apart)
// copied into kpack / vpack first, since the products re-read them many times and rows that far apart thrash
// the L1 cache sets and the TLB. kb, vb: key and value row 0 of this (batch, key/value head).
template <class V>
inline void flash_keys(const FlashParams& p, const FlashCtx& cx, FlashTile* tiles, int64_t tn, int64_t j0, int64_t jn,
                       const float* kb, const float* vb, float* kpack, float* vpack, float* st) {
  const int64_t D = p.D;
  if (cx.keep) {  // a tile of padding only changes nothing (alpha = 1, P = 0 exactly): skip it
    bool any = false;
    for (int64_t jj = 0; jj < jn && !any; ++jj) any = cx.keep[j0 + jj] != 0;
    if (!any) return;
  }
  const float* kt = kb + j0 * p.k_sn;
  const float* vt = vb + j0 * p.v_sn;
  int64_t ldk = p.k_sn, ldv = p.v_sn;
  bool packed = false;
  for (int64_t t = 0; t < tn; ++t) {
    FlashTile& s = tiles[t];
    if (s.jlo > s.jhi || s.jhi < j0 || s.jlo >= j0 + jn) continue;  // no key of this tile is visible
    if (!packed && ldk != D) {
      for (int64_t jj = 0; jj < jn; ++jj) std::memcpy(kpack + jj * D, kt + jj * ldk, static_cast<size_t>(D) * sizeof(float));
      kt = kpack;
      ldk = D;
    }
    if (!packed && ldv != D) {
      for (int64_t jj = 0; jj < jn; ++jj) std::memcpy(vpack + jj * D, vt + jj * ldv, static_cast<size_t>(D) * sizeof(float));
      vt = vpack;
      ldv = D;
    }
    packed = true;
    const FlashRun run{j0, jn, kt, vt};
    flash_step<V>(p, cx, s, &run, 1, ldk, ldv, st);
  }
}

// One work item: up to kFlashGroup row tiles of one (batch, key/value head), which share each K and V tile
// while it is in cache. Each row's arithmetic is the same whatever the grouping of rows into tiles and items.
template <class V>
void flash_item(const FlashParams& p, int64_t item, float* scratch) {
  constexpr int64_t BQ = kFlashBq, BK = kFlashBk, G = kFlashGroup;
  static_assert(BQ % V::W == 0, "the query tile must be a whole number of vectors");
  const int64_t D = p.D, Nq = p.Nq, Nk = p.Nk, off = Nk - Nq, g = p.Hq / p.Hkv;
  const int64_t nrows = Nq * g, ntiles = (nrows + BQ - 1) / BQ, ngroups = (ntiles + G - 1) / G;
  FlashCtx cx;
  const int64_t grp = item % ngroups, bh = item / ngroups;
  cx.hk = bh % p.Hkv;
  cx.b = bh / p.Hkv;
  cx.g = g;
  cx.keep = p.key_keep ? p.key_keep + cx.b * Nk : nullptr;
  cx.bias = p.bias ? p.bias + cx.b * p.bias_sb : nullptr;
  const int64_t t0 = grp * G, tn = std::min(G, ntiles - t0);
  const float* kb = p.k + cx.b * p.k_sb + cx.hk * p.k_sh;
  const float* vb = p.v + cx.b * p.v_sb + cx.hk * p.v_sh;
  // O in place when a tile's rows are rows of the output at a constant stride (one query head per key/value
  // head, [B, H, N, D]); otherwise in scratch, copied out at the end
  const bool pack_o = g != 1 || p.o_sn != D;
  auto q_row = [&](int64_t r) { return p.q + cx.b * p.q_sb + (cx.hk * g + r % g) * p.q_sh + (r / g) * p.q_sn; };
  auto out_row = [&](int64_t r) { return p.out + cx.b * p.o_sb + (cx.hk * g + r % g) * p.o_sh + (r / g) * p.o_sn; };
  auto lse_at = [&](int64_t r) { return p.lse ? p.lse + (cx.b * p.Hq + cx.hk * g + r % g) * Nq + r / g : nullptr; };

  // scratch: Sᵀ [BK × BQ], K and V tiles [BK × D] each, then per row tile Qt [D × BQ], O [BQ × D], m, l, alpha
  float* st = scratch;
  float* kpack = st + BK * BQ;
  float* vpack = kpack + BK * D;
  float* per_tile = vpack + BK * D;
  FlashTile tiles[G];
  int64_t jlo = Nk, jhi = -1;
  for (int64_t t = 0; t < tn; ++t) {
    FlashTile& s = tiles[t];
    float* base = per_tile + t * (2 * D * BQ + 3 * BQ);
    s.r0 = (t0 + t) * BQ;
    s.qn = std::min(BQ, nrows - s.r0);
    s.ifirst = s.r0 / g;
    s.ilast = (s.r0 + s.qn - 1) / g;
    s.qt = base;
    s.o = pack_o ? base + D * BQ : out_row(s.r0);
    s.ldo = pack_o ? D : p.o_sn;
    s.m = base + 2 * D * BQ;
    s.l = s.m + BQ;
    s.alpha = s.l + BQ;
    s.jlo = std::max<int64_t>(0, s.ifirst + off - p.left);
    s.jhi = std::min<int64_t>(Nk - 1, s.ilast + off + p.right);
    if (s.jlo <= s.jhi) {
      jlo = std::min(jlo, s.jlo);
      jhi = std::max(jhi, s.jhi);
    }
    flash_tile_begin<V>(p, s, q_row);
  }

  for (int64_t j0 = jlo <= jhi ? jlo / BK * BK : Nk; j0 <= jhi; j0 += BK)
    flash_keys<V>(p, cx, tiles, tn, j0, std::min(BK, Nk - j0), kb, vb, kpack, vpack, st);

  for (int64_t t = 0; t < tn; ++t) flash_tile_end<V>(p, tiles[t], pack_o, out_row, lse_at);
}

template <class V>
void fill_flash(Kernels& k) {
  k.flash_attention_f32 = flash_item<V>;
}

}  // namespace
}  // namespace tf
