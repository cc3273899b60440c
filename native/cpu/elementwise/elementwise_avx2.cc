// AVX2 + FMA instantiation of the element-wise kernels (elementwise_impl.h).
#include "../../core/simd.h"
#if defined(TF_SIMD_X86)
#include "../../core/dispatch.h"
#include "elementwise.h"

TF_SIMD_BEGIN_AVX2
#include "elementwise_impl.h"
TF_SIMD_END

namespace tf {
void register_elementwise_avx2(Kernels& k) { fill_elementwise<simd::Avx2>(k); }
}  // namespace tf
#endif
