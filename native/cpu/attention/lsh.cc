#include "lsh.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "../../core/dispatch.h"
#include "../../core/scratch.h"
#include "../../core/threadpool.h"
#include "../gemm/gemm.h"
#include "../gemm/gemm_kernel.h"
#include "lsh_impl.h"  // scalar instantiation: no target region

namespace tf {

void register_lsh_scalar(Kernels& k) { fill_lsh<simd::Scalar>(k); }

void lsh_combine_rounds(const ChunkAttnParams& p, int64_t bh, int64_t pos, const float* last, float last_lse) {
  const int64_t N = p.N, D = p.D, R = p.rounds;
  const float* lse = p.round_lse + bh * R * N + pos;  // round r at lse[r·N]; the last round's is last_lse
  const auto round_lse = [&](int64_t r) { return r == R - 1 ? last_lse : lse[r * N]; };
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t r = 0; r < R; ++r) mx = std::max(mx, round_lse(r));
  float sum = 0.0f;
  for (int64_t r = 0; r < R; ++r) {  // e^0 = 1 exactly: the largest round's term without the call
    const float t = round_lse(r) - mx;
    sum += t == 0.0f ? 1.0f : std::exp(t);
  }
  const float total = mx + std::log(sum);
  float* dst = p.out + (bh * N + pos) * D;
  const float w0 = std::exp(round_lse(0) - total);
  for (int64_t d = 0; d < D; ++d) dst[d] *= w0;
  for (int64_t r = 1; r < R; ++r) {
    const float* src = r == R - 1 ? last : p.round_out + ((bh * (R - 2) + r - 1) * N + pos) * D;
    const float wr = std::exp(round_lse(r) - total);
    for (int64_t d = 0; d < D; ++d) dst[d] += src[d] * wr;
  }
}

namespace cpu {
namespace {

constexpr int64_t kHashRows = 512;  // rows per hashing block
constexpr int64_t kSortedFloats = int64_t{1} << 21;  // 8 MiB of rows gathered in slot order at a time
constexpr int64_t kSegmentSlots = 4096;  // slots gathered between runs of items when one head is larger
constexpr int64_t kGatherAhead = 8;      // rows prefetched ahead by the gather
// When the rotations take the lsh_rotate_f32 kernel: sgemm (the path otherwise) then sums all of D in one chain
// from 0 per element, as the kernel does, so both give the same bits: D within its smallest depth block
// (AVX-512's 192) and more than kSgemmSmallM columns (up to that many it takes lane-wise dot products).
constexpr int64_t kRotateDepth = 192;
constexpr bool rotate_in_kernel(int64_t d, int64_t cols) { return d <= kRotateDepth && cols > kSgemmSmallM; }

// Large scratch blocks kept across calls. Fresh blocks of this size come from mmap (glibc's threshold is at
// most 32 MiB) and their first touch faults every page in and zeroes it, which took ~9% of a call at N = 16384;
// a kept block is already mapped. At most kCacheBlocks blocks and kCacheBytes bytes are kept (the least
// recently returned go first); blocks below kCacheMin bytes go back to malloc at once. Thread safe: async calls
// may run at the same time, each takes its own blocks.
constexpr size_t kCacheMin = size_t{1} << 18;
constexpr size_t kCacheBytes = size_t{192} << 20;
constexpr size_t kCacheBlocks = 8;

class BlockCache {
 public:
  // A block of at least `bytes` (the smallest kept one that fits and is at most 4 times larger, else a new one).
  void* take(size_t bytes, size_t* got) {
    if (bytes >= kCacheMin) {
      std::lock_guard<std::mutex> lock(mu_);
      size_t best = kCacheBlocks;
      for (size_t i = 0; i < n_; ++i)
        if (kept_[i].bytes >= bytes && kept_[i].bytes / 4 <= bytes && (best == kCacheBlocks || kept_[i].bytes < kept_[best].bytes))
          best = i;
      if (best != kCacheBlocks) {
        void* p = kept_[best].p;
        *got = kept_[best].bytes;
        held_ -= *got;
        for (size_t i = best; i + 1 < n_; ++i) kept_[i] = kept_[i + 1];
        --n_;
        return p;
      }
    }
    void* p = std::malloc(bytes);
    if (!p) throw ScratchError(bytes);  // core/scratch.h: the error names the bytes of working memory
    *got = bytes;
    return p;
  }
  void give(void* p, size_t bytes) {
    if (bytes < kCacheMin || bytes > kCacheBytes) {
      std::free(p);
      return;
    }
    std::lock_guard<std::mutex> lock(mu_);
    while (n_ > 0 && (n_ == kCacheBlocks || held_ + bytes > kCacheBytes)) {  // drop the oldest
      std::free(kept_[0].p);
      held_ -= kept_[0].bytes;
      for (size_t i = 0; i + 1 < n_; ++i) kept_[i] = kept_[i + 1];
      --n_;
    }
    kept_[n_++] = {p, bytes};
    held_ += bytes;
  }

