// Flash attention on the CPU, fp32: out = softmax(scale · Q Kᵀ + bias + masks) · V computed tile by tile
// with an online softmax, never holding an Nq × Nk score matrix (memory is linear in the sequence length;
// each thread owns one work item's scratch, independent of N: flash_scratch_floats(D), 142 KiB at D = 64).
//
// Shapes: Q [B, Hq, Nq, D], K and V [B, Hkv, Nk, D] (Hq a multiple of Hkv: query head h reads key/value
// head h / (Hq / Hkv)), or the same tensors in any other order described by element strides (the N-API
// layer passes [B, N, H, D] tensors in place; flash_pack_kv below repacks strided K and V once when several work
// items read them). Rows along D are contiguous.
//
// Masks: query i may see key j iff i' - left <= j <= i' + right with i' = i + (Nk - Nq) (bottom-right
// alignment, as in decoding with a KV cache; causal is right = 0), key j of batch b is not padded
// (key_keep), and bias + score is not -inf. A row with no visible key gives zeros and lse = -inf.
//
// Work: one item per (batch, key/value head, group of kFlashGroup tiles of kFlashBq (query, query head)
// rows), run on the pool (query heads that share a key/value head share its tiles); each item is computed
// by one thread in a fixed order that depends on the shapes only, so results are bitwise independent of the
// thread count. Key tiles outside the window (causal: above the diagonal) are skipped, and on a tile that
// crosses the right edge of the window (causal: the diagonal) each group of 8 queries (one vector, 16 with
// AVX-512) computes only the keys up to the last one it may see.
#pragma once
#include <cstdint>
#include <memory>

namespace tf {

// Query rows per tile and keys per tile (the same at every dispatch level).
constexpr int64_t kFlashBq = 48;
constexpr int64_t kFlashBk = 64;
// Query tiles per work item: they share each K and V tile while it is in cache.
constexpr int64_t kFlashGroup = 4;
// "No limit" for the window sides.
constexpr int64_t kFlashUnbounded = int64_t{1} << 60;

struct FlashParams {
  const float* q = nullptr;
  const float* k = nullptr;
  const float* v = nullptr;
  float* out = nullptr;  // strides of q's layout (o_*)
  float* lse = nullptr;  // [B, Hq, Nq] or null
  int64_t B = 0, Hq = 0, Hkv = 0, Nq = 0, Nk = 0, D = 0;
  // element strides of batch, head and sequence position (rows along D are contiguous)
  int64_t q_sb = 0, q_sh = 0, q_sn = 0;
  int64_t k_sb = 0, k_sh = 0, k_sn = 0;
  int64_t v_sb = 0, v_sh = 0, v_sn = 0;
  int64_t o_sb = 0, o_sh = 0, o_sn = 0;
  float scale = 1.0f;
  int64_t left = kFlashUnbounded, right = kFlashUnbounded;  // window sides (causal: right = min(right, 0))
  const uint8_t* key_keep = nullptr;                       // [B, Nk], nonzero = attend; null: all
  const float* bias = nullptr;                             // element (b, h, i, j) at b*sb + h*sh + i*sq + j*sk
  int64_t bias_sb = 0, bias_sh = 0, bias_sq = 0, bias_sk = 0;
};

// Floats of per-thread scratch one work item needs for head dim d.
inline int64_t flash_scratch_floats(int64_t d) {
  return kFlashBk * kFlashBq + 2 * kFlashBk * d + kFlashGroup * (2 * d * kFlashBq + 3 * kFlashBq);
}
// Work items: (batch, key/value head, group of kFlashGroup tiles of kFlashBq rows), the rows being the
// Nq · (Hq / Hkv) (query, query head) pairs that read this key/value head.
inline int64_t flash_items(int64_t B, int64_t Hq, int64_t Hkv, int64_t Nq) {
  const int64_t tiles = (Nq * (Hq / Hkv) + kFlashBq - 1) / kFlashBq;
  return B * Hkv * ((tiles + kFlashGroup - 1) / kFlashGroup);
}

namespace cpu {

// Runs the whole attention on the pool with the active level's tile kernel. Arguments are not checked
// here (the N-API layer does that): 1 <= D <= 256, Hq % Hkv == 0, non-negative window sides.
void flash_attention_f32(const FlashParams& p);

// Keys and values with strided rows ([B, N, H, D]) that `readers` work items of each (batch, key/value head)
// would each copy tile by tile are copied once into buf as [B, Hkv, Nk, D] (2·B·Hkv·Nk·D floats, linear in N),
// and p is pointed at the copy. Returns whether it copied (not when the rows are contiguous or readers < 2).
// The arithmetic is unchanged: the tile code reads the same rows, packed.
bool flash_pack_kv(FlashParams& p, int64_t readers, std::unique_ptr<float[]>& buf);

}  // namespace cpu
}  // namespace tf
