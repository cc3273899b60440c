// fp32 GEMM: C = alpha * op(A) * op(B) + beta * C, row-major, op = identity or transpose.
//
// The entry points choose a path from the shape (and between two paths with the same bits, the thread
// count), so 1 and N threads give bitwise-equal results: the small-M path (M <= 4, or M <= 8 when op(B) is contiguous along K, as
// a [out, in] weight is; the same for N by computing C^T = op(B)^T op(A)^T) reads op(B) once, with no
// packing, and splits its columns over the pool: the decode (GEMV) shape. From 9 rows up to the level's
// row block (mc) with op(B) columns contiguous (x . W^T, an [out, in] weight), at least as many columns as
// rows and at least two column panels per thread, the skinny path: op(A) packed whole once, op(B) packed one NR x KC panel block at a time by
// the thread that uses it at once (never all of op(B) per call, which the blocked path does); it runs the
// blocked path's KC blocks through the same micro-kernel, so it gives the blocked path's bits (the choice
// between the two, which depends on the thread count, never changes a result). Otherwise the blocked path
// (Goto/BLIS: NC x KC blocks of B packed once and shared, MC x KC blocks of A packed per task, register
// micro-tiles) splits C's row blocks (and, when there are few, column ranges) over the pool.
// Arguments are not checked here: the N-API layer does that (lda >= cols of the stored A, and so on).
#pragma once
#include <cstdint>

namespace tf::cpu {

// A is M x K (K x M when trans_a) with leading dimension lda; B is K x N (N x K when trans_b) with ldb;
// C is M x N with ldc. beta == 0 writes C without reading it. C must not overlap A or B.
void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

// `batch` independent products; operand i starts at a + i * stride_a (likewise b, c). A stride of 0
// broadcasts that operand to every product (stride_c must not be 0 when batch > 1).
void sgemm_batched(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                   int64_t lda, int64_t stride_a, const float* b, int64_t ldb, int64_t stride_b, float beta, float* c,
                   int64_t ldc, int64_t stride_c, int64_t batch);

// Weights packed once (e.g. a linear layer's [out, in] weight, used by every call): op(B) is laid out as
// the blocked path of the ACTIVE level reads it, so products with it skip packing B: from 9 rows
// up they take the blocked path (the same bits as sgemm() wherever sgemm() takes the blocked path too);
// up to 8 rows (kSgemmSmallM) a few-row path that streams each packed panel once for its whole depth (one FMA
// chain per element over all of K; not bitwise equal to sgemm()'s small-M path). The layout is only
// valid for the kernel that was active when it was packed (sgemm_kernel_name() names it).
// Floats of the packed form of a K x N op(B) (N rounded up to the micro-tile width).
int64_t sgemm_packed_b_floats(int64_t k, int64_t n);
// Packs op(B) (B is K x N, or N x K when trans_b, leading dimension ldb) into out[sgemm_packed_b_floats(k, n)].
void sgemm_pack_b_all(bool trans_b, int64_t k, int64_t n, const float* b, int64_t ldb, float* out);
// C = alpha * A * B + beta * C with A M x K (row-major, lda) and B given packed.
void sgemm_prepacked(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, const float* bp,
                     float beta, float* c, int64_t ldc);

// The micro-kernel of the active level, e.g. "avx2 4x24".
const char* sgemm_kernel_name();

// FMA peak: runs `iters` rounds of register FMAs of the active level on `threads` threads at once (each
// thread the same count) and returns the total flop count; *seconds gets the wall time.
double sgemm_peak_probe(int64_t iters, int threads, double* seconds);

// Memory read bandwidth: each of `threads` threads reads its share of a `bytes` buffer (allocated and
// touched first, freed after) `passes` times; returns the bytes read, *seconds the wall time of the reads.
double sgemm_read_probe(int64_t bytes, int passes, int threads, double* seconds);

}  // namespace tf::cpu
