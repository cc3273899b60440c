// fp32 GEMM driver (blocking, threading, choice of path) and the scalar instantiation of the kernels.
#include "gemm.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>

#include "../../core/dispatch.h"
#include "../../core/scratch.h"
#include "../../core/simd.h"
#include "../../core/threadpool.h"
#include "gemm_kernel.h"

// ---- scalar level: the same template as the SIMD levels, with one-lane "vectors" ----
namespace tf {
namespace {
// The shared scalar "vector" plus what the GEMM template needs beyond it.
struct VecScalar : simd::Scalar {
  static inline reg bcast(const float* p) { return *p; }
  static inline float fmas(float a, float b, float c) { return fma(a, b, c); }  // the same rounding as fma()
  static constexpr int TW = 0;  // no register transpose
  static inline void transpose_block(const float*, int64_t, float*, int64_t) {}
};
}  // namespace
}  // namespace tf

#define TF_GEMM_TARGET
#include "gemm_template.h"
#undef TF_GEMM_TARGET

namespace tf {

// 4x8 scalar tile: 32 accumulators, which compilers keep in (SSE/NEON) registers after vectorizing.
static const SgemmKernel kSgemmScalar = make_sgemm_kernel<VecScalar, 4, 8, 8>("scalar 4x8", 128, 256, 2048);

void register_gemm_scalar(Kernels& k) { k.sgemm = &kSgemmScalar; }

namespace cpu {
namespace {

// Temporary buffers come from the calling thread's scratch arena (core/scratch.h), one frame per product and one per
// task. The packed A block is different: consecutive tasks of a thread on the same rows reuse it, so it is a per-thread
// cache (which block it holds, for which product), not scratch: another kernel's task on this thread between two of
// ours could overwrite an arena piece without our knowing. It holds at most mc x kc floats (a few hundred KiB).
class PackedA {
 public:
  uint64_t call = 0;
  int64_t ic = -1, pc = -1;
  ~PackedA() { std::free(p_); }
  float* get(size_t floats) {
    if (floats > n_) {
      if (floats > (SIZE_MAX - 63) / sizeof(float)) throw ScratchError();
      size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
      void* p = std::aligned_alloc(64, bytes);
      if (!p) throw ScratchError(bytes);
      std::free(p_);
      p_ = static_cast<float*>(p);
      n_ = bytes / sizeof(float);
      call = 0;
    }
    return p_;
  }

