// AVX-512 instantiation of the GEMM template (gemm_template.h): the same code as the AVX2 level, with
// 16-lane vectors and a larger tile. Deliberately a thin instantiation (traits + tile + blocks only): the
// kernels themselves are tested at the scalar and AVX2 levels, which share every line of them.
//
// Tile 14x32 (MR = 14 rows, NR = 2 vectors of 16): 28 accumulators + 2 B vectors + 1 broadcast = 31 of the
// 32 zmm registers. Per k step 2 loads + 14 broadcasts feed 28 FMAs (more FMAs per load than any smaller
// tile), and 28 chains cover the FMA latency on two 512-bit ports (8 needed). MR = 14 wastes little on
// row edges for transformer sizes (e.g. 128 = 9 x 14 + 2).
// Blocks: KC = 192 (a 24 KiB B micro-panel + a 10.5 KiB A micro-panel fit a 48 KiB L1; on a 32 KiB L1 the
// B panel still mostly stays), MC = 168 (a 126 KiB A block in L2), NC = 3072 (a 2.25 MiB B block in L3).
// Not tuned on hardware: the build machine of this slice has no AVX-512.
#if defined(__x86_64__) || defined(_M_X64)
// GCC 12 warns inside its own AVX-512 intrinsics (bug 105593, fixed in 13); the values are fully written.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include "../../core/dispatch.h"
#include "../../core/simd.h"

#define TF_GEMM_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")))
#define TF_VEC static inline __attribute__((always_inline, target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")))

namespace tf {
namespace {
// The shared AVX-512 vector struct plus what the GEMM template needs beyond it.
struct VecAvx512 : simd::Avx512 {
  TF_VEC reg bcast(const float* p) { return _mm512_set1_ps(*p); }
  TF_VEC float fmas(float a, float b, float c) {
    return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c)));
  }
  static constexpr int TW = 8;  // the 256-bit transpose: packing is not the bottleneck
  TF_VEC void transpose_block(const float* src, int64_t lds, float* dst, int64_t ldd) {
    simd::transpose_8x8(src, lds, dst, ldd);
  }
};
}  // namespace
}  // namespace tf

#include "gemm_template.h"

namespace tf {

static const SgemmKernel kSgemmAvx512 = make_sgemm_kernel<VecAvx512, 14, 2, 24>("avx512 14x32", 168, 192, 3072);

void register_gemm_avx512(Kernels& k) { k.sgemm = &kSgemmAvx512; }

}  // namespace tf

#undef TF_VEC
#undef TF_GEMM_TARGET
#endif
