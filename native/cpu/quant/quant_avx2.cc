// AVX2 instantiation of the quantized integer kernel (quant_x86.h): maddubs + madd.
#include "../../core/simd.h"
#if defined(TF_SIMD_X86)
#include "../../core/dispatch.h"
#include "quant.h"

// The AVX2 level requires F16C too (cpu_features.cc): the fp16 block scales convert with vcvtph2ps.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif
#include "quant_x86.h"
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

namespace tf {
void register_quant_avx2(Kernels& k) { fill_quant_x86<false>(k); }
}  // namespace tf
#endif
