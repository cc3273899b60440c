// Top-k over the last axis: one pass per row keeping the best k in a binary heap whose root is the worst kept
// entry, so most entries are rejected by one comparison; then the k kept entries are sorted.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "../../core/threadpool.h"
#include "reduce.h"

namespace tf::cpu {
namespace {

// A total order key: increasing with the float value, -0 == +0, every NaN above +inf.
inline int64_t order_key(float v) {
  if (v != v) return std::numeric_limits<int64_t>::max();
  v += 0.0f;  // -0 -> +0
  uint32_t u;
  std::memcpy(&u, &v, 4);
  return (u & 0x80000000u) ? -static_cast<int64_t>(u & 0x7fffffffu) : static_cast<int64_t>(u);
}

struct Entry {
  int64_t key;
  int64_t index;
};

// True when a ranks before b: a larger key (smaller when !largest), ties to the lower index.
template <bool Largest>
inline bool before(const Entry& a, const Entry& b) {
  if (a.key != b.key) return Largest ? a.key > b.key : a.key < b.key;
  return a.index < b.index;
}

template <bool Largest>
void topk_row(const float* x, int64_t n, int64_t k, Entry* heap) {
  // heap[0] is the entry that ranks last among those kept; `before` as the heap's "less" makes it a max-heap
  // of rank, i.e. the root is the worst.
  auto worse_first = [](const Entry& a, const Entry& b) { return before<Largest>(a, b); };
  int64_t size = 0;
  for (int64_t i = 0; i < n; ++i) {
    Entry e{order_key(x[i]), i};
    if (size < k) {
      heap[size++] = e;
      std::push_heap(heap, heap + size, worse_first);
    } else if (before<Largest>(e, heap[0])) {
      std::pop_heap(heap, heap + size, worse_first);
      heap[size - 1] = e;
      std::push_heap(heap, heap + size, worse_first);
    }
  }
  std::sort(heap, heap + size, worse_first);  // best first
}

}  // namespace

void topk_f32(const float* x, int64_t rows, int64_t n, int64_t k, bool largest, float* values, int32_t* idx32,
              int64_t* idx64) {
  if (rows == 0 || k == 0) return;
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 14) / std::max<int64_t>(n, 1));
  parallel_for(0, rows, grain, [&](int64_t s, int64_t e) {
    std::vector<Entry> heap(static_cast<size_t>(k));
    for (int64_t r = s; r < e; ++r) {
      const float* row = x + r * n;
      if (largest)
        topk_row<true>(row, n, k, heap.data());
      else
        topk_row<false>(row, n, k, heap.data());
      for (int64_t j = 0; j < k; ++j) {
        const int64_t i = heap[j].index;
        values[r * k + j] = row[i];
        if (idx32) idx32[r * k + j] = static_cast<int32_t>(i);
        if (idx64) idx64[r * k + j] = i;
      }
    }
  });
}

}  // namespace tf::cpu
