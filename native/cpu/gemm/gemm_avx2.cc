// AVX2 + FMA instantiation of the GEMM template (gemm_template.h).
//
// Tile 4x24 (MR = 4 rows, NR = 3 vectors of 8): 12 accumulators + 3 B vectors + 1 broadcast = all 16 ymm
// registers. Per k step 3 loads + 4 broadcasts feed 12 FMAs (7 loads per 12 FMAs, against 8 for the
// classic 6x16), and 12 independent chains cover the FMA latency (4 cycles x 2 ports = 8 needed).
// Measured on Zen 3 (interleaved best-of runs, pack A + macro-kernel over a 2 MiB B block): 4x24 94-96% of
// the FMA peak, 6x16 91-94%; both about 98% with everything in L1.
// Blocks: KC = 256 (a 24 KiB B micro-panel in a 32 KiB L1, the 4 KiB A micro-panel streaming past it),
// MC = 192 (a 192 KiB packed A block in a 512 KiB L2), NC = 3072 (a 3 MiB B block in L3).
// Re-measured on the Zen 3 build machine (32 KiB L1d, 512 KiB L2 per core; 1 thread, 1024^3, CPU time, best of
// 21 interleaved rounds, load 9-11): KC/MC 256/192 stayed best against 192/192, 320/128, 384/128, 256/288 and
// 256/96 (1-4% slower), and 6x16 (MC 144) was 2-5% slower; a prefetch of the A micro-panel inside the
// micro-kernel gained nothing. Where 1024^3 goes: the micro-kernel alone on L1-resident panels reaches 96-97%
// of the FMA peak, the macro-kernel (A block in L2, B panels from L3) 93-95%, and packing A and B takes 5-6%
// of the time (both read their source from L3 or memory).
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
  // Packing a 4-row A panel (rows contiguous along k): 8 depths of the 4 rows through a 4 x 8 register
  // transpose, out[kk * 4 + i] = rows[i][p + kk] (four 32-byte stores instead of 32 scalar ones).
  TF_VEC void pack_a4(const float* const* rows, int64_t p, float* out) {
    const __m256 r0 = _mm256_loadu_ps(rows[0] + p), r1 = _mm256_loadu_ps(rows[1] + p);
    const __m256 r2 = _mm256_loadu_ps(rows[2] + p), r3 = _mm256_loadu_ps(rows[3] + p);
    const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);  // depths 0 1 4 5, 2 3 6 7
    const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);  // depths 0|4, 1|5
    const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);  // depths 2|6, 3|7
    _mm256_storeu_ps(out, _mm256_permute2f128_ps(u0, u1, 0x20));
    _mm256_storeu_ps(out + 8, _mm256_permute2f128_ps(u2, u3, 0x20));
    _mm256_storeu_ps(out + 16, _mm256_permute2f128_ps(u0, u1, 0x31));
    _mm256_storeu_ps(out + 24, _mm256_permute2f128_ps(u2, u3, 0x31));
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
