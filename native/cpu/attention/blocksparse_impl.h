// Block-sparse attention work item, over flash's tile code (flash_impl.h, included first). Included by
// flash.cc (scalar) and inside the target regions of flash_avx2.cc and flash_avx512.cc, which register it.
#pragma once
#include "blocksparse.h"
#include "flash_impl.h"

namespace tf {
namespace {

// One work item: the block row qb of query head h of batch b, in up to kFlashGroup row tiles of kFlashBq
// rows, against the present key blocks of that row.
// Rows map[0 .. n) of a K or V head (rows ld floats apart) into dst, packed D apart: one copy per run of
// consecutive rows when the rows are contiguous (a key block is blk · D floats), else row by row.
inline void blocksparse_gather(float* dst, const float* src, int64_t ld, int64_t D, const int64_t* map, int64_t n) {
  for (int64_t jj = 0; jj < n;) {
    int64_t e = jj + 1;
    if (ld == D)
      while (e < n && map[e] == map[e - 1] + 1) ++e;
    std::memcpy(dst + jj * D, src + map[jj] * ld, static_cast<size_t>((e - jj) * D) * sizeof(float));
    jj = e;
  }
}

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

  float* st = scratch;  // the scratch layout of flash_item
  float* kpack = st + BK * BQ;
  float* vpack = kpack + BK * D;
  float* per_tile = vpack + BK * D;
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
    flash_tile_begin<V>(p, s, q_row);
  }

  // Extra keys (global keys): every row sees them, with no window and no padding mask, gathered kFlashBk at
  // a time into the K and V scratch.
  if (bp.extra_start) {
    FlashParams pe = p;
    pe.left = pe.right = kFlashUnbounded;
    FlashCtx ce = cx;
    ce.keep = nullptr;
    const int32_t* e = bp.extra_keys + bp.extra_start[b];
    const int64_t ne = bp.extra_start[b + 1] - bp.extra_start[b];
    int64_t emap[BK];
    for (int64_t e0 = 0; e0 < ne; e0 += BK) {
      const int64_t n = std::min(BK, ne - e0);
      for (int64_t jj = 0; jj < n; ++jj) emap[jj] = e[e0 + jj];
      blocksparse_gather(kpack, kb, p.k_sn, D, emap, n);
      blocksparse_gather(vpack, vb, p.v_sn, D, emap, n);
      for (int64_t t = 0; t < tn; ++t) flash_step<V>(pe, ce, tiles[t], emap[0], n, kpack, D, vpack, D, st, emap);
    }
  }

  // The present key blocks in ascending order, their keys batched kFlashBk at a time: a batch that is one
  // contiguous range runs in place like a flash key tile; one that spans separate blocks (random and global
  // blocks, small block sizes) is gathered into the K and V scratch first, so that scattered blocks still make
  // full-width tiles. Batches depend on the layout only (not on threads).
  const int64_t lr = (bp.layout_heads == 1 ? 0 : h) * nqb + qb;
  const int32_t* c = bp.cols + bp.row_start[lr];
  const int32_t* ce = bp.cols + bp.row_start[lr + 1];
  const int64_t jmin = tiles[0].jlo;        // window: no key before it is visible to this block row
  const int64_t jmax = tiles[tn - 1].jhi;  // causal / window: no key past it is visible to this block row
  int64_t jmap[BK];
  int64_t n = 0;
  auto flush = [&] {
    if (n == 0) return;
    bool run = true;  // one contiguous ascending range (blocks may repeat, so check every key)
    for (int64_t jj = 1; jj < n && run; ++jj) run = jmap[jj] == jmap[0] + jj;
    if (run) {
      flash_keys<V>(p, cx, tiles, tn, jmap[0], n, kb, vb, kpack, vpack, st);
    } else {
      bool any = cx.keep == nullptr;  // a batch of padding only changes nothing
      for (int64_t jj = 0; jj < n && !any; ++jj) any = cx.keep[jmap[jj]] != 0;
      if (any) {
        blocksparse_gather(kpack, kb, p.k_sn, D, jmap, n);
        blocksparse_gather(vpack, vb, p.v_sn, D, jmap, n);
        for (int64_t t = 0; t < tn; ++t) {
          FlashTile& s = tiles[t];
          if (s.jhi < jmap[0] || s.jlo > jmap[n - 1]) continue;  // no key of the batch is visible to this tile
          flash_step<V>(p, cx, s, jmap[0], n, kpack, D, vpack, D, st, jmap);
        }
      }
    }
    n = 0;
  };
  for (; c < ce; ++c) {
    const int64_t z = std::min<int64_t>((int64_t{*c} + 1) * blk, jmax + 1);
    for (int64_t j = std::max<int64_t>(int64_t{*c} * blk, jmin); j < z; ++j) {
      jmap[n++] = j;
      if (n == BK) flush();
    }
  }
  flush();

  for (int64_t t = 0; t < tn; ++t) flash_tile_end<V>(p, tiles[t], pack_o, out_row, lse_at);
}

template <class V>
void fill_blocksparse(Kernels& k) {
  k.block_sparse_attention_f32 = blocksparse_item<V>;
}

}  // namespace
}  // namespace tf
