// AVX2 instantiation of the retention forms (retention_impl.h): the same template, nothing ISA-specific here.
#include "../../core/simd.h"
#if defined(TF_SIMD_X86)
#include "../../core/dispatch.h"
#include "retention.h"

TF_SIMD_BEGIN_AVX2
#include "retention_impl.h"
TF_SIMD_END

namespace tf {
void register_retention_avx2(Kernels& k) { fill_retention<simd::Avx2>(k); }
}  // namespace tf
#endif