 private:
  struct Block {
    void* p;
    size_t bytes;
  };
  std::mutex mu_;
  Block kept_[kCacheBlocks] = {};
  size_t n_ = 0, held_ = 0;
};

BlockCache& block_cache() {
  static BlockCache* cache = new BlockCache();  // never destroyed: no teardown order issues at exit
  return *cache;
}

// An uninitialised buffer of n T (every element is written before it is read; no zero-fill pass over memory),
// from the block cache, returned to it when destroyed.
template <class T>
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(int64_t n) {
    p_ = static_cast<T*>(block_cache().take(static_cast<size_t>(std::max<int64_t>(n, 1)) * sizeof(T), &bytes_));
  }
  Buffer(Buffer&& o) noexcept : p_(o.p_), bytes_(o.bytes_) { o.p_ = nullptr; }
  Buffer& operator=(Buffer&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(bytes_, o.bytes_);
    return *this;
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() {
    if (p_) block_cache().give(p_, bytes_);
  }
  T* get() const { return p_; }
  T& operator[](int64_t i) const { return p_[i]; }

 private:
  T* p_ = nullptr;
  size_t bytes_ = 0;
};

template <class T>
Buffer<T> buffer(int64_t n) {
  return Buffer<T>(n);
}

// A large output is usually fresh from mmap (glibc serves blocks of 32 MiB or more so): its pages are faulted
// in, one trap per 4 KiB page at the first write, where the items scatter their rows. MADV_POPULATE_WRITE
// (Linux 5.14+) maps the whole pages inside it in one call instead; elsewhere, or on failure, nothing happens.
void prefault(float* p, int64_t floats) {
#if defined(__linux__) && defined(MADV_POPULATE_WRITE)
  constexpr uintptr_t kPage = 4096;
  const uintptr_t a = reinterpret_cast<uintptr_t>(p), e = a + static_cast<uintptr_t>(floats) * sizeof(float);
  const uintptr_t pa = (a + kPage - 1) / kPage * kPage, pe = e / kPage * kPage;
  if (floats >= (int64_t{1} << 21) && pe > pa) (void)madvise(reinterpret_cast<void*>(pa), pe - pa, MADV_POPULATE_WRITE);
#else
  (void)p, (void)floats;
#endif
}

// Items [ib, ie) of cp (lsh_items).
void run_items(const ChunkAttnParams& cp, int64_t ib, int64_t ie) {
  if (ie <= ib) return;
  auto fn = kernels().lsh_chunk_attention_f32;
  const int64_t scratch_floats = lsh_scratch_floats(cp.D);
  parallel_for(ib, ie, 1, [&](int64_t s, int64_t e) {
    ScratchFrame frame;
    float* scratch = frame.floats(checked_count(scratch_floats));
    for (int64_t it = s; it < e; ++it) fn(cp, it, scratch);
  });
}

// torch.argmax of [x, −x] over x[0 .. half): the first maximum wins. Found as the largest |x_j| (partial maxima
// in SSE2 lanes where the baseline has it, no data-dependent branch per element), then the first j with x_j
// equal to it (a mask of the matches), else the first with −x_j equal to it (half + j): the same index as a scan of the 2·half values keeping the first strictly
// greater one, NaNs included (a NaN x_0 wins, as nothing compares greater; other NaNs never win). half 0: 0.
inline int64_t argmax_pm(const float* x, int64_t half) {
  if (half <= 0 || x[0] != x[0]) return 0;
  int64_t j = 0;
  float mx = std::fabs(x[0]);
#if defined(__SSE2__)
  // 4 lanes of partial maxima; _mm_max_ps(a, m) is a > m ? a : m, as the scalar tail
  const __m128 sign = _mm_set1_ps(-0.0f);
  __m128 m = _mm_set1_ps(mx);
  for (; j + 4 <= half; j += 4) m = _mm_max_ps(_mm_andnot_ps(sign, _mm_loadu_ps(x + j)), m);
  alignas(16) float lanes[4];
  _mm_store_ps(lanes, m);
  for (int k = 0; k < 4; ++k) mx = lanes[k] > mx ? lanes[k] : mx;
#endif
  for (; j < half; ++j) {
    const float a = std::fabs(x[j]);
    mx = a > mx ? a : mx;
  }
  if (half <= 64) {  // masks of the matches, no data-dependent branch
    uint64_t pos = 0, neg = 0;
    int64_t i = 0;
#if defined(__SSE2__)
    const __m128 vp = _mm_set1_ps(mx), vn = _mm_set1_ps(-mx);
    for (; i + 4 <= half; i += 4) {
      const __m128 v = _mm_loadu_ps(x + i);
      pos |= static_cast<uint64_t>(_mm_movemask_ps(_mm_cmpeq_ps(v, vp))) << i;
      neg |= static_cast<uint64_t>(_mm_movemask_ps(_mm_cmpeq_ps(v, vn))) << i;
    }
#endif
    for (; i < half; ++i) {
      pos |= static_cast<uint64_t>(x[i] == mx) << i;
      neg |= static_cast<uint64_t>(x[i] == -mx) << i;
    }
    return pos ? __builtin_ctzll(pos) : neg ? half + __builtin_ctzll(neg) : 0;
  }
  for (int64_t i = 0; i < half; ++i)
    if (x[i] == mx) return i;
  for (int64_t i = 0; i < half; ++i)
    if (x[i] == -mx) return half + i;
  return 0;  // not reached: mx is |x_j| for some j
}

// Buckets of every (batch, head, round, position), offsets included: argmax over [xR, −xR] per factor.
void hash(const LshParams& p, int64_t nb, bool has_pad, int32_t* buckets) {
  const int64_t B = p.B, H = p.H, N = p.N, D = p.D, R = p.hashes;
  int64_t rs2 = 0;
  for (int64_t f : p.factors) rs2 += f / 2;
  const int64_t cols = R * rs2, nbe = nb + (has_pad ? 1 : 0);
  const int64_t blocks = (N + kHashRows - 1) / kHashRows;
  const auto rotate = kernels().lsh_rotate_f32;
  parallel_for(0, B * H * blocks, 1, [&](int64_t s, int64_t e) {
    ScratchFrame frame;
    float* y = frame.floats(checked_count(kHashRows, std::max<int64_t>(cols, 1)));
    for (int64_t it = s; it < e; ++it) {
      const int64_t bh = it / blocks, blk = it % blocks, b = bh / H, h = bh % H;
      const int64_t i0 = blk * kHashRows, L = std::min(kHashRows, N - i0);
      if (cols > 0 && rotate_in_kernel(D, cols))
        rotate(p.qk + (bh * N + i0) * D, L, D, p.rotations + h * D * cols, cols, y);
      else if (cols > 0)
        sgemm(false, false, L, cols, D, 1.0f, p.qk + (bh * N + i0) * D, D, p.rotations + h * D * cols, cols, 0.0f,
              y, cols);
      for (int64_t i = 0; i < L; ++i) {
        const int64_t pos = i0 + i;
        const bool padded = p.keep && !p.keep[b * N + pos];
        for (int64_t r = 0; r < R; ++r) {
          int64_t bucket = 0;
          if (padded) {
            bucket = nb;
          } else {
            const float* yr = y + i * cols + r * rs2;
            int64_t mult = 1, at = 0;
            for (int64_t f : p.factors) {
              const int64_t best = argmax_pm(yr + at, f / 2);
              bucket += mult * best;
              mult *= f;
              at += f / 2;
            }
          }
          buckets[(bh * R + r) * N + pos] = static_cast<int32_t>(bucket + r * nbe);
        }
      }
    }
  });
}

// Stable counting sort of each (batch, head, round) by bucket: perm[bh][r·N + k] = position.
void sort_buckets(const LshParams& p, int64_t nbe, const int32_t* buckets, int32_t* perm) {
  const int64_t N = p.N, R = p.hashes;
  const bool counting = nbe <= 4 * N + 1024;  // else a comparison sort (more buckets than positions)
  parallel_for(0, p.B * p.H * R, 1, [&](int64_t s, int64_t e) {
    ScratchFrame frame;
    int64_t* start = frame.get<int64_t>(counting ? checked_count(nbe + 1) : 0);
    for (int64_t it = s; it < e; ++it) {
      const int64_t r = it % R;
      const int32_t* bk = buckets + it * N;
      int32_t* out = perm + it * N;  // (bh·R + r)·N = bh·R·N + r·N
      if (!counting) {
        for (int64_t i = 0; i < N; ++i) out[i] = static_cast<int32_t>(i);
        std::stable_sort(out, out + N, [bk](int32_t x, int32_t y) { return bk[x] < bk[y]; });
        continue;
      }
      std::fill(start, start + nbe + 1, int64_t{0});
      for (int64_t i = 0; i < N; ++i) ++start[static_cast<size_t>(bk[i] - r * nbe + 1)];
      for (int64_t j = 0; j < nbe; ++j) start[static_cast<size_t>(j + 1)] += start[static_cast<size_t>(j)];
      for (int64_t i = 0; i < N; ++i) out[start[static_cast<size_t>(bk[i] - r * nbe)]++] = static_cast<int32_t>(i);
    }
  });
}

}  // namespace

void lsh_attention_f32(const LshParams& p) {
  const int64_t B = p.B, H = p.H, N = p.N, D = p.D;
  if (B == 0 || H == 0 || N == 0) return;
  prefault(p.out, B * H * N * D);
  ChunkAttnParams cp;
  cp.q = cp.k = p.qk;
  cp.v = p.v;
  cp.B = B, cp.H = H, cp.N = N, cp.D = D;
  cp.keep = p.keep;
  cp.causal = p.causal;
  cp.self_mask = true;
  // keys: x / sqrt(mean(x²) + 1e-6) / sqrt(D), as a factor per row
  auto kf = buffer<float>(B * H * N);
  const float dim_norm = 1.0f / std::sqrt(static_cast<float>(D));
  const auto key_factor = [&](int64_t i, double ss) {
    const float var = static_cast<float>(ss / static_cast<double>(D));
    kf[i] = (1.0f / std::sqrt(var + 1e-6f)) * dim_norm;
  };
  parallel_for(0, B * H * N, 256, [&](int64_t s, int64_t e) {
    // each row's sum of squares in order, kRows rows at a time (independent chains: not one add's latency per
    // element)
    constexpr int64_t kRows = 8;
    int64_t i = s;
    for (; i + kRows <= e; i += kRows) {
      const float* x = p.qk + i * D;
      double ss[kRows] = {};
      for (int64_t d = 0; d < D; ++d)
        for (int64_t j = 0; j < kRows; ++j) ss[j] += static_cast<double>(x[j * D + d]) * x[j * D + d];
      for (int64_t j = 0; j < kRows; ++j) key_factor(i + j, ss[j]);
    }
    for (; i < e; ++i) {
      const float* x = p.qk + i * D;
      double ss = 0;
      for (int64_t d = 0; d < D; ++d) ss += static_cast<double>(x[d]) * x[d];
      key_factor(i, ss);
    }
  });
  cp.key_factor = kf.get();
  if (lsh_is_standard(N, p.chunk)) {  // upstream: plain shared-QK attention, no hashing, no rounds
    cp.rounds = 1, cp.chunk = N, cp.before = cp.after = 0;
    cp.out = p.out;
    run_items(cp, 0, lsh_items(cp));
    return;
  }
  const int64_t R = p.hashes;
  int64_t nb = 1;
  for (int64_t f : p.factors) nb *= f;
  bool has_pad = false;
  if (p.keep)
    for (int64_t i = 0; i < B * N && !has_pad; ++i) has_pad = p.keep[i] == 0;
  const int64_t nbe = nb + (has_pad ? 1 : 0);
  Buffer<int32_t> own_buckets;
  int32_t* buckets = p.buckets;
  if (!buckets) {
    own_buckets = buffer<int32_t>(B * H * R * N);
    buckets = own_buckets.get();
  }
  hash(p, nb, has_pad, buckets);
  auto perm = buffer<int32_t>(B * H * R * N);
  sort_buckets(p, nbe, buckets, perm.get());
  cp.perm = perm.get();
  cp.rounds = R, cp.chunk = p.chunk, cp.before = p.before, cp.after = p.after;
  cp.out = p.out;
  Buffer<float> round_out, round_lse;
  if (R > 2) round_out = buffer<float>(B * H * (R - 2) * N * D);
  if (R > 1) round_lse = buffer<float>(B * H * R * N);
  cp.round_out = round_out.get();
  cp.round_lse = round_lse.get();
  // The items of the last round combine the rounds: they run after all items of the earlier rounds (of the
  // heads in hand); split(ib, ie) runs items [ib, ie) of one head's chunk-ordered items in that order
  const int64_t last_chunk = (R - 1) * N / p.chunk, tiles = (p.chunk + kLshBq - 1) / kLshBq;
  // Gather the rows in slot order, a group of heads at a time (at most kSortedFloats floats of copies, at least
  // one head): the items then read contiguous chunks, not rows scattered over the whole head by the hash
  const int64_t RN = R * N, per_head = 2 * RN * D + RN, nch = RN / p.chunk;
  const int64_t group = std::max<int64_t>(1, std::min<int64_t>(B * H, kSortedFloats / per_head));
  // One head too large for the caches (segmented): chunks per segment, at least a few items per thread
  const int64_t seg = std::max<int64_t>({1, kSegmentSlots / p.chunk, (4 * num_threads() + tiles - 1) / tiles});
  const bool segmented = group == 1 && nch > 2 * seg;
  const int64_t bw = std::min(p.before, nch), af = std::min(p.after, nch - 1);
  // Ring mode (segmented, neighbourhoods well inside the head): only the last seg + after + before chunks
  // gathered stay, in a ring, besides the first `after` and the last `before` chunks (for the wrap-around):
  // the gathered rows are written over the same few MiB again and again, not over 2·R·N·D fresh floats
  const int64_t ringc = seg + af + bw;
  const bool ring = segmented && 2 * (af + bw) + seg < nch && ringc + af + bw < nch;
  if (ring) cp.ring_chunks = ringc, cp.head_chunks = af, cp.tail_chunk = nch - bw;
  const int64_t rows = ring ? (ringc + af + bw) * p.chunk : group * RN;  // sorted rows per buffer
  auto sorted = buffer<float>(rows * (2 * D + 1));
  for (int64_t bh0 = 0; bh0 < B * H; bh0 += group) {
    const int64_t nbh = std::min(group, B * H - bh0);
    float* sq = sorted.get();
    float* sv = sq + rows * D;
    float* skf = sv + rows * D;
    // slots [s, e) of the group (slot i of head bh0 + i / RN) to their sorted rows (slot i in row i, or in ring
    // mode lsh_chunk_row), reading the rows a few slots ahead
    const auto gather = [&](int64_t from, int64_t to) {
      parallel_for(from, to, 256, [&](int64_t s, int64_t e) {
        for (int64_t i = s; i < e;) {  // one head and one chunk at a time: slots [i, end) of head bh
          const int64_t local = i / RN, bh = bh0 + local;
          int64_t end = std::min(e, (local + 1) * RN), row = i;
          if (ring) {
            const int64_t cc = i / p.chunk;
            end = std::min(e, (cc + 1) * p.chunk);
            row = lsh_chunk_row(cp, cc, nch) + i % p.chunk;
          }
          const int32_t* pm = perm.get() + bh0 * RN;  // pm[i] = position of slot i
          const float* qh = p.qk + bh * N * D;
          const float* vh = p.v + bh * N * D;
          const float* kh = kf.get() + bh * N;
          const int64_t ahead_end = std::min(e, (local + 1) * RN);
          for (; i < end; ++i, ++row) {
            if (i + kGatherAhead < ahead_end) {
              const char* qa = reinterpret_cast<const char*>(qh + pm[i + kGatherAhead] * D);
              const char* va = reinterpret_cast<const char*>(vh + pm[i + kGatherAhead] * D);
              for (int64_t o = 0; o < D * static_cast<int64_t>(sizeof(float)); o += 64) {
                __builtin_prefetch(qa + o);
                __builtin_prefetch(va + o);
              }
            }
            const int64_t pos = pm[i];
            std::memcpy(sq + row * D, qh + pos * D, static_cast<size_t>(D) * sizeof(float));
            std::memcpy(sv + row * D, vh + pos * D, static_cast<size_t>(D) * sizeof(float));
            skf[row] = kh[pos];
          }
        }
      });
    };
    cp.sq = sq, cp.sv = sv, cp.skf = skf, cp.bh0 = bh0, cp.nbh = nbh;
    if (!segmented) {
      gather(0, nbh * RN);
      if (last_chunk > 0) {  // rounds 0 .. R − 2 of every head of the group
        cp.c0 = 0, cp.cn = last_chunk;
        run_items(cp, 0, lsh_items(cp));
      }
      cp.c0 = last_chunk, cp.cn = nch - last_chunk;  // then the last round
      run_items(cp, 0, lsh_items(cp));
      cp.c0 = 0, cp.cn = 0;
      continue;
    }
    const auto split = [&](int64_t ib, int64_t ie) {
      const int64_t mid = std::min(std::max(ib, last_chunk * tiles), ie);
      run_items(cp, ib, mid);
      run_items(cp, mid, ie);
    };
    // Gather a segment of chunks, then run the items whose neighbourhoods (chunks c − before .. c + after) are
    // all gathered by then, so that they read rows still in cache. The last `before` chunks go first, for the
    // wrap-around of chunk 0 (items and their results are unchanged); in ring mode also the first `after` chunks,
    // for the wrap-around of the last ones, and the segments then start past them (the ring holds chunks
    // done − before .. g1 − 1 when the items of chunks [done, ready) run: at most seg + after + before).
    const int64_t hc = ring ? af : 0;
    gather((nch - bw) * p.chunk, RN);
    if (hc > 0) gather(0, hc * p.chunk);
    int64_t done = 0;  // items run for chunks [0, done)
    for (int64_t g0 = hc; g0 < nch - bw; g0 += seg) {
      const int64_t g1 = std::min(nch - bw, g0 + seg);
      gather(g0 * p.chunk, g1 * p.chunk);
      const int64_t ready = g1 == nch - bw ? nch : std::max(done, g1 - af);
      split(done * tiles, ready * tiles);
      done = ready;
    }
    split(done * tiles, nch * tiles);
  }
}

void local_attention_f32(const LocalParams& p) {
  if (p.B == 0 || p.H == 0 || p.N == 0) return;
  prefault(p.out, p.B * p.H * p.N * p.D);
  ChunkAttnParams cp;
  cp.q = p.q, cp.k = p.k, cp.v = p.v, cp.out = p.out;
  cp.B = p.B, cp.H = p.H, cp.N = p.N, cp.D = p.D;
  cp.keep = p.keep;
  cp.causal = p.causal;
  cp.key_scale = 1.0f / std::sqrt(static_cast<float>(p.D));
  if (lsh_is_standard(p.N, p.chunk)) {
    cp.chunk = p.N, cp.before = cp.after = 0;
  } else {
    cp.chunk = p.chunk, cp.before = p.before, cp.after = p.after;
  }
  run_items(cp, 0, lsh_items(cp));
}

}  // namespace cpu
}  // namespace tf
