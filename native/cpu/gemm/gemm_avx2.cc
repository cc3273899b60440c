// AVX2 + FMA instantiation of the GEMM template (gemm_template.h).
//
// Tile 4x24 (MR = 4 rows, NR = 3 vectors of 8): 12 accumulators + 3 B vectors + 1 broadcast = all 16 ymm
// registers. Per k step 3 loads + 4 broadcasts feed 12 FMAs (7 loads per 12 FMAs, against 8 for the
// classic 6x16), and 12 independent chains cover the FMA latency (4 cycles x 2 ports = 8 needed).
// Measured on Zen 3 (interleaved best-of runs, pack A + macro-kernel over a 2 MiB B block): 4x24 94-96% of
// the FMA peak, 6x16 91-94%; both about 98% with everything in L1.
// Blocks: KC = 256 (a 24 KiB B micro-panel in a 32 KiB L1, the 4 KiB A micro-panel streaming past it),
// MC = 192 (a 192 KiB packed A block in a 512 KiB L2), NC = 3072 (a 3 MiB B block in L3).
#if defined(__x86_64__) || defined(_M_X64)
#include "../../core/dispatch.h"
#include "../../core/simd.h"

#define TF_GEMM_TARGET __attribute__((target("avx2,fma")))
#define TF_VEC static inline __attribute__((always_inline, target("avx2,fma")))

namespace tf {
namespace {
// The shared AVX2 vector struct plus what the GEMM template needs beyond it.
struct VecAvx2 : simd::Avx2 {
  TF_VEC reg bcast(const float* p) { return _mm256_broadcast_ss(p); }
  TF_VEC float fmas(float a, float b, float c) {
    return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c)));
  }
  static constexpr int TW = 8;
  TF_VEC void transpose_block(const float* src, int64_t lds, float* dst, int64_t ldd) {
    simd::transpose_8x8(src, lds, dst, ldd);
  }
};
}  // namespace
}  // namespace tf

#include "gemm_template.h"

namespace tf {

static const SgemmKernel kSgemmAvx2 = make_sgemm_kernel<VecAvx2, 4, 3, 12>("avx2 4x24", 192, 256, 3072);

void register_gemm_avx2(Kernels& k) { k.sgemm = &kSgemmAvx2; }

}  // namespace tf

#undef TF_VEC
#undef TF_GEMM_TARGET
#endif
