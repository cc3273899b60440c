// The chunked-attention item kernel of Reformer attention (lsh.h), written once over the ISA structs of
// native/core/simd.h and built from flash attention's register-tiled products and exp (flash_impl.h).
// Included by lsh.cc (scalar) and, inside a TF_SIMD_BEGIN_* region, by lsh_avx2.cc and lsh_avx512.cc.
//
// One item = one tile of up to kLshBq query slots of one chunk of one (batch, head). Per item:
//   Qt = (query rows of the tile's slots)ᵀ, packed [D × Bq] (zero columns past the last query);
//   for each step of kLshBk key slots over the chunk's neighbourhood (chunks c − before .. c + after):
//     K and V rows gathered by position (K rows times their key factor), Sᵀ = K · Qt (4 keys × 3 vectors),
//     masked scores replaced by finite values as upstream (−1e9 padding / causal, then −1e5 own position),
//     online softmax across the queries, O = alpha · O + Pᵀᵀ · V (3 queries × 4 vectors of D);
//   then lse = fl(m + log l) and out = O · e^(m − lse), written at the query's position (and round); in the
//   last of several rounds, combined with the earlier rounds' outputs there (lsh_combine_rounds).
#pragma once
#include "../../core/dispatch.h"
#include "../../core/simd.h"
#include "flash_impl.h"
#include "lsh.h"

