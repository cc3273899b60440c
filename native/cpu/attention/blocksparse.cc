#include "blocksparse.h"

#include <cstdint>
#include <memory>

#include "../../core/dispatch.h"
#include "../../core/scratch.h"
#include "../../core/threadpool.h"

namespace tf {
namespace cpu {

// The kernels themselves are instantiated in flash.cc, flash_avx2.cc and flash_avx512.cc (blocksparse_impl.h)
// and registered with flash's.
void block_sparse_attention_f32(const BlockSparseParams& p0) {
  if (p0.f.B == 0 || p0.f.Hq == 0 || p0.f.Hkv == 0 || p0.f.Nq == 0) return;
  const int64_t items = blocksparse_items(p0);
  BlockSparseParams p = p0;
  std::unique_ptr<float[]> kv;  // strided keys and values, repacked once (flash.h)
  flash_pack_kv(p.f, items / (p.f.B * p.f.Hkv), kv);
  auto fn = kernels().block_sparse_attention_f32;
  const int64_t scratch_floats = flash_scratch_floats(p.f.D);
  parallel_for(0, items, 1, [&](int64_t s, int64_t e) {
    // 64-byte aligned (the arena's pieces are): the tiles' Qt, Sᵀ, m, l rows (multiples of 64 bytes apart at
    // D = 64) then start on cache lines, so no vector of them straddles two lines
    ScratchFrame frame;
    float* scratch = frame.floats(checked_count(scratch_floats));
    for (int64_t it = s; it < e; ++it) fn(p, it, scratch);
  });
}

}  // namespace cpu
}  // namespace tf
