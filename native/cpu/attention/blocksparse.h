// Block-sparse attention on the CPU, fp32: the math of flash attention (flash.h) restricted to a block
// layout. Query i may see key j iff layout[h, i / block, j / block] != 0 (and, when causal, j <= i + Nk - Nq;
// and key j is not padded). A row with no visible key gives zeros and lse = -inf.
//
// The layout reaches the kernel as per-row lists of present key blocks (CSR: for layout head lh and query
// block row r, cols[row_start[lh * nqb + r] .. row_start[lh * nqb + r + 1]), non-decreasing), so the cost
// is proportional to the number of present blocks. The keys of a row's present blocks are taken in ascending
// order, kFlashBk at a time, by flash's own tile code (flash_impl.h: flash_tile_begin, flash_step,
// flash_tile_end), as runs of consecutive keys (consecutive present blocks make one run): each run's K and V
// rows are read in place (no gather), and scattered blocks still fill full-width tiles. Causal: on a diagonal
// block each group of 8 queries computes only the keys up to its last query (flash_step's staircase).
//
// Work: one item per (batch, query head, query block row), computed by one thread in an order fixed by the
// shapes and the layout only, so results are bitwise independent of the thread count.
#pragma once
#include <cstdint>

#include "flash.h"

namespace tf {

constexpr int64_t kBlockSparseMinBlock = 8;
constexpr int64_t kBlockSparseMaxBlock = 128;  // at most kFlashGroup tiles of kFlashBq rows per block row
static_assert(kBlockSparseMaxBlock <= kFlashGroup * kFlashBq, "a block row must fit the tiles of one work item");

// The general form, which Longformer's and BigBird's exact attention also use (napi/attention.cc):
// - a row's key blocks may repeat (BigBird gathers and concatenates key blocks, so a random block that is also
//   a sliding or global block counts twice in the softmax): cols must be non-decreasing, and a key is counted
//   once per occurrence of its block;
// - the window f.left / f.right (per query, as in flash) applies on top of the blocks (Longformer's band);
// - Nq need not be a multiple of block (the last block row is partial), and a key block past Nk is clipped;
// - extra keys (per batch row b: extra_keys[extra_start[b] .. extra_start[b + 1]), ascending) are seen by every
//   query row of that batch row besides its blocks, with no window and no key padding mask (Longformer's
//   global keys).
struct BlockSparseParams {
  FlashParams f;             // shapes, strides, scale, causal (f.right = 0), window, key_keep, lse; bias unused
  int64_t block = 0;         // query rows per block row, and keys per key block
  int64_t layout_heads = 1;  // 1 (shared by all query heads) or Hq
  const int64_t* row_start = nullptr;  // [layout_heads · ceil(Nq/block) + 1]
  const int32_t* cols = nullptr;       // key blocks of each row, non-decreasing (repeats count again)
  const int64_t* extra_start = nullptr;  // [B + 1] or null
  const int32_t* extra_keys = nullptr;
};

inline int64_t blocksparse_items(const BlockSparseParams& p) {
  return p.f.B * p.f.Hq * ((p.f.Nq + p.block - 1) / p.block);
}

namespace cpu {

// Runs the whole attention on the pool with the active level's kernel (arguments checked by the caller).
void block_sparse_attention_f32(const BlockSparseParams& p);

}  // namespace cpu
}  // namespace tf
