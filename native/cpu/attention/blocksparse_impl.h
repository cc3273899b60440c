// Block-sparse attention work item, over flash's tile code (flash_impl.h, included first). Included by
// flash.cc (scalar) and inside the target regions of flash_avx2.cc and flash_avx512.cc, which register it.
#pragma once
#include "blocksparse.h"
#include "flash_impl.h"

namespace tf {
namespace {

// A prefetch that the compiler keeps: GCC treats __builtin_prefetch as free of side effects and deletes a loop
// (or a call) that only prefetches.
inline void blocksparse_prefetch(const float* x) {
#if defined(TF_SIMD_X86) && (defined(__GNUC__) || defined(__clang__))
  asm volatile("prefetcht0 %0" : : "m"(*reinterpret_cast<const char*>(x)));
#elif defined(TF_SIMD_X86)
  _mm_prefetch(reinterpret_cast<const char*>(x), _MM_HINT_T0);
#else
  (void)x;
#endif
}

// The query rows of the item after `item` (the next block row, usually the same thread's next item). With small
// blocks an item's query rows are a page or two that the hardware prefetchers do not fetch ahead (they start
// over on each page), and the first thing the item does is transpose them: loaded on demand, they stalled it
// (block 16: about a tenth of the time). Measured: also prefetching the next item's output rows and its new K and
// V blocks was slower (too many misses in flight at once). Only a hint: results do not depend on it.
// Issued in two halves (half 0: the first half of the rows, once this item's query rows are in; half 1: the rest,
// after its keys): a block-16 row is 64 lines, more than the core's outstanding L1 misses, and the prefetches
// stalled the item until the first ones had landed (measured: block 16 about 2-7% faster in halves).
inline void blocksparse_prefetch_next_q(const BlockSparseParams& bp, int64_t item, int half) {
  const FlashParams& p = bp.f;
  const int64_t blk = bp.block, nqb = (p.Nq + blk - 1) / blk, D = p.D;
  if (item + 1 >= blocksparse_items(bp)) return;
  const int64_t qb = (item + 1) % nqb, bh = (item + 1) / nqb, h = bh % p.Hq, b = bh / p.Hq;
  const int64_t row0 = qb * blk, nrow = std::min(blk, p.Nq - row0);
  const float* q0 = p.q + b * p.q_sb + h * p.q_sh + row0 * p.q_sn;
  for (int64_t r = half == 0 ? 0 : nrow / 2, re = half == 0 ? nrow / 2 : nrow; r < re; ++r) {
    const float* x = q0 + r * p.q_sn;
    for (int64_t d = 0; d < D; d += 16) blocksparse_prefetch(x + d);
    blocksparse_prefetch(x + D - 1);  // rows need not start on a cache line
  }
}

// flash_tile_begin (flash_impl.h) for a block row's tiles: with AVX2, whole groups of 8 query rows are read 8 × 8
// at a time, scaled in registers and transposed into Qt in one pass (flash_tile_begin transposes, then scales Qt in
// a second pass; measured: block 16 about 6% faster per call in one pass, block 32 about 1-3%); m and l are set only
// for the columns flash_step reads (qn, whole vectors here). Each element of Qt is q · scale, as there: the same
// bits. Other shapes (rows not a multiple of 8, D not a multiple of 8, other levels) take flash_tile_begin.
template <class V, class QRow>
inline void blocksparse_tile_begin(const FlashParams& p, FlashTile& s, QRow q_row) {
#if defined(TF_SIMD_X86)
  if constexpr (V::W == 8) {
    constexpr int64_t BQ = kFlashBq;
    constexpr float inf = std::numeric_limits<float>::infinity();
    const int64_t D = p.D;
    if (s.qn % 8 == 0 && D % 8 == 0) {
      const float* q0 = q_row(s.r0);
      const int64_t ld = q_row(s.r0 + 1) - q0;  // a block row's query rows are equally spaced (one query head)
      const __m256 sc = _mm256_set1_ps(p.scale);
      for (int64_t r = 0; r < s.qn; r += 8) {
        for (int64_t d = 0; d < D; d += 8) {
          const float* x = q0 + r * ld + d;
          auto row = [&](int64_t i) { return _mm256_mul_ps(_mm256_loadu_ps(x + i * ld), sc); };
          simd::transpose_8x8_store(row(0), row(1), row(2), row(3), row(4), row(5), row(6), row(7), s.qt + d * BQ + r, BQ);
        }
      }
      static_assert(kFlashBq / flash_col_group<V>() <= 32, "fresh is a 32-bit mask");
      s.fresh = static_cast<uint32_t>((uint64_t{1} << (s.qn / flash_col_group<V>())) - 1);  // CW = 8 here
      for (int64_t r = 0; r < s.qn; ++r) {  // qn is whole vectors
        s.m[r] = -inf;
        s.l[r] = 0.0f;
      }
      return;
    }
  }
#endif
  flash_tile_begin<V>(p, s, q_row);
}

// One work item: the block row qb of query head h of batch b, in up to kFlashGroup row tiles of kFlashBq
// rows, against the present key blocks of that row (and the extra keys).
template <class V>
void blocksparse_item(const BlockSparseParams& bp, int64_t item, float* scratch) {
  constexpr int64_t BQ = kFlashBq, BK = kFlashBk;
  const FlashParams& p = bp.f;
  const int64_t blk = bp.block, nqb = (p.Nq + blk - 1) / blk, D = p.D, Nk = p.Nk, off = Nk - p.Nq;
  const int64_t qb = item % nqb, bh = item / nqb, h = bh % p.Hq, b = bh / p.Hq, hk = h / (p.Hq / p.Hkv);
  FlashCtx cx;
  cx.b = b;
  cx.hk = h;  // one query head per item: rows are queries (g = 1)
  cx.g = 1;
  cx.keep = p.key_keep ? p.key_keep + b * Nk : nullptr;
  const float* kb = p.k + b * p.k_sb + hk * p.k_sh;
  const float* vb = p.v + b * p.v_sb + hk * p.v_sh;
  const bool pack_o = p.o_sn != D;
  auto q_row = [&](int64_t r) { return p.q + b * p.q_sb + h * p.q_sh + r * p.q_sn; };
  auto out_row = [&](int64_t r) { return p.out + b * p.o_sb + h * p.o_sh + r * p.o_sn; };
  auto lse_at = [&](int64_t r) { return p.lse ? p.lse + (b * p.Hq + h) * p.Nq + r : nullptr; };

  float* st = scratch;  // the scratch layout of flash_item (its K and V tiles unused)
  float* per_tile = st + BK * BQ + 2 * BK * D;
  FlashTile tiles[kFlashGroup];
  const int64_t row0 = qb * blk, rows = std::min(blk, p.Nq - row0), tn = (rows + BQ - 1) / BQ;
  for (int64_t t = 0; t < tn; ++t) {
    FlashTile& s = tiles[t];
    float* base = per_tile + t * (2 * D * BQ + 3 * BQ);
    s.r0 = row0 + t * BQ;
    s.qn = std::min(BQ, row0 + rows - s.r0);
    s.ifirst = s.r0;
    s.ilast = s.r0 + s.qn - 1;
    s.qt = base;
    s.o = pack_o ? base + D * BQ : out_row(s.r0);
    s.ldo = pack_o ? D : p.o_sn;
    s.m = base + 2 * D * BQ;
    s.l = s.m + BQ;
    s.alpha = s.l + BQ;
    s.jlo = std::max<int64_t>(0, s.ifirst + off - p.left);
    s.jhi = std::min<int64_t>(Nk - 1, s.ilast + off + p.right);
    blocksparse_tile_begin<V>(p, s, q_row);
  }
  blocksparse_prefetch_next_q(bp, item, 0);  // once this item's query rows are in (fewer misses in flight at once)

  // Keys are taken kFlashBk at a time as runs of consecutive keys (consecutive present blocks make one run),
  // read in place by flash_step: scattered blocks still make full-width tiles, and nothing is copied. Batches
  // depend on the layout only (not on threads).
  FlashRun runs[BK];
  int64_t nr = 0, n = 0;
  auto add = [&](int64_t j, int64_t take) {
    if (nr > 0 && runs[nr - 1].j + runs[nr - 1].n == j)
      runs[nr - 1].n += take;
    else
      runs[nr++] = FlashRun{j, take, kb + j * p.k_sn, vb + j * p.v_sn};
    n += take;
  };

  // Extra keys (global keys): every row sees them, with no window and no padding mask.
  if (bp.extra_start) {
    FlashParams pe = p;
    pe.left = pe.right = kFlashUnbounded;
    FlashCtx cg = cx;
    cg.keep = nullptr;
    const int32_t* e = bp.extra_keys + bp.extra_start[b];
    const int64_t ne = bp.extra_start[b + 1] - bp.extra_start[b];
    for (int64_t e0 = 0; e0 < ne; e0 += BK) {
      for (int64_t jj = e0; jj < std::min(ne, e0 + BK); ++jj) add(e[jj], 1);
      for (int64_t t = 0; t < tn; ++t) flash_step<V>(pe, cg, tiles[t], runs, nr, p.k_sn, p.v_sn, st);
      nr = n = 0;
    }
  }

  // The present key blocks in ascending order (a block may repeat: it then counts again), clipped to the keys
  // this block row may see.
  const int64_t lr = (bp.layout_heads == 1 ? 0 : h) * nqb + qb;
  const int32_t* c = bp.cols + bp.row_start[lr];
  const int32_t* ce = bp.cols + bp.row_start[lr + 1];
  const int64_t jmin = tiles[0].jlo;        // window: no key before it is visible to this block row
  const int64_t jmax = tiles[tn - 1].jhi;  // causal / window: no key past it is visible to this block row
  auto flush = [&] {
    if (n == 0) return;
    bool any = cx.keep == nullptr;  // a batch of padding only changes nothing
    for (int64_t s = 0; s < nr && !any; ++s)
      for (int64_t jj = 0; jj < runs[s].n && !any; ++jj) any = cx.keep[runs[s].j + jj] != 0;
    if (any) {
      const int64_t jf = runs[0].j, jl = runs[nr - 1].j + runs[nr - 1].n - 1;
      for (int64_t t = 0; t < tn; ++t) {
        FlashTile& s = tiles[t];
        if (s.jhi < jf || s.jlo > jl) continue;  // no key of the batch is visible to this tile
        flash_step<V>(p, cx, s, runs, nr, p.k_sn, p.v_sn, st);
      }
    }
    nr = n = 0;
  };
  for (; c < ce; ++c) {
    const int64_t z = std::min<int64_t>((int64_t{*c} + 1) * blk, jmax + 1);
    for (int64_t j = std::max<int64_t>(int64_t{*c} * blk, jmin); j < z;) {
      const int64_t take = std::min(z - j, BK - n);
      add(j, take);
      j += take;
      if (n == BK) flush();
    }
  }
  flush();
  blocksparse_prefetch_next_q(bp, item, 1);

  for (int64_t t = 0; t < tn; ++t) flash_tile_end<V>(p, tiles[t], pack_o, out_row, lse_at);
}

#if defined(TF_SIMD_X86)
// The row-major item for small blocks (blocksparse.h: BlockSparseKt, blocksparse_rows_ok), 8 lanes (AVX2) only.

// Builds the Kᵀ panels [t0, t1] of the cache's head that are not built yet: panel t holds keys [8t, 8t + 8) as
// [D][8] (zeros past Nk). kb: key row 0 of the head, rows k_sn apart.
template <class V>
inline void blocksparse_rows_panels(const FlashParams& p, const float* kb, BlockSparseKt& kt, int64_t t0, int64_t t1) {
  const int64_t D = p.D, ld = p.k_sn;
  for (int64_t t = t0; t <= t1; ++t) {
    if (kt.built[t]) continue;
    kt.built[t] = 1;
    float* dst = kt.panels + t * 8 * D;
    const float* src = kb + 8 * t * ld;
    const int64_t nk = std::min<int64_t>(8, p.Nk - 8 * t);
    int64_t d = 0;
    if (nk == 8)
      for (; d + 8 <= D; d += 8) simd::transpose_8x8(src + d, ld, dst + d * 8, 8);
    for (; d < D; ++d)
      for (int64_t x = 0; x < 8; ++x) dst[d * 8 + x] = x < nk ? src[x * ld + d] : 0.0f;
  }
}

// One register tile of S: rows [MR] × NV vectors of 8 keys, s[i · lds + 8v + x] = scale · q_i · k_x of panel v
// (panels 8·D floats apart from kp), over D in order; Mask: -inf where x + 8v > lim[i] (a key past the row's last
// visible key, or past the run). Each row's running maximum (8 lanes at mx + 8i) takes the tile's scores in too.
// Its own function, not inlined into the item: inlined, GCC kept some accumulators on the stack (a store-to-load
// chain per step of D, measured 1.4 times slower overall).
template <class V, int MR, int NV, bool Mask>
__attribute__((noinline)) void blocksparse_rows_qk(int64_t D, const float* q, int64_t ldq, const float* kp, float* s,
                                                   int64_t lds, float scale, const int64_t* lim, float* mx) {
  static_assert(NV == 1 || NV == 2, "one or two vectors of keys");
  using R = typename V::reg;
  R acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) acc[i][v] = V::zero();
  const float* k1 = kp + 8 * D;
#pragma GCC unroll 4  // fewer loop instructions per step (as in flash_tile)
  for (int64_t d = 0; d < D; ++d, kp += 8, k1 += 8, ++q) {
    R kv[NV];
    kv[0] = V::load(kp);
    if constexpr (NV > 1) kv[1] = V::load(k1);
    for (int i = 0; i < MR; ++i) {
      const R a = V::set1(q[i * ldq]);
      for (int v = 0; v < NV; ++v) acc[i][v] = V::fma(a, kv[v], acc[i][v]);
    }
  }
  const R sc = V::set1(scale);
  const R iota = _mm256_setr_ps(0.0f, 1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f, 7.0f);
  for (int i = 0; i < MR; ++i) {
    R m = V::load(mx + 8 * i);
    for (int v = 0; v < NV; ++v) {
      R x = V::mul(acc[i][v], sc);
      if constexpr (Mask) {
        const float li = static_cast<float>(std::max<int64_t>(-1, std::min<int64_t>(8 * NV, lim[i])) - 8 * v);
        x = V::select(V::gt(iota, V::set1(li)), V::set1(-std::numeric_limits<float>::infinity()), x);
      }
      V::store(s + i * lds + v * 8, x);
      m = V::max(m, x);
    }
    V::store(mx + 8 * i, m);
  }
}

template <class V, int MR>
inline void blocksparse_rows_qk_n(int64_t nv, bool mask, int64_t D, const float* q, int64_t ldq, const float* kp,
                                  float* s, int64_t lds, float scale, const int64_t* lim, float* mx) {
  if (nv == 2) {
    if (mask)
      blocksparse_rows_qk<V, MR, 2, true>(D, q, ldq, kp, s, lds, scale, lim, mx);
    else
      blocksparse_rows_qk<V, MR, 2, false>(D, q, ldq, kp, s, lds, scale, lim, mx);
  } else {
    if (mask)
      blocksparse_rows_qk<V, MR, 1, true>(D, q, ldq, kp, s, lds, scale, lim, mx);
    else
      blocksparse_rows_qk<V, MR, 1, false>(D, q, ldq, kp, s, lds, scale, lim, mx);
  }
}

// One work item (the block row qb of query head h of batch b), keys in batches of up to kBlockSparseRowsKeys
// columns of S (each run of consecutive keys padded to whole vectors of 8).
template <class V>
void blocksparse_rows_item(const BlockSparseParams& bp, int64_t item, float* scratch, BlockSparseKt& kt) {
  using R = typename V::reg;
  constexpr int64_t KB = kBlockSparseRowsKeys, MB = kBlockSparseRowsMaxBlock;
  constexpr int64_t RG = 8;  // rows per P·V group (kn)
  constexpr float inf = std::numeric_limits<float>::infinity();
  static_assert(V::W == 8, "8 keys per vector");
  static_assert(MB / RG <= 32, "fresh is a 32-bit mask");
  const FlashParams& p = bp.f;
  const int64_t blk = bp.block, nqb = (p.Nq + blk - 1) / blk, D = p.D, Nk = p.Nk, off = Nk - p.Nq;
  const int64_t qb = item % nqb, bh = item / nqb, h = bh % p.Hq, b = bh / p.Hq, hk = h / (p.Hq / p.Hkv);
  const int64_t row0 = qb * blk, rows = std::min(blk, p.Nq - row0), ng = (rows + RG - 1) / RG;
  const float* kb = p.k + b * p.k_sb + hk * p.k_sh;
  const float* vb = p.v + b * p.v_sb + hk * p.v_sh;
  const float* q0 = p.q + b * p.q_sb + h * p.q_sh + row0 * p.q_sn;
  float* o0 = p.out + b * p.o_sb + h * p.o_sh + row0 * p.o_sn;
  const int64_t ldq = p.q_sn, ldo = p.o_sn, ldv = p.v_sn;
  const int64_t right = std::min(p.right, p.Nq + Nk);  // unbounded: every key visible to every row, no overflow below
  if (kt.id != b * p.Hkv + hk) {
    std::memset(kt.built, 0, static_cast<size_t>((Nk + 7) / 8));
    kt.id = b * p.Hkv + hk;
  }
  float* S = scratch;  // [rows × KB]
  float* mxv = S + MB * KB;  // [rows × 8]: running maxima of the batch's scores, 8 lanes per row
  float* m = mxv + MB * 8;
  float* l = m + MB;
  float* alpha = l + MB;
  for (int64_t r = 0; r < rows; ++r) {
    m[r] = -inf;
    l[r] = 0.0f;
  }
  // the last key any row sees (causal / right window)
  const int64_t jmax = std::min<int64_t>(Nk - 1, row0 + rows - 1 + off + right);
  struct Run {
    int64_t j, n, col;
  };
  Run runs[KB / 8];
  int64_t nr = 0, ncol = 0;
  uint32_t fresh = (uint32_t{1} << ng) - 1;  // bit g: the O rows of row group g not written yet
  bool ragged = false;
  int64_t kn[kBlockSparseRowsMaxBlock / 8];  // per row group: P's columns that some row of the group sees (a prefix)
  auto add = [&](int64_t j, int64_t take) {  // j: a multiple of 8; take: whole vectors unless clipped
    if (nr > 0 && runs[nr - 1].j + runs[nr - 1].n == j && runs[nr - 1].n % 8 == 0)
      runs[nr - 1].n += take;
    else
      runs[nr++] = Run{j, take, ncol};
    ncol += (take + 7) / 8 * 8;
    ragged |= take % 8 != 0;
  };
  auto flush = [&] {
    if (nr == 0) return;
    for (int64_t r = 0; r < rows; ++r) V::store(mxv + 8 * r, V::set1(-inf));
    // S = scale · Q · Kᵀ, run by run: each pair of key vectors against every row tile (the pair's panels stay in L1)
    for (int64_t s = 0; s < nr; ++s) {
      const Run& u = runs[s];
      const int64_t nv = (u.n + 7) / 8, jend = u.j + u.n - 1;
      blocksparse_rows_panels<V>(p, kb, kt, u.j / 8, u.j / 8 + nv - 1);
      for (int64_t v = 0; v < nv; v += 2) {
        const int64_t jv = u.j + 8 * v;
        const float* kp = kt.panels + (jv / 8) * 8 * D;
        {  // the next pair of panels of the run (or the first of the next run), while this pair is computed
          const float* nx = v + 2 < nv ? kp + 16 * D : s + 1 < nr ? kt.panels + (runs[s + 1].j / 8) * 8 * D : nullptr;
          const int64_t nl = v + 2 < nv ? std::min<int64_t>(2, nv - v - 2) : s + 1 < nr ? std::min<int64_t>(2, (runs[s + 1].n + 7) / 8) : 0;
          if (nx && (s + 1 >= nr || v + 2 < nv || kt.built[runs[s + 1].j / 8]))
            for (int64_t x = 0; x < nl * 8 * D; x += 16) blocksparse_prefetch(nx + x);
        }
        float* sc = S + u.col + 8 * v;
        for (int64_t i0 = 0; i0 < rows;) {
          // rows in tiles of at most 6, as even as possible (16 = 6 + 5 + 5, 32 = 6 + 6 + 5 + 5 + 5 + 5): a tile of 4
          // rows (8 accumulators) leaves the FMA units idle part of the time
          const int64_t rest = rows - i0, nt = (rest + 5) / 6, mr = (rest + nt - 1) / nt;
          const int64_t la = row0 + i0 + off + right;  // the tile's first row's last visible key
          // vectors of the pair that some row of the tile sees (keys past its last row's diagonal: -inf, not computed)
          const int64_t nvv = jv > la + mr - 1 ? 0 : std::min<int64_t>(v + 2 <= nv && jv + 8 <= la + mr - 1 ? 2 : 1, nv - v);
          for (int64_t i = 0; i < mr; ++i)
            for (int64_t x = 8 * nvv; x < 8 * std::min<int64_t>(2, nv - v); x += 8) V::store(sc + (i0 + i) * KB + x, V::set1(-inf));
          if (nvv > 0) {
            const bool mask = jv + 8 * nvv - 1 > std::min(la, jend);
            int64_t lim[6];
            for (int64_t i = 0; i < mr; ++i) lim[i] = std::min(la + i, jend) - jv;
            const float* qi = q0 + i0 * ldq;
            float* si = sc + i0 * KB;
            float* mi = mxv + 8 * i0;
            switch (mr) {
              case 6: blocksparse_rows_qk_n<V, 6>(nvv, mask, D, qi, ldq, kp, si, KB, p.scale, lim, mi); break;
              case 5: blocksparse_rows_qk_n<V, 5>(nvv, mask, D, qi, ldq, kp, si, KB, p.scale, lim, mi); break;
              case 4: blocksparse_rows_qk_n<V, 4>(nvv, mask, D, qi, ldq, kp, si, KB, p.scale, lim, mi); break;
              case 3: blocksparse_rows_qk_n<V, 3>(nvv, mask, D, qi, ldq, kp, si, KB, p.scale, lim, mi); break;
              case 2: blocksparse_rows_qk_n<V, 2>(nvv, mask, D, qi, ldq, kp, si, KB, p.scale, lim, mi); break;
              default: blocksparse_rows_qk_n<V, 1>(nvv, mask, D, qi, ldq, kp, si, KB, p.scale, lim, mi); break;
            }
          }
          i0 += mr;
        }
      }
    }
    // row-wise online softmax: P = e^(S - m') in place, l = l·alpha + Σ P, alpha = e^(m - m')
    for (int64_t r = 0; r < rows; ++r) {
      float* sr = S + r * KB;
      const float mx = std::max(m[r], V::hmax(V::load(mxv + 8 * r)));
      const float ms = mx == -inf ? 0.0f : mx;
      const R msv = V::set1(ms);
      R s0 = V::zero(), s1 = V::zero();
      int64_t c = 0;
      for (; c + 16 <= ncol; c += 16) {
        const R e0 = flash_exp<V>(V::sub(V::load(sr + c), msv));
        const R e1 = flash_exp<V>(V::sub(V::load(sr + c + 8), msv));
        V::store(sr + c, e0);
        V::store(sr + c + 8, e1);
        s0 = V::add(s0, e0);
        s1 = V::add(s1, e1);
      }
      if (c < ncol) {
        const R e0 = flash_exp<V>(V::sub(V::load(sr + c), msv));
        V::store(sr + c, e0);
        s0 = V::add(s0, e0);
      }
      float al[8];
      V::store(al, flash_exp<V>(V::set1(m[r] - ms)));
      l[r] = l[r] * al[0] + V::hsum(V::add(s0, s1));
      m[r] = mx;
      alpha[r] = al[0];
    }
    if (ragged) {  // a run that ends inside a vector (clipped at Nk or at the diagonal): P's columns packed
      for (int64_t r = 0; r < rows; ++r) {
        float* sr = S + r * KB;
        for (int64_t s = 0, w = 0; s < nr; w += runs[s].n, ++s)
          if (w != runs[s].col) std::memmove(sr + w, sr + runs[s].col, static_cast<size_t>(runs[s].n) * sizeof(float));
      }
    }
    // O = alpha · O + P · V per group of RG rows over the prefix of P's columns past which no key is visible to the
    // group (a causal diagonal block: a staircase; otherwise one product for all rows), V read in place
    for (int64_t g = 0; g < ng; ++g) {
      const int64_t L = row0 + std::min(rows, (g + 1) * RG) - 1 + off + right;  // the group's last row's last key
      int64_t k = 0;
      for (int64_t s = 0, base = 0; s < nr; base += runs[s].n, ++s)
        if (runs[s].j <= L) k = std::max(k, base + std::min(runs[s].n, L - runs[s].j + 1));
      kn[g] = k;
    }
    for (int64_t g = 0; g < ng;) {
      int64_t e = g + 1;
      while (e < ng && kn[e] == kn[g] && ((fresh >> e) & 1u) == ((fresh >> g) & 1u)) ++e;
      const int64_t r0 = g * RG, r1 = std::min(rows, e * RG), k = kn[g];
      if (k > 0) {  // else nothing changes (alpha = 1, or O not written and alpha = 0)
        FlashSeg seg[KB / 8];
        int64_t nseg = 0;
        for (int64_t s = 0, base = 0; s < nr && base < k; base += runs[s].n, ++s)
          seg[nseg++] = FlashSeg{vb + runs[s].j * ldv, std::min(runs[s].n, k - base)};
        if ((fresh >> g) & 1u) {
          flash_pv<V, false>(r1 - r0, D, seg, nseg, S + r0 * KB, KB, 1, ldv, o0 + r0 * ldo, ldo, nullptr);
          fresh &= ~(((uint32_t{1} << (e - g)) - 1u) << g);
        } else {
          flash_pv<V>(r1 - r0, D, seg, nseg, S + r0 * KB, KB, 1, ldv, o0 + r0 * ldo, ldo, alpha + r0);
        }
      }
      g = e;
    }
    nr = ncol = 0;
    ragged = false;
  };

  // the present key blocks in ascending order (a block may repeat: it then counts again), clipped to jmax
  const int64_t lr = (bp.layout_heads == 1 ? 0 : h) * nqb + qb;
  const int32_t* c = bp.cols + bp.row_start[lr];
  const int32_t* ce = bp.cols + bp.row_start[lr + 1];
  for (; c < ce; ++c) {
    const int64_t z = std::min<int64_t>((int64_t{*c} + 1) * blk, jmax + 1);
    for (int64_t j = int64_t{*c} * blk; j < z;) {
      const int64_t take = std::min(z - j, KB - ncol);
      add(j, take);
      j += take;
      if (ncol == KB) flush();
    }
  }
  flush();

  for (int64_t r = 0; r < rows; ++r) {
    float* orow = o0 + r * ldo;
    const float li = l[r];
    if ((fresh >> (r / RG)) & 1u)  // no visible key: O never written
      std::memset(orow, 0, static_cast<size_t>(D) * sizeof(float));
    else
      flash_scale_row<V>(orow, D, li > 0.0f ? 1.0f / li : 0.0f);
    if (p.lse) p.lse[(b * p.Hq + h) * p.Nq + row0 + r] = li > 0.0f ? m[r] + std::log(li) : -inf;
  }
}
#endif  // TF_SIMD_X86

template <class V>
void fill_blocksparse(Kernels& k) {
  k.block_sparse_attention_f32 = blocksparse_item<V>;
#if defined(TF_SIMD_X86)
  if constexpr (V::W == 8) k.block_sparse_rows_f32 = blocksparse_rows_item<V>;
#endif
}

}  // namespace
}  // namespace tf
