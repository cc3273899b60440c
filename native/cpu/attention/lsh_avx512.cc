// AVX512 instantiation of the Reformer chunked-attention item kernel (lsh_impl.h).
#include "../../core/simd.h"
#if defined(TF_SIMD_X86)
#include "../../core/dispatch.h"
#include "flash.h"
#include "lsh.h"

TF_SIMD_BEGIN_AVX512
#include "lsh_impl.h"
TF_SIMD_END

namespace tf {
void register_lsh_avx512(Kernels& k) { fill_lsh<simd::Avx512>(k); }
}  // namespace tf
#endif
