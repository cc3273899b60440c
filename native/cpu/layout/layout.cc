#include "layout.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "../../core/tensor.h"
#include "../../core/threadpool.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#include <xmmintrin.h>
#endif

namespace tf::cpu {
namespace {

// Bytes per parallel chunk for plain copies.
constexpr int64_t kCopyGrainBytes = 1 << 16;
// Tile edge (elements) of the 2-D transpose: 32 x 32 x 8 bytes = 8 KiB in, 8 KiB out.
constexpr int64_t kTile = 32;

// dst[c * dst_stride + r] = src[r * src_stride + c] for r < rows, c < cols.
template <typename T>
void transpose_tile(const T* src, int64_t src_stride, T* dst, int64_t dst_stride, int64_t rows, int64_t cols) {
  for (int64_t c = 0; c < cols; ++c)
    for (int64_t r = 0; r < rows; ++r) dst[c * dst_stride + r] = src[r * src_stride + c];
}

#if defined(__SSE2__)
// 4-byte elements: 4 x 4 blocks through SSE registers (baseline on x86-64, so no dispatch is needed). The
// shuffles move bits unchanged, so any 4-byte dtype (f32 NaN payloads included) is copied exactly.
template <>
void transpose_tile<uint32_t>(const uint32_t* src, int64_t ss, uint32_t* dst, int64_t ds, int64_t rows, int64_t cols) {
  const float* s = reinterpret_cast<const float*>(src);
  float* d = reinterpret_cast<float*>(dst);
  int64_t r = 0;
  for (; r + 4 <= rows; r += 4) {
    int64_t c = 0;
    for (; c + 4 <= cols; c += 4) {
      __m128 a0 = _mm_loadu_ps(s + (r + 0) * ss + c), a1 = _mm_loadu_ps(s + (r + 1) * ss + c);
      __m128 a2 = _mm_loadu_ps(s + (r + 2) * ss + c), a3 = _mm_loadu_ps(s + (r + 3) * ss + c);
      _MM_TRANSPOSE4_PS(a0, a1, a2, a3);
      _mm_storeu_ps(d + (c + 0) * ds + r, a0);
      _mm_storeu_ps(d + (c + 1) * ds + r, a1);
      _mm_storeu_ps(d + (c + 2) * ds + r, a2);
      _mm_storeu_ps(d + (c + 3) * ds + r, a3);
    }
    for (; c < cols; ++c)
      for (int64_t k = r; k < r + 4; ++k) dst[c * ds + k] = src[k * ss + c];
  }
  for (; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) dst[c * ds + r] = src[r * ss + c];
}
#endif

template <typename T>
void permute_typed(const T* src, T* dst, int nd, const int64_t* shape, const int64_t* istride) {
  // Output dims 0..nd-1 (contiguous in dst), istride[i] = source stride of output dim i. Not the identity.
  const int last = nd - 1;
  int64_t ostride[kMaxDims];
  int64_t acc = 1;
  for (int i = last; i >= 0; --i) {
    ostride[i] = acc;
    acc *= shape[i];
  }
  const int64_t total = acc;
  if (istride[last] == 1) {
    // The last axis stays last: copy rows of shape[last] elements.
    const int64_t len = shape[last], rows = total / len;
    const int64_t grain = std::max<int64_t>(1, kCopyGrainBytes / static_cast<int64_t>(len * sizeof(T)));
    parallel_for(0, rows, grain, [&](int64_t s, int64_t e) {
      for (int64_t r = s; r < e; ++r) {
        int64_t off = 0, q = r;
        for (int i = last - 1; i >= 0; --i) {
          off += (q % shape[i]) * istride[i];
          q /= shape[i];
        }
        std::memcpy(dst + r * len, src + off, static_cast<size_t>(len) * sizeof(T));
      }
    });
    return;
  }
  // The source's last axis (stride 1) is output dim p; the output's last axis has source stride istride[last].
  int p = 0;
  for (int i = 0; i < nd; ++i)
    if (istride[i] == 1) p = i;
  // Work items: every index of the other dims, times tiles of dim p.
  const int64_t np = shape[p], nl = shape[last];
  const int64_t ptiles = (np + kTile - 1) / kTile;
  const int64_t outer = total / (np * nl);
  const int64_t grain = std::max<int64_t>(1, kCopyGrainBytes / static_cast<int64_t>(kTile * nl * sizeof(T)));
  parallel_for(0, outer * ptiles, grain, [&](int64_t s, int64_t e) {
    for (int64_t w = s; w < e; ++w) {
      int64_t o = w / ptiles;
      const int64_t p0 = (w % ptiles) * kTile, pn = std::min(kTile, np - p0);
      int64_t in_off = p0, out_off = p0 * ostride[p];
      for (int i = last - 1; i >= 0; --i) {
        if (i == p) continue;
        in_off += (o % shape[i]) * istride[i];
        out_off += (o % shape[i]) * ostride[i];
        o /= shape[i];
      }
      // Block [pn along p] x [nl along last]: source rows are the nl entries (stride istride[last]) holding
      // pn contiguous elements each; destination rows are the pn entries (stride ostride[p]).
      for (int64_t l0 = 0; l0 < nl; l0 += kTile) {
        const int64_t ln = std::min(kTile, nl - l0);
        transpose_tile(src + in_off + l0 * istride[last], istride[last], dst + out_off + l0, ostride[p], ln, pn);
      }
    }
  });
}

}  // namespace

void permute(const void* src, void* dst, size_t elem_size, const int64_t* shape, int ndim, const int* perm) {
  // Output dims in order with their source strides; size-1 dims dropped, mergeable neighbours merged.
  int64_t sstride[kMaxDims];
  int64_t acc = 1, total = 1;
  for (int i = ndim - 1; i >= 0; --i) {
    sstride[i] = acc;
    acc *= shape[i];
  }
  for (int i = 0; i < ndim; ++i) total *= shape[i];
  if (total == 0) return;
  int nd = 0;
  int64_t dshape[kMaxDims], dstride[kMaxDims];
  for (int i = 0; i < ndim; ++i) {
    const int64_t len = shape[perm[i]], st = sstride[perm[i]];
    if (len == 1) continue;
    if (nd > 0 && dstride[nd - 1] == st * len) {
      dshape[nd - 1] *= len;
      dstride[nd - 1] = st;
      continue;
    }
    dshape[nd] = len;
    dstride[nd] = st;
    ++nd;
  }
  if (nd <= 1) {  // the identity after merging: one contiguous block
    const int64_t bytes = total * static_cast<int64_t>(elem_size);
    parallel_for(0, bytes, kCopyGrainBytes, [&](int64_t s, int64_t e) {
      std::memcpy(static_cast<char*>(dst) + s, static_cast<const char*>(src) + s, static_cast<size_t>(e - s));
    });
    return;
  }
  switch (elem_size) {
    case 1: return permute_typed(static_cast<const uint8_t*>(src), static_cast<uint8_t*>(dst), nd, dshape, dstride);
    case 2: return permute_typed(static_cast<const uint16_t*>(src), static_cast<uint16_t*>(dst), nd, dshape, dstride);
    case 4: return permute_typed(static_cast<const uint32_t*>(src), static_cast<uint32_t*>(dst), nd, dshape, dstride);
    default: return permute_typed(static_cast<const uint64_t*>(src), static_cast<uint64_t*>(dst), nd, dshape, dstride);
  }
}

namespace {
// `whole` holds, for each outer index, the slabs of every piece in order: concat copies the pieces into it,
// split copies it out to the pieces.
template <bool Concat>
void concat_or_split(const void* const* pieces, const int64_t* extents, int count, void* whole, size_t elem_size,
                     int64_t outer, int64_t inner) {
  int64_t total = 0;
  for (int i = 0; i < count; ++i) total += extents[i];
  const int64_t slab = total * inner * static_cast<int64_t>(elem_size);  // bytes of one outer index in `whole`
  if (slab == 0 || outer == 0) return;
  const int64_t grain = std::max<int64_t>(1, kCopyGrainBytes / slab);
  parallel_for(0, outer, grain, [&](int64_t s, int64_t e) {
    for (int64_t o = s; o < e; ++o) {
      char* w = static_cast<char*>(whole) + o * slab;
      for (int i = 0; i < count; ++i) {
        const int64_t bytes = extents[i] * inner * static_cast<int64_t>(elem_size);
        if (bytes == 0) continue;
        char* piece = static_cast<char*>(const_cast<void*>(pieces[i])) + o * bytes;
        if (Concat)
          std::memcpy(w, piece, static_cast<size_t>(bytes));
        else
          std::memcpy(piece, w, static_cast<size_t>(bytes));
        w += bytes;
      }
    }
  });
}
}  // namespace

void concat(const void* const* srcs, const int64_t* extents, int count, void* dst, size_t elem_size, int64_t outer,
            int64_t inner) {
  concat_or_split<true>(srcs, extents, count, dst, elem_size, outer, inner);
}

void split(const void* src, void* const* dsts, const int64_t* extents, int count, size_t elem_size, int64_t outer,
           int64_t inner) {
  concat_or_split<false>(const_cast<const void* const*>(dsts), extents, count, const_cast<void*>(src), elem_size, outer,
                         inner);
}

int64_t embedding(const int32_t* ids32, const int64_t* ids64, int64_t n, const void* table, int64_t vocab,
                  size_t row_bytes, void* dst) {
  std::atomic<int64_t> bad{-1};
  const int64_t grain = std::max<int64_t>(1, kCopyGrainBytes / static_cast<int64_t>(std::max<size_t>(row_bytes, 1)));
  parallel_for(0, n, grain, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) {
      const int64_t id = ids32 ? ids32[i] : ids64[i];
      char* out = static_cast<char*>(dst) + i * static_cast<int64_t>(row_bytes);
      if (id < 0 || id >= vocab) {
        std::memset(out, 0, row_bytes);
        int64_t expected = -1;
        while (expected == -1 || i < expected) {  // keep the lowest bad position
          if (bad.compare_exchange_weak(expected, i)) break;
        }
        continue;
      }
      std::memcpy(out, static_cast<const char*>(table) + id * static_cast<int64_t>(row_bytes), row_bytes);
    }
  });
  return bad.load();
}

}  // namespace tf::cpu