 private:
  float* p_ = nullptr;
  size_t n_ = 0;
};
thread_local PackedA t_packed_a;
std::atomic<uint64_t> g_call_id{1};

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// C = beta * C (the whole product when K == 0 or alpha == 0).
void scale_c(int64_t m, int64_t n, float beta, float* c, int64_t rsc, int64_t csc) {
  if (beta == 1.0f) return;
  for (int64_t i = 0; i < m; ++i) {
    float* ci = c + i * rsc;
    if (beta == 0.0f) {
      if (csc == 1) std::memset(ci, 0, sizeof(float) * n);
      else
        for (int64_t j = 0; j < n; ++j) ci[j * csc] = 0.0f;
    } else {
      for (int64_t j = 0; j < n; ++j) ci[j * csc] *= beta;
    }
  }
}

// The small side (m <= kSgemmSmallM) is rows of op(A): (i, k) at a[i * rsa + k * csa].
void small_path(const SgemmKernel& kr, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t rsa,
                int64_t csa, const float* b, int64_t rsb, int64_t csb, float beta, float* c, int64_t rsc,
                int64_t csc) {
  ScratchFrame frame;
  const float* ap = a;
  int64_t lda = rsa;
  if (csa != 1) {  // copy the few rows so that each is contiguous in k
    float* t = frame.floats(checked_count(m, k));
    for (int64_t i = 0; i < m; ++i)
      for (int64_t p = 0; p < k; ++p) t[i * k + p] = a[i * rsa + p * csa];
    ap = t;
    lda = k;
  }
  // op(B) of a stored matrix always has rsb == 1 (dot products) or csb == 1 (streamed rows); when both are
  // (a single row or column) the kernel streams.
  constexpr int64_t kUnit = 64;  // columns per unit of work: split points are multiples of 64
  const int64_t units = ceil_div(n, kUnit);
  // About 64K multiply-adds per chunk at least, so tiny products stay on one thread. Streaming rows of B:
  // one contiguous range per thread (long row pieces are what the prefetchers need; the work is even).
  int64_t grain = std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(1, kUnit * k * m));
  if (csb == 1) grain = std::max(grain, ceil_div(units, num_threads()));
  auto fn = kr.small_m;
  parallel_for(0, units, grain, [&](int64_t u0, int64_t u1) {
    ScratchFrame task;
    float* scratch = task.floats(kSgemmSmallScratch);
    fn(m, u0 * kUnit, std::min(n, u1 * kUnit), k, ap, lda, b, rsb, csb, c, rsc, csc, alpha, beta, scratch);
  });
}

// The most floats of packed op(A) the skinny path keeps (16 MiB); larger products take the blocked path.
constexpr int64_t kSkinnyMaxA = int64_t{1} << 22;

// Whether the skinny path takes m rows of op(A) against n columns of op(B) with columns contiguous: up to one
// row block, at least as many columns as rows (with fewer, op(B) is the small operand and packing it whole is
// cheap: 5-10% slower here than the blocked path at 128-192 rows against 48-96 columns, K 4096-11008), and two
// panels per thread.
bool skinny_fits(const SgemmKernel& kr, int64_t m, int64_t n, int64_t k) {
  const int64_t mpad = ceil_div(m, kr.mr) * kr.mr;
  return m <= kr.mc && n >= m && mpad * k <= kSkinnyMaxA && ceil_div(n, kr.nr) >= 2 * num_threads();
}

// Few rows (kSgemmSmallM + 1 to the level's mc) of op(A) against op(B) with columns contiguous (column j at
// b + j * csb: an [out, in] weight), where the blocked path would pack all of op(B) per call for few rows and
// read the packed copy back from L3. Here all of op(A) is packed once (its KC blocks in order), then the
// column panels (NR wide) are split over the pool in contiguous ranges; each panel runs over the whole
// depth, one KC block at a time packed into a buffer that stays in L1 and is used at once by every row
// tile. op(B) is read from memory once, row by row in order, and never written back packed. The same KC
// blocks through the same micro-kernel and epilogue as the blocked path: the same bits.
void skinny_path(const SgemmKernel& kr, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t rsa,
                 int64_t csa, const float* b, int64_t csb, float beta, float* c, int64_t ldc) {
  const int64_t MR = kr.mr, NR = kr.nr, KC = kr.kc;
  const int64_t mpad = ceil_div(m, MR) * MR;
  const int64_t nkb = ceil_div(k, KC);
  ScratchFrame frame;
  float* ap = frame.floats(checked_count(mpad, k));  // all of op(A) packed
  // block pc (depths [pc, pc + kc)) at ap + pc * mpad
  parallel_for(0, nkb, std::max<int64_t>(1, 16384 / (mpad * KC)), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t pc = t * KC;
      kr.pack_a(m, std::min(KC, k - pc), a + pc * csa, rsa, csa, ap + pc * mpad);
    }
  });
  const int64_t npan = ceil_div(n, NR);
  // one contiguous range of panels per thread
  parallel_for(0, npan, ceil_div(npan, num_threads()), [&](int64_t p0, int64_t p1) {
    ScratchFrame task;
    float* bbuf = task.floats(checked_count(NR, KC));  // one packed panel block of op(B)
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t j0 = p * NR, nn = std::min(NR, n - j0);
      const float* bj = b + j0 * csb;
      for (int64_t pc = 0; pc < k; pc += KC) {
        const int64_t kc = std::min(KC, k - pc);
        kr.pack_b(kc, nn, bj + pc, 1, csb, bbuf);
        kr.macro(m, nn, kc, ap + pc * mpad, bbuf, c + j0, ldc, alpha, pc == 0 ? beta : 1.0f);
      }
    }
  });
}

// Packs the columns [0, nc) (nc <= NC) of op(B), depths [k0, k1), as the blocked path reads one column
// block: the KC block starting at depth pc at out + (pc - k0) * npan * NR, its panel p at + p * NR * kc
// (npan = ceil(nc / NR); k0 a multiple of KC). The whole depth for a packed weight or a whole-K product,
// one KC block otherwise.
void pack_b_block(const SgemmKernel& kr, int64_t k0, int64_t k1, int64_t nc, const float* b, int64_t rsb, int64_t csb,
                  float* out) {
  const int64_t KC = kr.kc, NR = kr.nr;
  const int64_t npan = ceil_div(nc, NR), nkb = ceil_div(k1 - k0, KC);
  const int64_t pgrain = std::max<int64_t>(1, 16384 / (std::min(KC, k1 - k0) * NR));
  parallel_for(0, nkb * npan, pgrain, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t pc = k0 + t / npan * KC, p = t % npan;
      const int64_t kc = std::min(KC, k1 - pc);
      const int64_t j0 = p * NR, j1 = std::min(nc, j0 + NR);
      kr.pack_b(kc, j1 - j0, b + pc * rsb + j0 * csb, rsb, csb, out + (pc - k0) * npan * NR + j0 * kc);
    }
  });
}

