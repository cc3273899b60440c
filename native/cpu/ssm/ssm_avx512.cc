// AVX-512 instantiation of the SSM row kernels (ssm_impl.h): the same template, nothing ISA-specific here.
// (compiled everywhere, run only on CPUs with AVX-512; not exercised on the AVX2-only build machine).
#include "../../core/simd.h"
#if defined(TF_SIMD_X86)
#include "../../core/dispatch.h"
#include "ssm.h"

TF_SIMD_BEGIN_AVX512
#include "ssm_impl.h"
TF_SIMD_END

namespace tf {
void register_ssm_avx512(Kernels& k) { fill_ssm<simd::Avx512>(k); }
}  // namespace tf
#endif
