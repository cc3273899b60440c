// AVX-512 instantiation of the normalization kernels (norm_impl.h).
#include "../../core/simd.h"
#if defined(TF_SIMD_X86)
#include "../../core/dispatch.h"

TF_SIMD_BEGIN_AVX512
#include "norm_impl.h"
TF_SIMD_END

namespace tf {
void register_norm_avx512(Kernels& k) { fill_norm<simd::Avx512>(k); }
}  // namespace tf
#endif
