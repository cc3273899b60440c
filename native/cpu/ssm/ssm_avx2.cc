// AVX2 instantiation of the SSM row kernels (ssm_impl.h): the same template, nothing ISA-specific here.
#include "../../core/simd.h"
#if defined(TF_SIMD_X86)
#include "../../core/dispatch.h"
#include "ssm.h"

TF_SIMD_BEGIN_AVX2
#include "ssm_impl.h"
TF_SIMD_END

namespace tf {
void register_ssm_avx2(Kernels& k) { fill_ssm<simd::Avx2>(k); }
}  // namespace tf
#endif
