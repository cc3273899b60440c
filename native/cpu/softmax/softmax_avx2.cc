// AVX2 instantiation of the softmax kernels (softmax_impl.h).
#include "../../core/simd.h"
#if defined(TF_SIMD_X86)
#include "../../core/dispatch.h"
#include "softmax.h"

TF_SIMD_BEGIN_AVX2
#include "softmax_impl.h"
TF_SIMD_END

namespace tf {
void register_softmax_avx2(Kernels& k) { fill_softmax<simd::Avx2>(k); }
}  // namespace tf
#endif
