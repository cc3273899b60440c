#include "reduce.h"

#include <algorithm>

#include "../../core/dispatch.h"
#include "../../core/scratch.h"
#include "../../core/threadpool.h"
#include "reduce_impl.h"  // scalar instantiation: no target region

namespace tf {

void register_reduce_scalar(Kernels& k) { fill_reduce<simd::Scalar>(k); }

namespace cpu {

// A long row is summed in blocks of this many elements (in parallel), then the block sums in order.
constexpr int64_t kSumBlock = 1 << 15;
// Columns summed together by the strided path: 16 KiB of double accumulators (L1), and rows of up to 2048
// floats are read as whole contiguous rows.
constexpr int64_t kSumTile = 2048;

void sum_f32(const float* x, float* out, int64_t outer, int64_t len, int64_t inner, double scale) {
  const Kernels& k = kernels();
  if (outer == 0 || inner == 0) return;
  if (inner == 1) {
    const int64_t blocks = std::max<int64_t>(1, (len + kSumBlock - 1) / kSumBlock);
    auto fn = k.sum_f32;
    if (blocks == 1) {
      const int64_t grain = std::max<int64_t>(1, kSumBlock / std::max<int64_t>(len, 1));
      parallel_for(0, outer, grain, [&](int64_t s, int64_t e) {
        for (int64_t r = s; r < e; ++r) out[r] = static_cast<float>(fn(x + r * len, static_cast<size_t>(len)) * scale);
      });
      return;
    }
    ScratchFrame frame;
    double* const part = frame.doubles(checked_count(outer, blocks));  // every block's sum written
    parallel_for(0, outer * blocks, 1, [&](int64_t s, int64_t e) {
      for (int64_t t = s; t < e; ++t) {
        const int64_t r = t / blocks, b = t % blocks;
        const int64_t begin = b * kSumBlock, count = std::min(kSumBlock, len - begin);
        part[t] = fn(x + r * len + begin, static_cast<size_t>(count));
      }
    });
    for (int64_t r = 0; r < outer; ++r) {
      double s = 0;
      for (int64_t b = 0; b < blocks; ++b) s += part[r * blocks + b];
      out[r] = static_cast<float>(s * scale);
    }
    return;
  }
  // Strided: out[o, c] over tiles of columns, each tile accumulating len rows in double.
  auto fn = k.sum_rows_f64;
  const int64_t tiles = (inner + kSumTile - 1) / kSumTile;
  const int64_t grain = std::max<int64_t>(1, kSumBlock / std::max<int64_t>(len * std::min(inner, kSumTile), 1));
  parallel_for(0, outer * tiles, grain, [&](int64_t s, int64_t e) {
    double acc[kSumTile];
    for (int64_t t = s; t < e; ++t) {
      const int64_t o = t / tiles, c0 = (t % tiles) * kSumTile, cols = std::min(kSumTile, inner - c0);
      std::fill(acc, acc + cols, 0.0);
      fn(x + o * len * inner + c0, static_cast<size_t>(len), static_cast<size_t>(inner), static_cast<size_t>(cols), acc);
      float* dst = out + o * inner + c0;
      for (int64_t c = 0; c < cols; ++c) dst[c] = static_cast<float>(acc[c] * scale);
    }
  });
}

}  // namespace cpu
}  // namespace tf
