#include "blocksparse.h"
#include "flash.h"

#include <algorithm>
#include <vector>

#include "../../core/dispatch.h"
#include "../../core/threadpool.h"
#include "flash_impl.h"
#include "blocksparse_impl.h"  // scalar instantiation: no target region

namespace tf {

void register_flash_scalar(Kernels& k) {
  fill_flash<simd::Scalar>(k);
  fill_blocksparse<simd::Scalar>(k);  // blocksparse.h
}

namespace cpu {

void flash_attention_f32(const FlashParams& p) {
  if (p.B == 0 || p.Hq == 0 || p.Hkv == 0 || p.Nq == 0) return;
  const int64_t items = flash_items(p.B, p.Hq, p.Hkv, p.Nq);
  auto fn = kernels().flash_attention_f32;
  const int64_t scratch_floats = flash_scratch_floats(p.D);
  parallel_for(0, items, 1, [&](int64_t s, int64_t e) {
    std::vector<float> scratch(static_cast<size_t>(scratch_floats));  // one tile of this thread
    for (int64_t it = s; it < e; ++it) fn(p, it, scratch.data());
  });
}

}  // namespace cpu
}  // namespace tf
