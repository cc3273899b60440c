// AVX2 instantiation of the flash attention tile kernel (flash_impl.h).
#include "../../core/simd.h"
#if defined(TF_SIMD_X86)
#include "../../core/dispatch.h"
#include "blocksparse.h"
#include "flash.h"

TF_SIMD_BEGIN_AVX2
#include "flash_impl.h"
#include "blocksparse_impl.h"
TF_SIMD_END

namespace tf {
void register_flash_avx2(Kernels& k) {
  fill_flash<simd::Avx2>(k);
  fill_blocksparse<simd::Avx2>(k);  // blocksparse.h
}
}  // namespace tf
#endif
