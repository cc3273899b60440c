// AVX2 instantiation of the FAVOR+ row kernels (favor_impl.h).
#include "../../core/simd.h"
#if defined(TF_SIMD_X86)
#include "../../core/dispatch.h"
#include "favor.h"

TF_SIMD_BEGIN_AVX2
#include "favor_impl.h"
TF_SIMD_END

namespace tf {
void register_favor_avx2(Kernels& k) { fill_favor<simd::Avx2>(k); }
}  // namespace tf
#endif
