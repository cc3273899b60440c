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

template <class V>
void fill_blocksparse(Kernels& k) {
  k.block_sparse_attention_f32 = blocksparse_item<V>;
}

}  // namespace
}  // namespace tf