namespace tf {
namespace {

template <class V>
void lsh_item(const ChunkAttnParams& p, int64_t item, float* scratch) {
  using R = typename V::reg;
  constexpr int64_t BQ = kLshBq, BK = kLshBk, W = V::W;
  static_assert(BQ % V::W == 0, "the query tile must be a whole number of vectors");
  constexpr float inf = std::numeric_limits<float>::infinity();
  constexpr float kMask = -1e9f, kSelf = -1e5f;
  const int64_t D = p.D, N = p.N, C = p.chunk, RN = p.rounds * N;
  const int64_t nch = RN / C, tiles = (C + BQ - 1) / BQ, icn = lsh_item_chunks(p);
  const int64_t t = item % tiles, c = p.c0 + (item / tiles) % icn, local = item / tiles / icn, bh = p.bh0 + local,
                b = bh / p.H;
  const int32_t* perm = p.perm ? p.perm + bh * RN : nullptr;
  const uint8_t* keep = p.keep ? p.keep + b * N : nullptr;
  const bool sorted = p.nbh > 0;
  // row r of qb / kb / vb (and kf) is slot r in sorted mode (ring mode: lsh_chunk_row), position r otherwise
  const float* qb = sorted ? p.sq + local * RN * D : p.q + bh * N * D;
  const float* kb = sorted ? qb : p.k + bh * N * D;
  const float* vb = sorted ? p.sv + local * RN * D : p.v + bh * N * D;
  const float* kf = sorted ? p.skf + local * RN : p.key_factor ? p.key_factor + bh * N : nullptr;

  float* st = scratch;          // Sᵀ [BK × BQ]
  float* kpack = st + BK * BQ;  // [BK × D]
  float* vpack = kpack + BK * D;
  float* qt = vpack + BK * D;   // [D × BQ]
  float* o = qt + D * BQ;       // [BQ × D]
  float* m = o + BQ * D;
  float* l = m + BQ;
  float* alpha = l + BQ;
  float* last = alpha + BQ;  // [D]: a query's output of the last round, before the combination

  const int64_t s0 = c * C + t * BQ, qn = std::min(BQ, C - t * BQ);
  const int64_t qc = (qn + W - 1) / W * W;
  int64_t qpos[BQ];
  alignas(64) float qposf[BQ];  // positions as floats (exact below 2^24) for the vectorized masks
  for (int64_t r = qn; r < BQ; ++r) qposf[r] = -1.0f;
  const int64_t qrow0 = sorted ? lsh_chunk_row(p, c, nch) + t * BQ : 0;  // sorted row of slot s0
  for (int64_t r = 0; r < qn; ++r) {
    qpos[r] = perm ? perm[s0 + r] : s0 + r;
    qposf[r] = static_cast<float>(qpos[r]);
    const float* qi = qb + (sorted ? qrow0 + r : qpos[r]) * D;
    for (int64_t d = 0; d < D; ++d) qt[d * BQ + r] = qi[d];
  }
  for (int64_t r = qn; r < BQ; ++r)
    for (int64_t d = 0; d < D; ++d) qt[d * BQ + r] = 0.0f;
  const int64_t round = s0 / N;  // of every query of the tile (N is a multiple of C when rounds > 1)
  float* const dst_base = round == 0 || round == p.rounds - 1 ? p.out + bh * N * D
                                                               : p.round_out + (bh * (p.rounds - 2) + round - 1) * N * D;
  if (perm) {  // the rows written at the end are scattered by the hash: fetch them now, while the tile computes
    for (int64_t r = 0; r < qn; ++r) {
      const char* a = reinterpret_cast<const char*>(dst_base + qpos[r] * D);
      for (int64_t o = 0; o < D * static_cast<int64_t>(sizeof(float)); o += 64) __builtin_prefetch(a + o, 1);
      if (round > 0 && round == p.rounds - 1)  // and the earlier rounds' lse that the combination reads
        for (int64_t e = 0; e < round; ++e) __builtin_prefetch(p.round_lse + (bh * p.rounds + e) * N + qpos[r]);
    }
  }
  std::memset(o, 0, static_cast<size_t>(BQ * D) * sizeof(float));
  for (int64_t r = 0; r < BQ; ++r) {
    m[r] = -inf;
    l[r] = 0.0f;
  }

  const int64_t K = (p.before + p.after + 1) * C;
  int64_t kpos[BK];
  // In slot order (the gathered rows, or local attention's identity order) the V rows of a step are read in
  // place: a step of BK keys lies within one chunk when C is a multiple of BK, so its rows are contiguous
  const bool v_inplace = (sorted || !perm) && C % BK == 0;
  int64_t last_cc = -1, cc_row = 0;  // sorted row of the first slot of chunk last_cc
  for (int64_t k0 = 0; k0 < K; k0 += BK) {
    const int64_t jn = std::min(BK, K - k0);
    const float* vstep = vpack;
    for (int64_t jj = 0; jj < jn; ++jj) {
      const int64_t kk = k0 + jj, off = kk / C - p.before;
      // torch.cat of slices [i:] and [:i]: a shift of a whole number of chunks or more is no shift
      const int64_t sh = (off >= nch || -off >= nch) ? 0 : off;
      const int64_t cc = ((c + sh) % nch + nch) % nch, slot = cc * C + kk % C;
      if (sorted && cc != last_cc) {
        last_cc = cc;
        cc_row = lsh_chunk_row(p, cc, nch);
      }
      const int64_t pos = perm ? perm[slot] : slot, row = sorted ? cc_row + kk % C : pos;
      kpos[jj] = pos;
      const float f = kf ? kf[row] : p.key_scale;
      const float* kr = kb + row * D;
      float* kd = kpack + jj * D;
      for (int64_t d = 0; d < D; ++d) kd[d] = kr[d] * f;
      if (!v_inplace)
        std::memcpy(vpack + jj * D, vb + row * D, static_cast<size_t>(D) * sizeof(float));
      else if (jj == 0)
        vstep = vb + row * D;
    }
    // Sᵀ = K · Qt
    flash_gemm<V, kQkRows, kQkVecs, false>(jn, qc, D, kpack, D, 1, qt, BQ, st, BQ, nullptr);
    if ((keep || p.causal || p.self_mask) && N <= (int64_t{1} << 24)) {
      // vectorized over the queries (columns past qn hold position −1: masking them changes nothing)
      const R vmask = V::set1(kMask), vself = V::set1(kSelf);
      for (int64_t jj = 0; jj < jn; ++jj) {
        const int64_t kp = kpos[jj];
        const bool padded = keep && !keep[kp];
        const R kpf = V::set1(static_cast<float>(kp));
        float* row = st + jj * BQ;
        for (int64_t cq = 0; cq < qc; cq += W) {
          R x = V::load(row + cq);
          const R qp = V::load(qposf + cq);
          if (padded)
            x = vmask;
          else if (p.causal)
            x = V::select(V::gt(kpf, qp), vmask, x);
          if (p.self_mask) x = V::select(V::eq(kpf, qp), vself, x);
          V::store(row + cq, x);
        }
      }
    } else if (keep || p.causal || p.self_mask) {
      for (int64_t jj = 0; jj < jn; ++jj) {
        const int64_t kp = kpos[jj];
        const bool padded = keep && !keep[kp];
        float* row = st + jj * BQ;
        for (int64_t r = 0; r < qn; ++r) {
          if (padded || (p.causal && kp > qpos[r])) row[r] = kMask;
          if (p.self_mask && kp == qpos[r]) row[r] = kSelf;
        }
      }
    }
    // online softmax across the queries, Pᵀ in place
    flash_online_softmax<V>(st, BQ, jn, qc, m, l, alpha);
    // O = alpha · O + P · V (flash's P·V tiles: the same bits as a plain 3 × 4 tile)
    const FlashSeg vseg{vstep, jn};
    flash_pv<V>(qn, D, &vseg, 1, st, 1, BQ, D, o, D, alpha);
  }

  // upstream's float32 logsumexp: lse = m + log l rounded to float; probabilities e^(s − lse)
  constexpr int64_t kAhead = 4;  // rows fetched again a few queries ahead (the tile may have pushed them out)
  for (int64_t r = 0; r < qn; ++r) {
    if (perm && r + kAhead < qn) {
      const char* a = reinterpret_cast<const char*>(dst_base + qpos[r + kAhead] * D);
      for (int64_t o2 = 0; o2 < D * static_cast<int64_t>(sizeof(float)); o2 += 64) __builtin_prefetch(a + o2, 1);
    }
    const float lse = m[r] + std::log(l[r]);
    const float sc = std::exp(m[r] - lse);
    const float* src = o + r * D;
    if (round > 0 && round == p.rounds - 1) {
      for (int64_t d = 0; d < D; ++d) last[d] = src[d] * sc;
      lsh_combine_rounds(p, bh, qpos[r], last, lse);
      continue;
    }
    float* dst = dst_base + qpos[r] * D;
    if (p.rounds > 1) p.round_lse[(bh * p.rounds + round) * N + qpos[r]] = lse;
    for (int64_t d = 0; d < D; ++d) dst[d] = src[d] * sc;
  }
}

// The hash rotations y [rows, cols] = x [rows, D] · rot [D, cols] (row-major): every element is one chain of fused
// multiply-adds over d from 0, the arithmetic of sgemm(alpha 1, beta 0) when D is within one of its depth blocks
// (so the buckets, argmaxes of y, are those sgemm gave), with no packing: register tiles of MR rows × NV vectors
// of columns read x and rot in place.
template <class V, int MR, int NV>
void lsh_rotate_tile(const float* x, int64_t D, const float* rot, int64_t cols, float* y) {
  using R = typename V::reg;
  constexpr int W = V::W;
  R acc[MR][NV];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NV; ++j) acc[i][j] = V::zero();
  for (int64_t d = 0; d < D; ++d) {
    R b[NV];
    for (int j = 0; j < NV; ++j) b[j] = V::load(rot + d * cols + j * W);
    for (int i = 0; i < MR; ++i) {
      const R a = V::set1(x[i * D + d]);
      for (int j = 0; j < NV; ++j) acc[i][j] = V::fma(a, b[j], acc[i][j]);
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NV; ++j) V::store(y + i * cols + j * W, acc[i][j]);
}

template <class V>
void lsh_rotate(const float* x, int64_t rows, int64_t D, const float* rot, int64_t cols, float* y) {
  constexpr int W = V::W;
  int64_t j = 0;
  {
    constexpr int MR = 4, NV = 3;
    for (; j + NV * W <= cols; j += NV * W) {
      int64_t i = 0;
      for (; i + MR <= rows; i += MR) lsh_rotate_tile<V, MR, NV>(x + i * D, D, rot + j, cols, y + i * cols + j);
      for (; i < rows; ++i) lsh_rotate_tile<V, 1, NV>(x + i * D, D, rot + j, cols, y + i * cols + j);
    }
    for (; j + W <= cols; j += W) {
      int64_t i = 0;
      for (; i + MR <= rows; i += MR) lsh_rotate_tile<V, MR, 1>(x + i * D, D, rot + j, cols, y + i * cols + j);
      for (; i < rows; ++i) lsh_rotate_tile<V, 1, 1>(x + i * D, D, rot + j, cols, y + i * cols + j);
    }
  }
  for (; j < cols; ++j)
    for (int64_t i = 0; i < rows; ++i) {
      float acc = 0.0f;
      // one rounding as the vector lanes (sgemm's edge tiles); the scalar level's V::fma is sgemm's own there
      for (int64_t d = 0; d < D; ++d) {
        if constexpr (W > 1)
          acc = __builtin_fmaf(x[i * D + d], rot[d * cols + j], acc);
        else
          acc = V::fma(x[i * D + d], rot[d * cols + j], acc);
      }
      y[i * cols + j] = acc;
    }
}

template <class V>
void fill_lsh(Kernels& k) {
  k.lsh_chunk_attention_f32 = lsh_item<V>;
  k.lsh_rotate_f32 = lsh_rotate<V>;
}

}  // namespace
}  // namespace tf
