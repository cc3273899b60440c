// AVX-512 instantiation of the reduction kernels (reduce_impl.h).
#include "../../core/simd.h"
#if defined(TF_SIMD_X86)
#include "../../core/dispatch.h"

TF_SIMD_BEGIN_AVX512
#include "reduce_impl.h"
TF_SIMD_END

namespace tf {
void register_reduce_avx512(Kernels& k) { fill_reduce<simd::Avx512>(k); }
}  // namespace tf
#endif
