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
#include <immintrin.h>

#include "../../core/dispatch.h"

#define TF_GEMM_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")))
#define TF_VEC static inline __attribute__((always_inline, target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")))

namespace tf {
namespace {
struct VecAvx512 {
  using reg = __m512;
  static constexpr int W = 16;
  TF_VEC reg zero() { return _mm512_setzero_ps(); }
  TF_VEC reg load(const float* p) { return _mm512_loadu_ps(p); }
  TF_VEC void store(float* p, reg v) { _mm512_storeu_ps(p, v); }
  TF_VEC reg bcast(const float* p) { return _mm512_set1_ps(*p); }
  TF_VEC reg set1(float x) { return _mm512_set1_ps(x); }
  TF_VEC reg fma(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  TF_VEC reg mul(reg a, reg b) { return _mm512_mul_ps(a, b); }
  TF_VEC float hsum(reg v) {
    // fixed tree: 16 -> 8 -> 4 -> 2 -> 1
    __m256 h = _mm256_add_ps(_mm512_extractf32x8_ps(v, 0), _mm512_extractf32x8_ps(v, 1));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  TF_VEC float fmas(float a, float b, float c) {
    return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c)));
  }
  // 8 x 8 transpose (256-bit: the AVX2 sequence, valid here too): rows src + i * lds (8 floats each) to rows dst + i * ldd.
  static constexpr int TW = 8;
  TF_VEC void transpose_block(const float* src, int64_t lds, float* dst, int64_t ldd) {
    const __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + lds), r2 = _mm256_loadu_ps(src + 2 * lds),
                 r3 = _mm256_loadu_ps(src + 3 * lds), r4 = _mm256_loadu_ps(src + 4 * lds),
                 r5 = _mm256_loadu_ps(src + 5 * lds), r6 = _mm256_loadu_ps(src + 6 * lds),
                 r7 = _mm256_loadu_ps(src + 7 * lds);
    const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3),
                 t3 = _mm256_unpackhi_ps(r2, r3), t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
                 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE),
                 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE),
                 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE),
                 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(dst, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(dst + ldd, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(dst + 2 * ldd, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(dst + 3 * ldd, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(dst + 4 * ldd, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(dst + 5 * ldd, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(dst + 6 * ldd, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(dst + 7 * ldd, _mm256_permute2f128_ps(u3, u7, 0x31));
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