// `prepacked`: op(B) already packed by sgemm_pack_b_all for this kernel (then b, rsb, csb are unused), or
// null to pack B here. Both give the same bits: the same KC blocks through the same micro-kernel.
void blocked_path(const SgemmKernel& kr, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t rsa,
                  int64_t csa, const float* b, int64_t rsb, int64_t csb, float beta, float* c, int64_t ldc,
                  const float* prepacked = nullptr) {
  const int64_t MR = kr.mr, NR = kr.nr, KC = kr.kc, NC = kr.nc;
  const int threads = num_threads();
  // Row blocks of at most kr.mc rows, as even as possible and a multiple of the thread count when there
  // are several (e.g. 2048 rows: 12 blocks of 172 on 2 threads, not 11 of 192). Only KC shapes the sums.
  int64_t n_ic = ceil_div(m, kr.mc);
  if (threads > 1) n_ic = ceil_div(n_ic, threads) * threads;
  const int64_t MC = std::min<int64_t>(kr.mc, ceil_div(ceil_div(m, n_ic), MR) * MR);
  n_ic = ceil_div(m, MC);
  const int64_t nc_max = std::min(NC, ceil_div(n, NR) * NR);
  const int64_t kc_max = std::min(KC, k);
  const int64_t a_floats = MC * kc_max;
  const uint64_t call = g_call_id.fetch_add(1, std::memory_order_relaxed);

  // With several threads and a packed B of at most 8 MiB for the whole depth: pack all of it in one parallel
  // region and let each task run its whole K in a second one (2 regions instead of 2 per KC block: each
  // region costs a wake-up of the pool, which shows below ~10 ms of work). Same blocks, same sums.
  const bool whole_k = threads > 1 && k > KC && static_cast<double>(k) * nc_max * sizeof(float) <= 8.0 * (1 << 20);
  // the packing buffer: one KC block, or the whole depth (whole_k); none when B comes packed
  ScratchFrame frame;
  float* bbuf = prepacked ? nullptr : frame.floats(checked_count(nc_max, whole_k ? k : kc_max));

  for (int64_t jc = 0; jc < n; jc += NC) {
    const int64_t nc = std::min(NC, n - jc);
    const int64_t npan = ceil_div(nc, NR);
    // Few row blocks: also split the columns, so every thread has work (any split gives the same sums).
    const int64_t jp = threads <= 1 ? 1 : std::clamp<int64_t>(ceil_div(2 * threads, n_ic), 1, npan);
    if (whole_k) {
      // block pc of B starts at bp + pc * npan * NR; its panel p at + p * NR * kc
      const float* bp = prepacked ? prepacked + jc * k : bbuf;
      if (!prepacked) pack_b_block(kr, 0, k, nc, b + jc * csb, rsb, csb, bbuf);
      parallel_for(0, n_ic * jp, 1, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
          const int64_t ic = t / jp, q = t % jp;
          const int64_t pan0 = split_begin(npan, jp, q), pan1 = split_begin(npan, jp, q + 1);
          if (pan0 >= pan1) continue;
          const int64_t i0 = ic * MC, mc = std::min(MC, m - i0);
          const int64_t j0 = pan0 * NR, j1 = std::min(nc, pan1 * NR);
          float* ap = t_packed_a.get(static_cast<size_t>(a_floats));
          t_packed_a.call = 0;  // the buffer is reused below: forget what it held
          for (int64_t pc = 0; pc < k; pc += KC) {
            const int64_t kc = std::min(KC, k - pc);
            kr.pack_a(mc, kc, a + i0 * rsa + pc * csa, rsa, csa, ap);
            kr.macro(mc, j1 - j0, kc, ap, bp + pc * npan * NR + j0 * kc, c + i0 * ldc + jc + j0, ldc, alpha,
                     pc == 0 ? beta : 1.0f);
          }
        }
      });
      continue;
    }
    for (int64_t pc = 0; pc < k; pc += KC) {
      const int64_t kc = std::min(KC, k - pc);
      // 1. pack this B block (shared by every task below), unless it comes packed
      const float* bp = prepacked ? prepacked + jc * k + pc * npan * NR : bbuf;
      if (!prepacked) pack_b_block(kr, pc, pc + kc, nc, b + jc * csb, rsb, csb, bbuf);
      // 2. tasks = (row block, column range); each packs its A block (reused when the next task of this
      //    thread has the same rows) and runs the macro-kernel over its columns.
      const float beta_k = pc == 0 ? beta : 1.0f;
      parallel_for(0, n_ic * jp, 1, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
          const int64_t ic = t / jp, q = t % jp;
          const int64_t pan0 = split_begin(npan, jp, q), pan1 = split_begin(npan, jp, q + 1);
          if (pan0 >= pan1) continue;
          const int64_t i0 = ic * MC, mc = std::min(MC, m - i0);
          float* ap = t_packed_a.get(static_cast<size_t>(a_floats));
          PackedA& last = t_packed_a;
          if (last.call != call || last.ic != ic || last.pc != pc) {
            kr.pack_a(mc, kc, a + i0 * rsa + pc * csa, rsa, csa, ap);
            last.call = call;
            last.ic = ic;
            last.pc = pc;
          }
          const int64_t j0 = pan0 * NR, j1 = std::min(nc, pan1 * NR);
          kr.macro(mc, j1 - j0, kc, ap, bp + j0 * kc, c + i0 * ldc + jc + j0, ldc, alpha, beta_k);
        }
      });
    }
  }
}

}  // namespace

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.0f) {
    scale_c(m, n, beta, c, ldc, 1);
    return;
  }
  const SgemmKernel& kr = *kernels().sgemm;
  // op(A) (i, p) at a[i * rsa + p * csa]; op(B) (p, j) at b[p * rsb + j * csb]
  const int64_t rsa = trans_a ? 1 : lda, csa = trans_a ? lda : 1;
  const int64_t rsb = trans_b ? 1 : ldb, csb = trans_b ? ldb : 1;
  // The small path for up to 4 rows, and up to kSgemmSmallM when it takes dot products (the streamed operand
  // contiguous along k): measured faster than packing a large B for so few rows. (For 5-8 rows with rows of
  // B contiguous, the blocked path wins on cache-resident sizes.)
  // Then the skinny path (the blocked path's arithmetic without packing all of op(B)) for up to mc rows
  // against op(B) with columns contiguous (x . W^T with an [out, in] weight), when there are at least two
  // column panels per thread (it splits only the columns; it gives the blocked path's bits, so the choice
  // never changes a result).
  auto small = [](int64_t rows, int64_t rs_streamed) { return rows <= 4 || (rows <= kSgemmSmallM && rs_streamed == 1); };
  if (small(m, rsb)) {
    small_path(kr, m, n, k, alpha, a, rsa, csa, b, rsb, csb, beta, c, ldc, 1);
  } else if (small(n, csa)) {
    // C^T = op(B)^T op(A)^T: op(B)^T (j, p) at b[j * csb + p * rsb], op(A)^T (p, i) at a[i * rsa + p * csa],
    // C^T (j, i) at c[i * ldc + j].
    small_path(kr, n, m, k, alpha, b, csb, rsb, a, csa, rsa, beta, c, 1, ldc);
  } else if (rsb == 1 && skinny_fits(kr, m, n, k)) {
    skinny_path(kr, m, n, k, alpha, a, rsa, csa, b, csb, beta, c, ldc);
  } else {
    blocked_path(kr, m, n, k, alpha, a, rsa, csa, b, rsb, csb, beta, c, ldc);
  }
}

