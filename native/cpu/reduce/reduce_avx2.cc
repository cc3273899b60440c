// AVX2 instantiation of the reduction kernels (reduce_impl.h).
#include "../../core/simd.h"
#if defined(TF_SIMD_X86)
#include "../../core/dispatch.h"

TF_SIMD_BEGIN_AVX2
#include "reduce_impl.h"
TF_SIMD_END

namespace tf {
void register_reduce_avx2(Kernels& k) { fill_reduce<simd::Avx2>(k); }
}  // namespace tf
#endif
