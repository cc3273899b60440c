// Layout ops: moving elements without arithmetic, for any element size (1, 2, 4 or 8 bytes), so every dtype
// works. Contiguous row-major tensors in and out; the thread pool splits the copies.
#pragma once
#include <cstddef>
#include <cstdint>

namespace tf::cpu {

// dst = src with its axes permuted: dst dim i is src dim perm[i]. Adjacent dims that stay adjacent are merged
// first; an inner 2-D transpose (the last axis moves) is copied in cache-sized tiles.
void permute(const void* src, void* dst, size_t elem_size, const int64_t* shape, int ndim, const int* perm);

// Concatenation along an axis of `count` tensors that agree on every other dim: extents[i] is tensor i's
// length along the axis; outer = product of the dims before the axis, inner = product of those after it.
void concat(const void* const* srcs, const int64_t* extents, int count, void* dst, size_t elem_size, int64_t outer,
            int64_t inner);

// The inverse of concat: dsts[i] gets extents[i] slices along the axis.
void split(const void* src, void* const* dsts, const int64_t* extents, int count, size_t elem_size, int64_t outer,
           int64_t inner);

// dst[i, :] = table[ids[i], :] for n ids (i32 or i64, exactly one non-null) and rows of `row_bytes` bytes.
// Every id is checked against `vocab`; returns the position of the first id out of range, or -1. Nothing is
// read out of bounds (the caller checks first; this guards against ids changed meanwhile by JS).
int64_t embedding(const int32_t* ids32, const int64_t* ids64, int64_t n, const void* table, int64_t vocab,
                  size_t row_bytes, void* dst);

}  // namespace tf::cpu