void sgemm_batched(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                   int64_t lda, int64_t stride_a, const float* b, int64_t ldb, int64_t stride_b, float beta, float* c,
                   int64_t ldc, int64_t stride_c, int64_t batch) {
  if (batch <= 0 || m <= 0 || n <= 0) return;
  if (batch == 1) return sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  // A shared B and row-stacked A and C: one product with batch * m rows (e.g. x [B, T, in] times a weight).
  if (stride_b == 0 && !trans_a && stride_a == m * lda && stride_c == m * ldc)
    return sgemm(false, trans_b, m * batch, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  auto one = [&](int64_t i) {
    sgemm(trans_a, trans_b, m, n, k, alpha, a + i * stride_a, lda, b + i * stride_b, ldb, beta, c + i * stride_c,
          ldc);
  };
  if (num_threads() > 1 && flops < 8.0e6) {
    // Small products: one per task (the nested parallel regions inside run inline on that thread).
    parallel_for(0, batch, 1, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) one(i);
    });
  } else {
    for (int64_t i = 0; i < batch; ++i) one(i);
  }
}

int64_t sgemm_packed_b_floats(int64_t k, int64_t n) {
  const int64_t nr = kernels().sgemm->nr;
  return ceil_div(n, nr) * nr * k;
}

void sgemm_pack_b_all(bool trans_b, int64_t k, int64_t n, const float* b, int64_t ldb, float* out) {
  const SgemmKernel& kr = *kernels().sgemm;
  const int64_t rsb = trans_b ? 1 : ldb, csb = trans_b ? ldb : 1;
  // column block jc (NC columns, NC a multiple of NR) starts at out + jc * k
  for (int64_t jc = 0; jc < n; jc += kr.nc)
    pack_b_block(kr, 0, k, std::min<int64_t>(kr.nc, n - jc), b + jc * csb, rsb, csb, out + jc * k);
}

