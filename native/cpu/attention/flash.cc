#include "blocksparse.h"
#include "flash.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include "../../core/dispatch.h"
#include "../../core/scratch.h"
#include "../../core/threadpool.h"
#include "flash_impl.h"
#include "blocksparse_impl.h"  // scalar instantiation: no target region

namespace tf {

void register_flash_scalar(Kernels& k) {
  fill_flash<simd::Scalar>(k);
  fill_blocksparse<simd::Scalar>(k);  // blocksparse.h
}

namespace cpu {

bool flash_pack_kv(FlashParams& p, int64_t readers, std::unique_ptr<float[]>& buf) {
  const int64_t D = p.D, Nk = p.Nk, heads = p.B * p.Hkv;
  if ((p.k_sn == D && p.v_sn == D) || readers < 2 || Nk == 0 || heads == 0) return false;
  const int64_t per = Nk * D;
  buf.reset(new float[static_cast<size_t>(2 * heads * per)]);  // not zeroed: every element is written below
  float* kd = buf.get();
  float* vd = kd + heads * per;
  const FlashParams s = p;
  parallel_for(0, heads, 1, [&](int64_t a, int64_t e) {
    for (int64_t bh = a; bh < e; ++bh) {
      const int64_t b = bh / s.Hkv, h = bh % s.Hkv;
      const float* ks = s.k + b * s.k_sb + h * s.k_sh;
      const float* vs = s.v + b * s.v_sb + h * s.v_sh;
      for (int64_t j = 0; j < Nk; ++j) {
        std::memcpy(kd + bh * per + j * D, ks + j * s.k_sn, static_cast<size_t>(D) * sizeof(float));
        std::memcpy(vd + bh * per + j * D, vs + j * s.v_sn, static_cast<size_t>(D) * sizeof(float));
      }
    }
  });
  p.k = kd;
  p.v = vd;
  p.k_sb = p.v_sb = p.Hkv * per;
  p.k_sh = p.v_sh = per;
  p.k_sn = p.v_sn = D;
  return true;
}

void flash_attention_f32(const FlashParams& p0) {
  if (p0.B == 0 || p0.Hq == 0 || p0.Hkv == 0 || p0.Nq == 0) return;
  const int64_t items = flash_items(p0.B, p0.Hq, p0.Hkv, p0.Nq);
  // strided ([B, N, H, D]) keys and values read by several work items of a head: repacked once
  FlashParams p = p0;
  std::unique_ptr<float[]> kv;
  flash_pack_kv(p, items / (p.B * p.Hkv), kv);
  auto fn = kernels().flash_attention_f32;
  const int64_t scratch_floats = flash_scratch_floats(p.D);
  parallel_for(0, items, 1, [&](int64_t s, int64_t e) {
    ScratchFrame frame;  // one tile of this thread (flash_item writes what it reads)
    float* scratch = frame.floats(checked_count(scratch_floats));
    for (int64_t it = s; it < e; ++it) fn(p, it, scratch);
  });
}

}  // namespace cpu
}  // namespace tf
