// AVX-512 instantiation of the element-wise kernels (elementwise_impl.h). Compiled in every x86 build, run
// only where the CPU has AVX-512.
#include "../../core/simd.h"
#if defined(TF_SIMD_X86)
#include "../../core/dispatch.h"
#include "elementwise.h"

TF_SIMD_BEGIN_AVX512
#include "elementwise_impl.h"
TF_SIMD_END

namespace tf {
void register_elementwise_avx512(Kernels& k) { fill_elementwise<simd::Avx512>(k); }
}  // namespace tf
#endif
