// The per-ISA part of the fp32 GEMM: one table per dispatch level, filled by gemm_template.h's
// instantiation in gemm.cc (scalar), gemm_avx2.cc and gemm_avx512.cc. gemm.cc's driver does the blocking,
// the threading and the choice of path; everything below works on one block on one thread.
//
// Conventions: op(A) is M x K with element (i, k) at a[i * rsa + k * csa]; op(B) is K x N with element
// (k, j) at b[k * rsb + j * csb]; C is row-major with leading dimension ldc (the small-M path takes
// general C strides). "beta == 0" means C is written without being read (NaN in C does not propagate).
#pragma once
#include <cstdint>

namespace tf {

struct SgemmKernel {
  const char* name;  // e.g. "avx2 6x16"
  int mr, nr;        // register tile of the micro-kernel
  int mc, kc, nc;    // cache blocks: mc a multiple of mr, nc a multiple of nr

  // Packs op(A)[0:m, 0:k] (m <= mc) into ceil(m / mr) panels of mr rows, k-major inside a panel
  // (out[p * mr * k + kk * mr + i]); rows past m are zero.
  void (*pack_a)(int64_t m, int64_t k, const float* a, int64_t rsa, int64_t csa, float* out);
  // Packs op(B)[0:k, 0:n] into ceil(n / nr) panels of nr columns (out[p * nr * k + kk * nr + j]); columns
  // past n are zero.
  void (*pack_b)(int64_t k, int64_t n, const float* b, int64_t rsb, int64_t csb, float* out);
  // C[0:m, 0:n] = alpha * Ap . Bp + beta * C over packed panels of depth k (n is any count; bp points at
  // the panel holding column 0).
  void (*macro)(int64_t m, int64_t n, int64_t k, const float* ap, const float* bp, float* c, int64_t ldc, float alpha,
                float beta);
  // The small-M path (m <= kSgemmSmallM rows of A, row i contiguous at a + i * lda), over columns
  // [n0, n1): C[i, j] = alpha * sum_k a[i, k] * op(B)[k, j] + beta * C[i, j], with C element (i, j) at
  // c[i * rsc + j * csc]. op(B) must have csb == 1 (streamed by rows) or rsb == 1 (dot products). The
  // summation order of an element depends on K only, never on [n0, n1); n0 must be a multiple of 64 (so
  // the vector/tail split of a row of B is the same for every split of the columns).
  // `scratch` is kSgemmSmallScratch floats, 64-byte aligned, private to the calling thread.
  void (*small_m)(int64_t m, int64_t n0, int64_t n1, int64_t k, const float* a, int64_t lda, const float* b,
                  int64_t rsb, int64_t csb, float* c, int64_t rsc, int64_t csc, float alpha, float beta,
                  float* scratch);
  // The few-row path over a whole prepacked op(B) (sgemm_pack_b_all's layout of a K x N op(B) for this
  // table's nr and the kc, nc passed): C = alpha * A . op(B) + beta * C for m <= kSgemmSmallM rows of A (row
  // i contiguous at a + i * lda) and the columns of panels [g0, g1), panels numbered across the column
  // blocks (nc / nr per block). Each element is one chain of FMAs over the whole depth in order, then the
  // epilogue: the result depends on neither [g0, g1) nor on how panels and rows are grouped.
  void (*packed_few)(int64_t m, int64_t g0, int64_t g1, int64_t n, int64_t k, int64_t kc, int64_t nc, const float* a,
                     int64_t lda, const float* bp, float* c, int64_t ldc, float alpha, float beta);
  // Runs `iters` rounds of independent register FMAs; returns the flop count done (2 per lane per FMA).
  double (*peak_probe)(int64_t iters);
  // Reads p[0:n] (n a multiple of 64) as eight concurrent sequential streams; returns a sum of squares.
  float (*read_probe)(const float* p, int64_t n);
};

// Rows of A up to which the small-M (GEMV-like) path may be used; the same for every level.
constexpr int64_t kSgemmSmallM = 8;
// Floats of per-thread scratch the small-M path needs (64 KiB).
constexpr int64_t kSgemmSmallScratch = 16384;

}  // namespace tf
