// AVX512-VNNI instantiation of the quantized integer kernel (quant_x86.h): vpdpbusd on 256-bit vectors
// (AVX512-VL), in place of maddubs + madd. Registered only on CPUs with AVX512-VNNI; without it the AVX2
// kernel (inherited from the level below) runs. A thin instantiation: it compiles in every x86 build but was
// not run on the AVX2-only development machine.
#include "../../core/simd.h"
#if defined(TF_SIMD_X86)
#include "../../core/cpu_features.h"
#include "../../core/dispatch.h"
#include "quant.h"

#define TF_QUANT_VNNI 1
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c"))), \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")
#endif
#include "quant_x86.h"
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

namespace tf {
void register_quant_avx512(Kernels& k) {
  if (cpu_features().avx512_vnni) fill_quant_x86<true>(k);
}
}  // namespace tf
#endif
