// AVX-512 instantiation of the FAVOR+ row kernels (favor_impl.h).
#include "../../core/simd.h"
#if defined(TF_SIMD_X86)
#include "../../core/dispatch.h"
#include "favor.h"

TF_SIMD_BEGIN_AVX512
#include "favor_impl.h"
TF_SIMD_END

namespace tf {
void register_favor_avx512(Kernels& k) { fill_favor<simd::Avx512>(k); }
}  // namespace tf
#endif
