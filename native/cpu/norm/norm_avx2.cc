// AVX2 instantiation of the normalization kernels (norm_impl.h).
#include "../../core/simd.h"
#if defined(TF_SIMD_X86)
#include "../../core/dispatch.h"

TF_SIMD_BEGIN_AVX2
#include "norm_impl.h"
TF_SIMD_END

namespace tf {
void register_norm_avx2(Kernels& k) { fill_norm<simd::Avx2>(k); }
}  // namespace tf
#endif
