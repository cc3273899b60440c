// AVX2 instantiation of the WKV kernel (wkv_impl.h): the same template, nothing ISA-specific here.
#include "../../core/simd.h"
#if defined(TF_SIMD_X86)
#include "../../core/dispatch.h"
#include "wkv.h"

TF_SIMD_BEGIN_AVX2
#include "wkv_impl.h"
TF_SIMD_END

namespace tf {
void register_wkv_avx2(Kernels& k) { fill_wkv<simd::Avx2>(k); }
}  // namespace tf
#endif
