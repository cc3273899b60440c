// AVX-512 instantiation of the flash attention tile kernel (flash_impl.h): a thin instantiation of the same
// template; compiled in every x86 build, run only on CPUs with AVX-512 (not measured on the build machine).
#include "../../core/simd.h"
#if defined(TF_SIMD_X86)
#include "../../core/dispatch.h"
#include "blocksparse.h"
#include "flash.h"

TF_SIMD_BEGIN_AVX512
#include "flash_impl.h"
#include "blocksparse_impl.h"
TF_SIMD_END

namespace tf {
void register_flash_avx512(Kernels& k) {
  fill_flash<simd::Avx512>(k);
  fill_blocksparse<simd::Avx512>(k);  // blocksparse.h
}
}  // namespace tf
#endif