void sgemm_prepacked(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const float* bp,
                     float beta, float* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.0f) {
    scale_c(m, n, beta, c, ldc, 1);
    return;
  }
  const SgemmKernel& kr = *kernels().sgemm;
  if (m <= kSgemmSmallM) {
    // Few rows (decode): the packed weight streamed once, each panel for its whole depth (no A packing, no
    // per-KC-block pass over C); panels split over the pool in contiguous ranges, at least ~64K
    // multiply-adds per range so that tiny products stay on one thread.
    int64_t panels = 0;
    for (int64_t jc = 0; jc < n; jc += kr.nc) panels += ceil_div(std::min<int64_t>(kr.nc, n - jc), kr.nr);
    int64_t grain = std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(1, kr.nr * k * m));
    grain = std::max(grain, ceil_div(panels, num_threads()));
    auto fn = kr.packed_few;
    parallel_for(0, panels, grain, [&](int64_t g0, int64_t g1) {
      fn(m, g0, g1, n, k, kr.kc, kr.nc, a, lda, bp, c, ldc, alpha, beta);
    });
    return;
  }
  blocked_path(kr, m, n, k, alpha, a, lda, 1, nullptr, 0, 0, beta, c, ldc, bp);
}

const char* sgemm_kernel_name() { return kernels().sgemm->name; }

double sgemm_peak_probe(int64_t iters, int threads, double* seconds) {
  auto fn = kernels().sgemm->peak_probe;
  threads = std::max(1, threads);
  std::atomic<int64_t> done_flops{0};
  auto t0 = std::chrono::steady_clock::now();
  parallel_for(0, threads, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) done_flops.fetch_add(static_cast<int64_t>(fn(iters)), std::memory_order_relaxed);
  });
  auto t1 = std::chrono::steady_clock::now();
  if (seconds) *seconds = std::chrono::duration<double>(t1 - t0).count();
  return static_cast<double>(done_flops.load());
}

double sgemm_read_probe(int64_t bytes, int passes, int threads, double* seconds) {
  auto fn = kernels().sgemm->read_probe;
  threads = std::max(1, threads);
  const int64_t per = std::max<int64_t>(64, bytes / 4 / threads / 64 * 64);  // floats per thread
  const int64_t n = per * threads;
  ScratchFrame frame;
  float* buf = frame.floats(checked_count(n));
  // touch every page on the thread that will read it
  parallel_for(0, threads, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t)
      for (int64_t i = 0; i < per; ++i) buf[t * per + i] = 1.0f / static_cast<float>(1 + (i & 1023));
  });
  std::atomic<int64_t> sink{0};
  auto t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < passes; ++r) {
    parallel_for(0, threads, 1, [&](int64_t a, int64_t b) {
      for (int64_t t = a; t < b; ++t) sink.fetch_add(fn(buf + t * per, per) > 0 ? 1 : 0, std::memory_order_relaxed);
    });
  }
  auto t1 = std::chrono::steady_clock::now();
  if (seconds) *seconds = std::chrono::duration<double>(t1 - t0).count();
  return static_cast<double>(n) * sizeof(float) * passes + (sink.load() < 0 ? 1.0 : 0.0);
}

}  // namespace cpu
}  // namespace tf
