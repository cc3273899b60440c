// The x86 integer kernels of qlinear's small-M path, the int8 integer GEMM (every M) and the SIMD dequantizer
// of its large-M path, written once and instantiated in quant_avx2.cc (AVX2 + F16C: maddubs + madd) and
// quant_avx512.cc (AVX512-VNNI: vpdpbusd / vpdpwssd on 256-bit vectors). Included inside a target region: no
// standard headers here (quant.h and simd.h come first).
//
// Per weight block of 32 the integer dot product with the activation block (quant.h ActBlock) is:
//   q8_0, int8   signed codes widened to int16 times the int16 activations (madd / vpdpwssd);
//   (block_dot)  the int8 × int8 sign trick, |w| (unsigned) times sign(x, w) (signed), so the unsigned × signed
//                instructions compute w·x exactly (pairs of products at most 2·128·127 < 2^15: no saturation);
//   q4_0         unsigned nibbles (0..15) times x, minus 8·(lane sums of x) precomputed per activation block;
//   int4         nibbles minus the group's zero point (in [−15, 15]) with the sign trick; the low nibbles (even
//                elements) and high nibbles (odd elements) are used in place, against a copy of the activation
//                codes permuted the same way (ActBlock::q_eo), which saves the interleaving shuffles.
// The 4-bit formats go eight blocks per step (oct_step: four pairs whose products are reduced to one int32 per block
// by horizontal adds, so that the conversion to float, the offset / zero-point term and the scaling run once per
// eight blocks: quant.h ActOct), then two blocks per step (pair_step: unsigned nibbles, the zero point or offset 8
// taken off through the activations' lane sums, against activations pre-arranged per pair: quant.h ActPair); an
// odd last block takes the one-block route above. Each weight block is decoded once for up to 4 activation rows, and each
// activation block serves 2 to 4 weight rows (gemv_tile). Each output accumulates its blocks' int32 sums, converted
// to float and scaled by w_scale·x_scale (q4_0 pairs: (x_scale·sum − c)·w_scale, c the offset term in float), in 8
// float lanes in a fixed order; one thread computes a whole output, so the result does not depend on the thread
// count. The integer sums are exact and the float steps the same, so AVX2 and VNNI give the same bits; the scalar
// level differs by float rounding.
//
// Measured on the AVX2 development machine (Zen 3, one thread, weight in L1/L2, M = 1, ns per block of 32 weights):
// q4_0 1.29 -> 1.02 and int4/g32 1.42 -> 1.00 from the pre-arranged activations, the float offset (q4_0), one
// madd for the zero points in place of vpmulld, and loads / broadcasts + blends in place of 128-bit inserts and
// vpermps (int4 scales and zero points, q4_0 codes and fp16 scales). The eight-block step then cut the 1-thread M = 1
// time at K = N = 4096 (weight in L3; best of 7 interleaved rounds, noisy shared machine) by about 30% for int4/g32
// (1.47 -> 1.01 ms) and 7% for q4_0 (0.99 -> 0.92 ms); at M = 8 by 10% and 2%. (Gathering q4_0's eight fp16 scales
// with four 256-bit loads and word blends instead of eight inserts measured the same and was not kept.)
#pragma once

namespace tf {
namespace {

template <bool Vnni>
inline __m256i block_dot(__m256i w, __m256i x) {
  const __m256i aw = _mm256_sign_epi8(w, w);
  const __m256i sx = _mm256_sign_epi8(x, w);
  if constexpr (Vnni) {
#if defined(TF_QUANT_VNNI)
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), aw, sx);
#else
    return _mm256_setzero_si256();  // not instantiated
#endif
  } else {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(aw, sx), _mm256_set1_epi16(1));
  }
}

// 32 signed int8 weights times 32 int16 activations: 8 int32 lanes (each the sum of 4 products).
template <bool Vnni>
inline __m256i block_dot16(__m256i w, const int16_t* x) {
  const __m256i lo = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(w));
  const __m256i hi = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(w, 1));
  const __m256i x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x));
  const __m256i x1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 16));
  if constexpr (Vnni) {
#if defined(TF_QUANT_VNNI)
    return _mm256_dpwssd_epi32(_mm256_dpwssd_epi32(_mm256_setzero_si256(), lo, x0), hi, x1);
#else
    return _mm256_setzero_si256();  // not instantiated
#endif
  } else {
    return _mm256_add_epi32(_mm256_madd_epi16(lo, x0), _mm256_madd_epi16(hi, x1));
  }
}

// Per-row pointers of a weight, so that a block's address and scale need no division.
template <int F>
struct RowCtx {
  const uint8_t* codes = nullptr;
  const uint8_t* scales = nullptr;
  const uint8_t* zeros = nullptr;
  float row_scale = 0.0f;
  int gshift = 0;  // int4: log2(group / 32)
  int64_t k = 0;
  int64_t r = 0;  // the weight row (its output column)
  RowCtx() = default;
  RowCtx(const cpu::QuantGemv& a, int64_t r) : k(a.w.k), r(r) {
    const cpu::QuantWeight& w = a.w;
    if constexpr (F == 0) {
      codes = w.data + r * a.kb * 34;
    } else if constexpr (F == 1) {
      codes = w.data + r * a.kb * 18;
    } else if constexpr (F == 2) {
      codes = w.data + r * w.k;
      row_scale = cpu::load_f32(w.data + w.n * w.k + 4 * r);
    } else {
      const int64_t groups = w.k / w.group;
      codes = w.data + r * (w.k / 2);
      scales = w.data + w.n * w.k / 2 + r * groups * 4;
      zeros = w.data + w.n * w.k / 2 + w.n * groups * 4 + r * groups;
      gshift = w.group == 32 ? 0 : w.group == 64 ? 1 : 2;
    }
  }

  // Block b as 32 signed values (code − offset) and its scale.
  inline __m256i block(int64_t b, float* scale) const {
    if constexpr (F == 0) {
      const uint8_t* p = codes + b * 34;
      *scale = _cvtsh_ss(cpu::load_u16(p));
      return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2));
    } else if constexpr (F == 1) {
      const uint8_t* p = codes + b * 18;
      *scale = _cvtsh_ss(cpu::load_u16(p));
      const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2));
      const __m128i m4 = _mm_set1_epi8(15);
      const __m128i lo = _mm_and_si128(bytes, m4), hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), m4);
      return _mm256_sub_epi8(_mm256_set_m128i(hi, lo), _mm256_set1_epi8(8));
    } else if constexpr (F == 2) {
      *scale = row_scale;
      const uint8_t* p = codes + b * 32;
      if (b * 32 + 32 <= k) return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
      alignas(32) uint8_t tmp[32] = {};  // the partial last block of a row: zero-padded
      for (int64_t j = 0; j < k - b * 32; ++j) tmp[j] = p[j];
      return _mm256_load_si256(reinterpret_cast<const __m256i*>(tmp));
    } else {
      const int64_t g = b >> gshift;
      *scale = cpu::load_f32(scales + g * 4);
      const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(codes + b * 16));
      const __m128i m4 = _mm_set1_epi8(15);
      const __m128i ev = _mm_and_si128(bytes, m4), od = _mm_and_si128(_mm_srli_epi16(bytes, 4), m4);
      const __m256i v = _mm256_set_m128i(_mm_unpackhi_epi8(ev, od), _mm_unpacklo_epi8(ev, od));
      return _mm256_sub_epi8(v, _mm256_set1_epi8(static_cast<char>(zeros[g])));
    }
  }
};

inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// q4_0 without the sign trick: its unsigned nibbles (0..15) go straight into maddubs against the signed
// activations, and the offset 8 comes off as 8·(sums of each lane's 4 activations), precomputed per block.
template <bool Vnni>
inline __m256i block_dot_u4(__m256i codes, __m256i x, __m256i lanes8) {
  __m256i d;
  if constexpr (Vnni) {
#if defined(TF_QUANT_VNNI)
    d = _mm256_dpbusd_epi32(_mm256_setzero_si256(), codes, x);
#else
    d = _mm256_setzero_si256();
#endif
  } else {
    d = _mm256_madd_epi16(_mm256_maddubs_epi16(codes, x), _mm256_set1_epi16(1));
  }
  return _mm256_sub_epi32(d, lanes8);
}

// Block b of a row for the integer dot product (q4_0: unsigned nibbles; int4: even elements then odd ones,
// against ActBlock::q_eo; others: signed values in order) and its scale.
template <int F>
inline __m256i dot_block(const RowCtx<F>& row, int64_t b, float* ws) {
  if constexpr (F == 1) {
    const uint8_t* p = row.codes + b * 18;
    *ws = _cvtsh_ss(cpu::load_u16(p));
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2));
    const __m128i m4 = _mm_set1_epi8(15);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(bytes, 4), m4), _mm_and_si128(bytes, m4));
  } else if constexpr (F == 3) {
    const int64_t g = b >> row.gshift;
    *ws = cpu::load_f32(row.scales + g * 4);
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row.codes + b * 16));
    const __m128i m4 = _mm_set1_epi8(15);
    return _mm256_sub_epi8(_mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(bytes, 4), m4), _mm_and_si128(bytes, m4)),
                           _mm256_set1_epi8(static_cast<char>(row.zeros[g])));
  } else {
    return row.block(b, ws);
  }
}

// A weight block decoded once for the integer dot products of every activation row that uses it: q8_0 and int8
// as two vectors of 16 int16 (sign-extended straight from memory), q4_0 as unsigned nibbles, int4 as signed
// values (code − zero) in even/odd order. *wsv: the block's scale in every lane (int8: 1, its row scale is applied
// once at the end).
template <int F, bool Partial>
__attribute__((always_inline)) inline void decode_wblock(const RowCtx<F>& row, int64_t b, __m256i* v, __m256* wsv) {
  if constexpr (F == 0) {
    const uint8_t* p = row.codes + b * 34;
    *wsv = _mm256_cvtph_ps(_mm_broadcastw_epi16(_mm_loadu_si16(p)));
    v[0] = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2)));
    v[1] = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 18)));
  } else if constexpr (F == 2) {
    *wsv = _mm256_set1_ps(1.0f);
    const uint8_t* p = row.codes + b * 32;
    if constexpr (!Partial) {
      v[0] = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
      v[1] = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16)));
    } else {
      alignas(32) uint8_t tmp[32] = {};  // the partial last block of a row: zero-padded
      for (int64_t j = 0; j < row.k - b * 32; ++j) tmp[j] = p[j];
      v[0] = _mm256_cvtepi8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(tmp)));
      v[1] = _mm256_cvtepi8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(tmp + 16)));
    }
  } else {
    float ws;
    v[0] = dot_block<F>(row, b, &ws);
    *wsv = _mm256_set1_ps(ws);
  }
}

// The int32 lanes of one decoded weight block times activation block xb (exact).
template <int F, bool Vnni>
inline __m256i wblock_dot(const __m256i* v, const cpu::ActBlock& xb) {
  if constexpr (F == 0 || F == 2) {
    const __m256i x0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(xb.q16));
    const __m256i x1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(xb.q16 + 16));
    if constexpr (Vnni) {
#if defined(TF_QUANT_VNNI)
      return _mm256_dpwssd_epi32(_mm256_dpwssd_epi32(_mm256_setzero_si256(), v[0], x0), v[1], x1);
#else
      return _mm256_setzero_si256();  // not instantiated
#endif
    } else {
      return _mm256_add_epi32(_mm256_madd_epi16(v[0], x0), _mm256_madd_epi16(v[1], x1));
    }
  } else if constexpr (F == 1) {
    return block_dot_u4<Vnni>(v[0], _mm256_load_si256(reinterpret_cast<const __m256i*>(xb.q)),
                              _mm256_load_si256(reinterpret_cast<const __m256i*>(xb.lanes8)));
  } else {
    return block_dot<Vnni>(v[0], _mm256_load_si256(reinterpret_cast<const __m256i*>(xb.q_eo)));
  }
}

// How the weight is streamed at M <= 8 (gemv_rows) and in int8 decode (quant_gemm_i8_x86, M = 1). A thread's rows
// [n0, n1) are cut into R contiguous slices and a tile takes row i of every slice, so the R rows of a tile are R
// sequential streams far apart in memory, each reading its slice front to back as the bandwidth probe reads its
// eighths; the hardware prefetchers follow them, and these paths issue no software prefetches. (Tiles of R adjacent
// rows, the former order, read one short stretch after another: at K = 4096 every int8 row is one 4 KiB page, a new
// stream to the prefetchers each time; they prefetched the next tile's rows in software.) Measured on the AVX2
// development machine (Zen 3, one thread, K 4096, N 11008, M 1, weights in rotation; CPU time, heavily loaded
// shared machine): a stand-alone copy of the int8 loop read 16.4-18.1 GB/s with adjacent 4-row tiles, 22.2-24.6 GB/s
// with 4 slices, against 23.3 GB/s for the probe's eight-stream read, and a loop doing nothing but those loads read
// at the adjacent tiles' speed (the order, not the arithmetic, was the limit); in the kernels, dropping the
// software prefetches once the rows were sliced raised the median of 60 interleaved rounds for every format (int8
// 15.6 -> 16.3, q8_0 12.5 -> 14.7, q4_0 12.5 -> 13.2, int4/g32 12.1 -> 12.8 GB/s; fp32 linear 18.1-20.7) and did
// not lower it at K = N = 4096 (L3). The int8 GEMM at 1 < M <= 8 (adjacent row pairs) still prefetches the next pair
// kQuantPrefetch..kQuantPrefetchMax bytes ahead.
constexpr int64_t kQuantPrefetch = 3072;
constexpr int64_t kQuantPrefetchMax = 20480;

// The 4-bit formats two blocks at a time (b, b + 1): one 256-bit vector holds the low nibbles of both blocks and
// another the high nibbles (q4_0: elements 0-15 and 16-31 of each block; int4: even and odd elements), against
// activation vectors arranged the same way, so that a pair costs one decode, two maddubs and one madd; int32
// lanes 0-3 belong to block b and 4-7 to block b + 1, scaled by [s_b·d_b ×4, s_b+1·d_b+1 ×4]. The unsigned nibbles
// go in as they are: q4_0's offset 8 comes off as 8·(the lane sums of x), int4's zero points as z·(lane sums).
template <int F, bool Vnni, int MR, int R>
__attribute__((always_inline)) inline void pair_step(const RowCtx<F>* rows, const cpu::ActPair* xp, int64_t np,
                                                     int64_t b, __m256 (*acc)[MR]) {
  constexpr int64_t bbytes = F == 1 ? 18 : 16;
  const __m256i zsel = _mm256_setr_epi8(0, -1, -1, -1, 0, -1, -1, -1, 0, -1, -1, -1, 0, -1, -1, -1,  //
                                         1, -1, -1, -1, 1, -1, -1, -1, 1, -1, -1, -1, 1, -1, -1, -1);
  __m256i xlo[MR], xhi[MR], off[MR];
  __m256 dx[MR], cx[MR];
#pragma GCC unroll 4
  for (int j = 0; j < MR; ++j) {
    const cpu::ActPair& P = xp[j * np + (b >> 1)];
    xlo[j] = _mm256_load_si256(reinterpret_cast<const __m256i*>(P.lo));
    xhi[j] = _mm256_load_si256(reinterpret_cast<const __m256i*>(P.hi));
    dx[j] = _mm256_load_ps(P.dx);
    if constexpr (F == 1) {
      cx[j] = _mm256_load_ps(P.c);
      off[j] = _mm256_setzero_si256();
    } else {
      cx[j] = _mm256_setzero_ps();
      off[j] = _mm256_load_si256(reinterpret_cast<const __m256i*>(P.off));
    }
  }
  const __m256i m4 = _mm256_set1_epi8(15);
#pragma GCC unroll 4
  for (int u = 0; u < R; ++u) {
    const RowCtx<F>& row = rows[u];
    const uint8_t* p = row.codes + b * bbytes;
    __m256i v;
    __m256 ws;
    __m256i zv = _mm256_setzero_si256();
    if constexpr (F == 1) {
      // the codes of block b are bytes 2..17 of the pair, those of b + 1 bytes 20..35: the low half of a load at
      // p + 2 and the high half of one at p + 4, blended (cheaper than a 128-bit insert from memory)
      v = _mm256_blend_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2)),
                             _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 4)), 0xF0);
      // the two fp16 scales broadcast and blended into [d_b ×4, d_b+1 ×4], converted at once (no permute)
      const __m128i h2 = _mm_blend_epi16(_mm_set1_epi16(static_cast<short>(cpu::load_u16(p))),
                                         _mm_set1_epi16(static_cast<short>(cpu::load_u16(p + 18))), 0xF0);
      ws = _mm256_cvtph_ps(h2);
    } else {
      v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
      if (row.gshift == 0) {
        const float* sp = reinterpret_cast<const float*>(row.scales + b * 4);
        ws = _mm256_blend_ps(_mm256_broadcast_ss(sp), _mm256_broadcast_ss(sp + 1), 0xF0);
        // the two zero points (bytes) into the low byte of lanes 0-3 and 4-7; the rest of each lane is not read
        // (ActPair::off has zero high halves, see the madd below)
        zv = _mm256_shuffle_epi8(_mm256_set1_epi16(static_cast<short>(cpu::load_u16(row.zeros + b))), zsel);
      } else {  // both blocks in one group
        const int64_t g = b >> row.gshift;
        ws = _mm256_broadcast_ss(reinterpret_cast<const float*>(row.scales + g * 4));
        zv = _mm256_set1_epi32(row.zeros[g]);
      }
    }
    const __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
#pragma GCC unroll 4
    for (int j = 0; j < MR; ++j) {
      __m256i d;
      if constexpr (Vnni) {
#if defined(TF_QUANT_VNNI)
        d = _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), lo, xlo[j]), hi, xhi[j]);
#else
        d = _mm256_setzero_si256();  // not instantiated
#endif
      } else {  // pairs of products ≤ 2·15·127 in int16, two of them added: no saturation
        d = _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(lo, xlo[j]), _mm256_maddubs_epi16(hi, xhi[j])),
                              _mm256_set1_epi16(1));
      }
      if constexpr (F == 1) {  // d_x·(dot − 8·sums) = d_x·dot − c, then times the weight scale
        acc[u][j] = _mm256_fmadd_ps(_mm256_fmsub_ps(_mm256_cvtepi32_ps(d), dx[j], cx[j]), ws, acc[u][j]);
      } else {  // z·(lane sums) with madd: the sums in the low int16 of each lane (|sums| ≤ 8·128), 0 above
        d = _mm256_sub_epi32(d, _mm256_madd_epi16(zv, off[j]));
        acc[u][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d), _mm256_mul_ps(ws, dx[j]), acc[u][j]);
      }
    }
  }
}

// The 4-bit formats eight blocks at a time (b .. b + 7, b a multiple of 8: four pairs as in pair_step). Each pair's
// products stay in int16 lanes (AVX2: maddubs of the low and the high nibbles added, 4 products per lane; VNNI: two
// vpdpbusd into int32) and three horizontal adds (and, AVX2, one madd) reduce the four pairs to one int32 per block,
// in the lane order [b, b+2, b+4, b+6, b+1, b+3, b+5, b+7] (quant.h ActOct), so that the conversion to float, the
// offset / zero-point term and the scaling run once per eight blocks instead of once per pair. The int16 sums stay
// exact: 16 products of a nibble (≤ 15) and a code (|x| ≤ 127) are at most 30480 in magnitude. The weight scales
// (and int4's zero points) of the eight blocks are loaded once and arranged in that lane order (q4_0: the fp16
// scales inserted in that order and converted at once; int4: one load of the group's scales and zero points and a
// permute, per group size).
template <int F, bool Vnni, int MR, int R>
__attribute__((always_inline)) inline void oct_step(const RowCtx<F>* rows, const cpu::ActPair* xp, int64_t np,
                                                    const cpu::ActOct* xo, int64_t no, int64_t b, __m256 (*acc)[MR]) {
  constexpr int64_t bbytes = F == 1 ? 18 : 16;
  const __m256i m4 = _mm256_set1_epi8(15);
  __m256 dx[MR], cx[MR];
  __m256i off[MR];
#pragma GCC unroll 4
  for (int j = 0; j < MR; ++j) {
    const cpu::ActOct& O = xo[j * no + (b >> 3)];
    dx[j] = _mm256_load_ps(O.dx);
    if constexpr (F == 1) {
      cx[j] = _mm256_load_ps(O.c);
      off[j] = _mm256_setzero_si256();
    } else {
      cx[j] = _mm256_setzero_ps();
      off[j] = _mm256_load_si256(reinterpret_cast<const __m256i*>(O.off));
    }
  }
#pragma GCC unroll 4
  for (int u = 0; u < R; ++u) {
    const RowCtx<F>& row = rows[u];
    const uint8_t* p = row.codes + b * bbytes;
    __m256 ws;
    __m256i zv = _mm256_setzero_si256();
    if constexpr (F == 1) {
      __m128i h = _mm_cvtsi32_si128(cpu::load_u16(p));
      h = _mm_insert_epi16(h, cpu::load_u16(p + 2 * 18), 1);
      h = _mm_insert_epi16(h, cpu::load_u16(p + 4 * 18), 2);
      h = _mm_insert_epi16(h, cpu::load_u16(p + 6 * 18), 3);
      h = _mm_insert_epi16(h, cpu::load_u16(p + 1 * 18), 4);
      h = _mm_insert_epi16(h, cpu::load_u16(p + 3 * 18), 5);
      h = _mm_insert_epi16(h, cpu::load_u16(p + 5 * 18), 6);
      h = _mm_insert_epi16(h, cpu::load_u16(p + 7 * 18), 7);
      ws = _mm256_cvtph_ps(h);
    } else {
      const int64_t g = b >> row.gshift;
      const uint8_t* sp = row.scales + g * 4;
      const uint8_t* zp = row.zeros + g;
      if (row.gshift == 0) {  // groups of the lanes: the blocks themselves
        ws = _mm256_permutevar8x32_ps(_mm256_loadu_ps(reinterpret_cast<const float*>(sp)),
                                      _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7));
        uint64_t z8;
        __builtin_memcpy(&z8, zp, 8);
        zv = _mm256_shuffle_epi8(_mm256_set1_epi64x(static_cast<long long>(z8)),
                                 _mm256_setr_epi8(0, -1, -1, -1, 2, -1, -1, -1, 4, -1, -1, -1, 6, -1, -1, -1,  //
                                                  1, -1, -1, -1, 3, -1, -1, -1, 5, -1, -1, -1, 7, -1, -1, -1));
      } else if (row.gshift == 1) {  // groups [0, 1, 2, 3 | 0, 1, 2, 3]
        ws = _mm256_broadcast_ps(reinterpret_cast<const __m128*>(sp));
        uint32_t z4;
        __builtin_memcpy(&z4, zp, 4);
        zv = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(z4)),
                                 _mm256_setr_epi8(0, -1, -1, -1, 1, -1, -1, -1, 2, -1, -1, -1, 3, -1, -1, -1,  //
                                                  0, -1, -1, -1, 1, -1, -1, -1, 2, -1, -1, -1, 3, -1, -1, -1));
      } else {  // groups [0, 0, 1, 1 | 0, 0, 1, 1]
        ws = _mm256_permute_ps(_mm256_castpd_ps(_mm256_broadcast_sd(reinterpret_cast<const double*>(sp))), 0x50);
        zv = _mm256_shuffle_epi8(_mm256_set1_epi16(static_cast<short>(cpu::load_u16(zp))),
                                 _mm256_setr_epi8(0, -1, -1, -1, 0, -1, -1, -1, 1, -1, -1, -1, 1, -1, -1, -1,  //
                                                  0, -1, -1, -1, 0, -1, -1, -1, 1, -1, -1, -1, 1, -1, -1, -1));
      }
    }
    // per activation row: the running horizontal sums of the pairs (pair 0, 0+1, 2, then all four)
    __m256i h01[MR], a2[MR];
#pragma GCC unroll 4
    for (int q = 0; q < 4; ++q) {
      const uint8_t* pq = p + q * 2 * bbytes;
      __m256i v;
      if constexpr (F == 1)
        v = _mm256_blend_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(pq + 2)),
                               _mm256_loadu_si256(reinterpret_cast<const __m256i*>(pq + 4)), 0xF0);
      else
        v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(pq));
      const __m256i lo = _mm256_and_si256(v, m4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
#pragma GCC unroll 4
      for (int j = 0; j < MR; ++j) {
        const cpu::ActPair& P = xp[j * np + (b >> 1) + q];
        const __m256i xl = _mm256_load_si256(reinterpret_cast<const __m256i*>(P.lo));
        const __m256i xh = _mm256_load_si256(reinterpret_cast<const __m256i*>(P.hi));
        __m256i d;
        if constexpr (Vnni) {
#if defined(TF_QUANT_VNNI)
          d = _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), lo, xl), hi, xh);
#else
          d = _mm256_setzero_si256();  // not instantiated
#endif
        } else {
          d = _mm256_add_epi16(_mm256_maddubs_epi16(lo, xl), _mm256_maddubs_epi16(hi, xh));
        }
        if (q == 0) {
          h01[j] = d;
        } else if (q == 1) {
          h01[j] = Vnni ? _mm256_hadd_epi32(h01[j], d) : _mm256_hadd_epi16(h01[j], d);
        } else if (q == 2) {
          a2[j] = d;
        } else {
          __m256i s;
          if constexpr (Vnni) {
            s = _mm256_hadd_epi32(h01[j], _mm256_hadd_epi32(a2[j], d));
          } else {
            s = _mm256_madd_epi16(_mm256_hadd_epi16(h01[j], _mm256_hadd_epi16(a2[j], d)), _mm256_set1_epi16(1));
          }
          if constexpr (F == 1) {  // d_x·(dot − 8·sum) = d_x·dot − c, then times the weight scale
            acc[u][j] = _mm256_fmadd_ps(_mm256_fmsub_ps(_mm256_cvtepi32_ps(s), dx[j], cx[j]), ws, acc[u][j]);
          } else {  // z·sum with madd (the sum in the low int16 of each lane, 0 above; z in the low byte)
            s = _mm256_sub_epi32(s, _mm256_madd_epi16(zv, off[j]));
            acc[u][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(ws, dx[j]), acc[u][j]);
          }
        }
      }
    }
  }
}

// One block b for every (weight row, activation row) of a tile.
template <int F, bool Vnni, int MR, int R, bool Partial>
__attribute__((always_inline)) inline void single_step(const RowCtx<F>* rows, const cpu::ActBlock* x,
                                                       const int16_t* q16, const float* d16, int64_t kb, int64_t b,
                                                       __m256 (*acc)[MR]) {
#pragma GCC unroll 4
  for (int u = 0; u < R; ++u) {
    __m256i v[2];
    __m256 wsv;
    decode_wblock<F, Partial>(rows[u], b, v, &wsv);
#pragma GCC unroll 4
    for (int j = 0; j < MR; ++j) {
      __m256i s;
      __m256 dx;
      if constexpr (F == 0) {  // the compact copy of the int16 activations (QuantGemv::q16)
        const int16_t* xq = q16 + (j * kb + b) * 32;
        const __m256i x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq));
        const __m256i x1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + 16));
        if constexpr (Vnni) {
#if defined(TF_QUANT_VNNI)
          s = _mm256_dpwssd_epi32(_mm256_dpwssd_epi32(_mm256_setzero_si256(), v[0], x0), v[1], x1);
#else
          s = _mm256_setzero_si256();  // not instantiated
#endif
        } else {
          s = _mm256_add_epi32(_mm256_madd_epi16(v[0], x0), _mm256_madd_epi16(v[1], x1));
        }
        dx = _mm256_broadcast_ss(d16 + j * kb + b);
      } else {
        const cpu::ActBlock& xb = x[j * kb + b];
        s = wblock_dot<F, Vnni>(v, xb);
        dx = _mm256_broadcast_ss(F == 2 ? &xb.d16 : &xb.d);
      }
      const __m256 sc = F == 2 ? dx : _mm256_mul_ps(wsv, dx);
      acc[u][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), sc, acc[u][j]);
    }
  }
}

// Outputs (activation rows i0 .. i0+MR-1) × (weight rows r0 .. r0+R-1). Each weight block is decoded once and
// used by the MR activation rows; each activation block is loaded once per weight row while it sits in L1. Every
// output keeps 8 float lanes (its block sums, converted and scaled, added in block order) and is reduced across
// lanes once at the end, so its arithmetic depends on MR (a function of M) but not on R or the thread split.
template <int F, bool Vnni, int MR, int R>
inline void gemv_tile(const cpu::QuantGemv& a, const RowCtx<F>* rows, int64_t i0) {
  __m256 acc[R][MR];
  for (int u = 0; u < R; ++u)
    for (int j = 0; j < MR; ++j) acc[u][j] = _mm256_setzero_ps();
  const cpu::ActBlock* x = a.act + i0 * a.kb;
  int64_t b = 0;
  if constexpr (F == 1 || F == 3) {
    const int64_t np = a.kb / 2;
    const cpu::ActPair* xp = a.pairs + i0 * np;
    const int64_t no = a.kb / 8;
    for (; b + 8 <= a.kb; b += 8) oct_step<F, Vnni, MR, R>(rows, xp, np, a.octs + i0 * no, no, b, acc);
    for (; b + 2 <= a.kb; b += 2) pair_step<F, Vnni, MR, R>(rows, xp, np, b, acc);
  }
  const int64_t kfull = F == 2 ? a.w.k / 32 : a.kb;  // int8: the partial last block of a row apart
  const int16_t* q16 = F == 0 ? a.q16 + i0 * a.kb * 32 : nullptr;
  const float* d16 = F == 0 ? a.d16 + i0 * a.kb : nullptr;
  for (; b < kfull; ++b) single_step<F, Vnni, MR, R, false>(rows, x, q16, d16, a.kb, b, acc);
  for (; b < a.kb; ++b) single_step<F, Vnni, MR, R, true>(rows, x, q16, d16, a.kb, b, acc);
  for (int u = 0; u < R; ++u) {
    const int64_t r = rows[u].r;
    const float bias = a.bias ? a.bias[r] : 0.0f;
    for (int j = 0; j < MR; ++j) {
      float t = hsum8(acc[u][j]);
      if constexpr (F == 2) t *= rows[u].row_scale;
      a.y[(i0 + j) * a.ldy + r] = t + bias;
    }
  }
}

// Weight rows [n0, n1) for all activation rows: R weight rows at a time (R·MR accumulators), row i of each of R
// slices of the range (R streams: see the comment above kQuantPrefetch), then the rows the slices leave over one by one.
template <int F, bool Vnni, int MR>
inline void gemv_rows(const cpu::QuantGemv& a, int64_t n0, int64_t n1, int64_t i0) {
  constexpr int R = MR == 1 ? 4 : MR == 2 ? 3 : 2;
  const int64_t s = (n1 - n0) / R;  // rows per slice
  for (int64_t i = 0; i < s; ++i) {
    RowCtx<F> rows[R];
    for (int u = 0; u < R; ++u) rows[u] = RowCtx<F>(a, n0 + u * s + i);
    gemv_tile<F, Vnni, MR, R>(a, rows, i0);
  }
  for (int64_t r = n0 + R * s; r < n1; ++r) {
    const RowCtx<F> row(a, r);
    gemv_tile<F, Vnni, MR, 1>(a, &row, i0);
  }
}

template <int F, bool Vnni>
void quant_gemv_x86(const cpu::QuantGemv& a, int64_t n0, int64_t n1) {
  // activation rows in tiles of 4, then 3, 2 or 1 (the tile of each row depends on M only)
  int64_t i = 0;
  for (; i + 4 <= a.m; i += 4) gemv_rows<F, Vnni, 4>(a, n0, n1, i);
  switch (a.m - i) {
    case 3: gemv_rows<F, Vnni, 3>(a, n0, n1, i); break;
    case 2: gemv_rows<F, Vnni, 2>(a, n0, n1, i); break;
    case 1: gemv_rows<F, Vnni, 1>(a, n0, n1, i); break;
    default: break;
  }
}

// ---- int8 weights: an integer GEMM against per-row int16 activations (M < kQuantGemmI8PackM: over the codes as
// they are) ----

template <bool Vnni>
__attribute__((always_inline)) inline __m256i madd_acc(__m256i acc, __m256i w, __m256i x) {
  if constexpr (Vnni) {
#if defined(TF_QUANT_VNNI)
    return _mm256_dpwssd_epi32(acc, w, x);
#else
    return acc;  // not instantiated
#endif
  } else {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(w, x));
  }
}

inline int32_t hsum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

// Activation rows i0 .. i0+MR-1 × weight rows r0 .. r0+NR-1 over k in [c0, c1) (one chunk): MR·NR int32
// accumulators, 16 k per step (each weight vector sign-extended once for the MR rows); the exact chunk sums go to
// y as float32 (set on the first chunk, added after).
// Weight rows r0 + u·rs (rs > 1: the decode path's slices); Pf: prefetch each row pf bytes ahead (1 < M <= 8).
template <bool Vnni, int MR, int NR, bool Pf>
__attribute__((always_inline)) inline void gemm_i8_tile(const cpu::QuantGemv& a, int64_t i0, int64_t r0, int64_t rs,
                                                        int64_t pf, int64_t c0, int64_t c1) {
  const int64_t k = a.w.k;
  const int8_t* wp[NR];
  for (int u = 0; u < NR; ++u) wp[u] = reinterpret_cast<const int8_t*>(a.w.data) + (r0 + u * rs) * k;
  const int16_t* xp[MR];
  for (int j = 0; j < MR; ++j) xp[j] = a.xq + (i0 + j) * a.ldx;
  __m256i acc[MR][NR];
  for (int j = 0; j < MR; ++j)
    for (int u = 0; u < NR; ++u) acc[j][u] = _mm256_setzero_si256();
  const int64_t cfull = c0 + (c1 - c0) / 16 * 16;
  int64_t kk = c0;
  for (; kk < cfull; kk += 16) {
    __m256i wv[NR];
    if (Pf && (kk & 63) == 0)
      for (int u = 0; u < NR; ++u) _mm_prefetch(reinterpret_cast<const char*>(wp[u] + kk + pf), _MM_HINT_T0);
#pragma GCC unroll 4
    for (int u = 0; u < NR; ++u) wv[u] = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wp[u] + kk)));
#pragma GCC unroll 4
    for (int j = 0; j < MR; ++j) {
      const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xp[j] + kk));
#pragma GCC unroll 4
      for (int u = 0; u < NR; ++u) acc[j][u] = madd_acc<Vnni>(acc[j][u], wv[u], xv);
    }
  }
  if (kk < c1) {  // a row's last k % 16 weights, zero-padded (the activation codes are zero past k too)
    __m256i wv[NR];
    for (int u = 0; u < NR; ++u) {
      alignas(16) int8_t t[16] = {};
      for (int64_t q = 0; q < c1 - kk; ++q) t[q] = wp[u][kk + q];
      wv[u] = _mm256_cvtepi8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(t)));
    }
    for (int j = 0; j < MR; ++j) {
      const __m256i xv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xp[j] + kk));
      for (int u = 0; u < NR; ++u) acc[j][u] = madd_acc<Vnni>(acc[j][u], wv[u], xv);
    }
  }
  if constexpr (MR == 1 && NR == 4) {  // decode: the 4 rows' chunk sums reduced together (the same exact int32 sums)
    const __m256i h01 = _mm256_hadd_epi32(acc[0][0], acc[0][1]), h23 = _mm256_hadd_epi32(acc[0][2], acc[0][3]);
    const __m256i h = _mm256_hadd_epi32(h01, h23);  // per 128-bit half: the 4 rows' partial sums
    const __m128 sum = _mm_cvtepi32_ps(_mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1)));
    float* yo = a.y + i0 * a.ldy + r0;
    alignas(16) float t[4];
    _mm_store_ps(t, sum);
    for (int u = 0; u < 4; ++u) yo[u * rs] = c0 == 0 ? t[u] : yo[u * rs] + t[u];
  } else {
    for (int j = 0; j < MR; ++j)
      for (int u = 0; u < NR; ++u) {
        float* yo = a.y + (i0 + j) * a.ldy + r0 + u * rs;
        const float sum = static_cast<float>(hsum_epi32(acc[j][u]));
        *yo = c0 == 0 ? sum : *yo + sum;
      }
  }
}

template <bool Vnni, int NR>
inline void gemm_i8_rows(const cpu::QuantGemv& a, int64_t r0, int64_t c0, int64_t c1) {
  const int64_t pf = NR * a.w.k <= kQuantPrefetchMax ? NR * a.w.k : kQuantPrefetch;  // the next pair of rows
  int64_t i = 0;
  for (; i + 4 <= a.m; i += 4) gemm_i8_tile<Vnni, 4, NR, true>(a, i, r0, 1, pf, c0, c1);
  switch (a.m - i) {
    case 3: gemm_i8_tile<Vnni, 3, NR, true>(a, i, r0, 1, pf, c0, c1); break;
    case 2: gemm_i8_tile<Vnni, 2, NR, true>(a, i, r0, 1, pf, c0, c1); break;
    case 1: gemm_i8_tile<Vnni, 1, NR, true>(a, i, r0, 1, pf, c0, c1); break;
    default: break;
  }
}

// ---- int8 weights, M ≥ kQuantGemmI8PackM: the packed integer GEMM ----
//
// Each weight code is widened to int16 once per call into 16-column panels, k in pairs: panel[p][c] = (w[c][2p],
// w[c][2p+1]) (64 bytes a pair), and every 6-row tile of the activations (QuantGemv::xpk, the int16 codes of x packed
// the same way: [tile][p][6 rows]) runs against every panel, chunk by chunk of kQuantKc k. Two loop orders
// (quant_gemm_i8_packed): while x's codes fit L2 (≤ 256 KiB), one panel of whole rows at a time (its 16 rows read
// front to back, the next panel prefetched meanwhile), its chunks against all tiles; else BLIS-style, blocks of kI8Nc
// columns packed one chunk at a time (192 KiB, in L2) and run against blocks of kI8Mc rows of x. The 6 × 16
// micro-kernel keeps 12 int32 accumulators: per k pair, two weight vectors (8 columns × the pair), and for each of the
// 6 rows one vpbroadcastd of the row's code pair and two vpmaddwd + vpaddd (AVX512-VNNI: vpdpwssd). At the end of a
// chunk its exact int32 sums are converted to float32 and set (first chunk) or added to y; the scales and the bias
// come last. Each output is thus the same float steps as the scalar kernel (chunk sums added in order, then ×
// x_scale·w_scale + bias, fused on x86), whatever the tiling or the thread split.
//
// Measured on the AVX2 development machine (Zen 3 at ~3.1 GHz, one thread; CPU time, interleaved rounds, loaded shared
// machine): a bare loop of this kernel's instructions runs at 146 GOP/s and the FMA peak at 101 GFLOP/s, i.e. 1.45×
// (vpmaddwd and vpaddd share the integer pipes, so the 2× that vpmaddwd's rate alone suggests is not reached; a 4 × 24
// tile measured 153, and vpmaddwd + vpaddd alone with no broadcasts 152); at K = N = 4096 the GEMM reaches 103-125
// GOP/s at M = 128-512 (70-85% of that loop), 72-86 at M = 16, where packing the weight (~2.5 ms, reading it at
// ~6 GB/s) is about half the time.
constexpr int64_t kI8Nc = 192;  // weight rows per packed block: 192 × 512 × 2 bytes = 192 KiB, in L2
constexpr int64_t kI8Mc = 120;  // activation rows per block, 120 × 1 KiB, in L2 beside the packed weight

// Weight rows [r0, r0 + nr) (nr ≤ 16) of the [n, k] int8 codes, k in [k0, k1) (k0 even), as one panel of
// (k1 − k0 + 1) / 2 pairs × 16 columns of int16; columns past nr and the odd k past k1 are zero.
// pf (whole rows only, k0 = 0 and k1 = k): the next panel's bytes (16·k, contiguous), prefetched 512 bytes per 32 k.
inline void pack_i8_panel(const int8_t* w, int64_t k, int64_t r0, int64_t nr, int64_t k0, int64_t k1, int16_t* dst,
                          const int8_t* pf = nullptr) {
  const int64_t np = (k1 - k0 + 1) / 2;
  // the rows' next chunk, which the next pack of this block reads: prefetched now, because each row is read in
  // pieces of 512 bytes far apart in time, which the hardware prefetchers do not follow
  if (k1 < k && !pf)
    for (int64_t c = 0; c < nr; ++c)
      for (int64_t j = k1; j < k1 + cpu::kQuantKc && j < k; j += 64) _mm_prefetch(reinterpret_cast<const char*>(w + (r0 + c) * k + j), _MM_HINT_T0);
  int64_t p = 0;
  if (nr == 16) {
    // 8 rows × 32 k at a time: a 16-bit 8 × 8 transpose in each 128-bit lane (pairs 0-7 low, 8-15 high), then
    // each transposed pair (8 columns × 2 codes) sign-extended to 16 int16
    for (; 2 * p + 32 <= k1 - k0; p += 16)
      for (int g = 0; g < 2; ++g) {
        if (pf)
          for (int l = 0; l < 4; ++l) _mm_prefetch(reinterpret_cast<const char*>(pf + p * 32 + 256 * g + 64 * l), _MM_HINT_T0);
        __m256i r[8];
        for (int i = 0; i < 8; ++i)
          r[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + (r0 + 8 * g + i) * k + k0 + 2 * p));
        const __m256i t0 = _mm256_unpacklo_epi16(r[0], r[1]), t1 = _mm256_unpackhi_epi16(r[0], r[1]);
        const __m256i t2 = _mm256_unpacklo_epi16(r[2], r[3]), t3 = _mm256_unpackhi_epi16(r[2], r[3]);
        const __m256i t4 = _mm256_unpacklo_epi16(r[4], r[5]), t5 = _mm256_unpackhi_epi16(r[4], r[5]);
        const __m256i t6 = _mm256_unpacklo_epi16(r[6], r[7]), t7 = _mm256_unpackhi_epi16(r[6], r[7]);
        const __m256i s0 = _mm256_unpacklo_epi32(t0, t2), s1 = _mm256_unpackhi_epi32(t0, t2);
        const __m256i s2 = _mm256_unpacklo_epi32(t1, t3), s3 = _mm256_unpackhi_epi32(t1, t3);
        const __m256i s4 = _mm256_unpacklo_epi32(t4, t6), s5 = _mm256_unpackhi_epi32(t4, t6);
        const __m256i s6 = _mm256_unpacklo_epi32(t5, t7), s7 = _mm256_unpackhi_epi32(t5, t7);
        __m256i o[8];
        o[0] = _mm256_unpacklo_epi64(s0, s4);
        o[1] = _mm256_unpackhi_epi64(s0, s4);
        o[2] = _mm256_unpacklo_epi64(s1, s5);
        o[3] = _mm256_unpackhi_epi64(s1, s5);
        o[4] = _mm256_unpacklo_epi64(s2, s6);
        o[5] = _mm256_unpackhi_epi64(s2, s6);
        o[6] = _mm256_unpacklo_epi64(s3, s7);
        o[7] = _mm256_unpackhi_epi64(s3, s7);
        for (int q = 0; q < 8; ++q) {
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + (p + q) * 32 + 16 * g),
                              _mm256_cvtepi8_epi16(_mm256_castsi256_si128(o[q])));
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + (p + 8 + q) * 32 + 16 * g),
                              _mm256_cvtepi8_epi16(_mm256_extracti128_si256(o[q], 1)));
        }
      }
  }
  for (; p < np; ++p)  // the tail of k, and a last panel of fewer than 16 columns
    for (int64_t c = 0; c < 16; ++c) {
      const int64_t j = k0 + 2 * p;
      const int8_t* wr = w + (r0 + c) * k;
      dst[p * 32 + 2 * c] = c < nr ? wr[j] : 0;
      dst[p * 32 + 2 * c + 1] = c < nr && j + 1 < k1 ? wr[j + 1] : 0;
    }
}

// One row of a tile's chunk sums (16 columns, nr ≤ 16 of them stored, none unless `keep`) set or added to y as float32.
__attribute__((always_inline)) inline void i8_flush(__m256i s0, __m256i s1, bool first, float* y, int64_t nr, bool keep) {
  if (!keep) return;
  __m256 v0 = _mm256_cvtepi32_ps(s0), v1 = _mm256_cvtepi32_ps(s1);
  if (nr == 16) {
    if (!first) {
      v0 = _mm256_add_ps(_mm256_loadu_ps(y), v0);
      v1 = _mm256_add_ps(_mm256_loadu_ps(y + 8), v1);
    }
    _mm256_storeu_ps(y, v0);
    _mm256_storeu_ps(y + 8, v1);
    return;
  }
  alignas(32) float t[16];
  _mm256_store_ps(t, v0);
  _mm256_store_ps(t + 8, v1);
  for (int64_t c = 0; c < nr; ++c) y[c] = first ? t[c] : y[c] + t[c];
}

// y[0 .. mr) × [0 .. nr) (row stride ldy) = (first ? 0 : y) + the exact int32 sums of np pairs of the activation
// tile ap (6 rows interleaved; the first MR used, mr ≤ MR of them stored) and the 16-column weight panel bp, as float32.
template <bool Vnni, int MR>  // MR: 2, 4 or 6
inline void i8_tile(const int32_t* ap, const int16_t* bp, int64_t np, bool first, float* y, int64_t ldy, int64_t mr,
                    int64_t nr) {
  // named accumulators, one broadcast at a time (an array and a loop here made GCC hoist all six broadcasts and
  // spill most accumulators)
  __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256i c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
#if defined(__GNUC__)
  if constexpr (MR == 6 && !Vnni) {
    // GCC (12) scheduled this loop written with intrinsics with all six broadcasts first and spilled half the
    // accumulators (measured ~30% slower): the AVX2 loop in assembly, register for register what the intrinsics say
    // (np ≥ 1: k > 0 here). Per pair: 2 weight loads, 6 broadcasts, 12 vpmaddwd, 12 vpaddd.
    const int32_t* pa = ap;
    const int16_t* pb = bp;
    int64_t n = np;
    __asm__ volatile(
        ".p2align 4\n"
        "1:\n\t"
        "vmovdqu (%[b]), %%ymm12\n\t"
        "vmovdqu 32(%[b]), %%ymm13\n\t"
        "vpbroadcastd (%[a]), %%ymm14\n\t"
        "vpmaddwd %%ymm12, %%ymm14, %%ymm15\n\t"
        "vpaddd %%ymm15, %[c00], %[c00]\n\t"
        "vpmaddwd %%ymm13, %%ymm14, %%ymm14\n\t"
        "vpaddd %%ymm14, %[c01], %[c01]\n\t"
        "vpbroadcastd 4(%[a]), %%ymm14\n\t"
        "vpmaddwd %%ymm12, %%ymm14, %%ymm15\n\t"
        "vpaddd %%ymm15, %[c10], %[c10]\n\t"
        "vpmaddwd %%ymm13, %%ymm14, %%ymm14\n\t"
        "vpaddd %%ymm14, %[c11], %[c11]\n\t"
        "vpbroadcastd 8(%[a]), %%ymm14\n\t"
        "vpmaddwd %%ymm12, %%ymm14, %%ymm15\n\t"
        "vpaddd %%ymm15, %[c20], %[c20]\n\t"
        "vpmaddwd %%ymm13, %%ymm14, %%ymm14\n\t"
        "vpaddd %%ymm14, %[c21], %[c21]\n\t"
        "vpbroadcastd 12(%[a]), %%ymm14\n\t"
        "vpmaddwd %%ymm12, %%ymm14, %%ymm15\n\t"
        "vpaddd %%ymm15, %[c30], %[c30]\n\t"
        "vpmaddwd %%ymm13, %%ymm14, %%ymm14\n\t"
        "vpaddd %%ymm14, %[c31], %[c31]\n\t"
        "vpbroadcastd 16(%[a]), %%ymm14\n\t"
        "vpmaddwd %%ymm12, %%ymm14, %%ymm15\n\t"
        "vpaddd %%ymm15, %[c40], %[c40]\n\t"
        "vpmaddwd %%ymm13, %%ymm14, %%ymm14\n\t"
        "vpaddd %%ymm14, %[c41], %[c41]\n\t"
        "vpbroadcastd 20(%[a]), %%ymm14\n\t"
        "vpmaddwd %%ymm12, %%ymm14, %%ymm15\n\t"
        "vpaddd %%ymm15, %[c50], %[c50]\n\t"
        "vpmaddwd %%ymm13, %%ymm14, %%ymm14\n\t"
        "vpaddd %%ymm14, %[c51], %[c51]\n\t"
        "add $24, %[a]\n\t"
        "add $64, %[b]\n\t"
        "dec %[n]\n\t"
        "jnz 1b\n"
        : [c00] "+x"(c00), [c01] "+x"(c01), [c10] "+x"(c10), [c11] "+x"(c11), [c20] "+x"(c20), [c21] "+x"(c21),
          [c30] "+x"(c30), [c31] "+x"(c31), [c40] "+x"(c40), [c41] "+x"(c41), [c50] "+x"(c50), [c51] "+x"(c51),
          [a] "+r"(pa), [b] "+r"(pb), [n] "+r"(n)
        :
        : "xmm12", "xmm13", "xmm14", "xmm15", "memory", "cc");
  } else
#endif
  for (int64_t p = 0; p < np; ++p) {
    const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bp + 32 * p));
    const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bp + 32 * p + 16));
    const int32_t* a = ap + 6 * p;
    __m256i x = _mm256_set1_epi32(a[0]);
    c00 = madd_acc<Vnni>(c00, b0, x);
    c01 = madd_acc<Vnni>(c01, b1, x);
    x = _mm256_set1_epi32(a[1]);
    c10 = madd_acc<Vnni>(c10, b0, x);
    c11 = madd_acc<Vnni>(c11, b1, x);
    if constexpr (MR > 2) {
      x = _mm256_set1_epi32(a[2]);
      c20 = madd_acc<Vnni>(c20, b0, x);
      c21 = madd_acc<Vnni>(c21, b1, x);
      x = _mm256_set1_epi32(a[3]);
      c30 = madd_acc<Vnni>(c30, b0, x);
      c31 = madd_acc<Vnni>(c31, b1, x);
    }
    if constexpr (MR > 4) {
      x = _mm256_set1_epi32(a[4]);
      c40 = madd_acc<Vnni>(c40, b0, x);
      c41 = madd_acc<Vnni>(c41, b1, x);
      x = _mm256_set1_epi32(a[5]);
      c50 = madd_acc<Vnni>(c50, b0, x);
      c51 = madd_acc<Vnni>(c51, b1, x);
    }
  }
  i8_flush(c00, c01, first, y, nr, mr > 0);
  i8_flush(c10, c11, first, y + ldy, nr, mr > 1);
  if constexpr (MR > 2) {
    i8_flush(c20, c21, first, y + 2 * ldy, nr, mr > 2);
    i8_flush(c30, c31, first, y + 3 * ldy, nr, mr > 3);
  }
  if constexpr (MR > 4) {
    i8_flush(c40, c41, first, y + 4 * ldy, nr, mr > 4);
    i8_flush(c50, c51, first, y + 5 * ldy, nr, mr > 5);
  }
}

// y · (x_scale · w_scale) + bias over the columns [n0, n1) of every row.
inline void i8_scale(const cpu::QuantGemv& a, int64_t n0, int64_t n1) {
  const int64_t m = a.m, k = a.w.k;
  const uint8_t* ws = a.w.data + a.w.n * k;
  for (int64_t i = 0; i < m; ++i) {
    float* yr = a.y + i * a.ldy;
    const __m256 xd = _mm256_set1_ps(a.xd[i]);
    int64_t r = n0;
    for (; r + 8 <= n1; r += 8) {
      const __m256 s = _mm256_mul_ps(xd, _mm256_loadu_ps(reinterpret_cast<const float*>(ws + 4 * r)));
      const __m256 b = a.bias ? _mm256_loadu_ps(a.bias + r) : _mm256_setzero_ps();
      _mm256_storeu_ps(yr + r, _mm256_fmadd_ps(_mm256_loadu_ps(yr + r), s, b));
    }
    for (; r < n1; ++r)
      yr[r] = __builtin_fmaf(yr[r], a.xd[i] * cpu::load_f32(ws + 4 * r), a.bias ? a.bias[r] : 0.0f);
  }
}

// Outputs of weight rows [n0, n1) for every activation row (a.m rows, a.xpk packed): see above.
template <bool Vnni>
void quant_gemm_i8_packed(const cpu::QuantGemv& a, int64_t n0, int64_t n1) {
  const int64_t k = a.w.k, m = a.m, ldp = a.ldx / 2;  // ldp: code pairs per activation row
  const int8_t* w = reinterpret_cast<const int8_t*>(a.w.data);
  const int64_t pairs = (k + 1) / 2;
  if (m * pairs * 4 <= (int64_t{1} << 18)) {
    // x's codes fit L2 (≤ 256 KiB): one 16-column panel at a time over whole rows (16 rows read front to back, the
    // next panel's bytes prefetched meanwhile), then every chunk of it against every tile
    int16_t* raw = new int16_t[static_cast<size_t>(pairs * 32 + 32)];
    int16_t* buf = reinterpret_cast<int16_t*>((reinterpret_cast<uintptr_t>(raw) + 63) & ~uintptr_t{63});
    for (int64_t jr = n0; jr < n1; jr += 16) {
      const int64_t nr = n1 - jr < 16 ? n1 - jr : 16;
      pack_i8_panel(w, k, jr, nr, 0, k, buf, jr + 32 <= n1 ? w + (jr + 16) * k : nullptr);
      for (int64_t c0 = 0; c0 < k; c0 += cpu::kQuantKc) {
        const int64_t c1 = c0 + cpu::kQuantKc < k ? c0 + cpu::kQuantKc : k;
        const int64_t np = (c1 - c0 + 1) / 2;
        const int16_t* bp = buf + c0 * 16;
        float* yb = a.y + jr;
        int64_t i = 0;
        for (; i + 6 <= m; i += 6)
          i8_tile<Vnni, 6>(a.xpk + ((i / 6) * ldp + c0 / 2) * 6, bp, np, c0 == 0, yb + i * a.ldy, a.ldy, 6, nr);
        if (i < m) {
          const int32_t* ap = a.xpk + ((i / 6) * ldp + c0 / 2) * 6;
          if (m - i <= 2)
            i8_tile<Vnni, 2>(ap, bp, np, c0 == 0, yb + i * a.ldy, a.ldy, m - i, nr);
          else if (m - i <= 4)
            i8_tile<Vnni, 4>(ap, bp, np, c0 == 0, yb + i * a.ldy, a.ldy, m - i, nr);
          else
            i8_tile<Vnni, 6>(ap, bp, np, c0 == 0, yb + i * a.ldy, a.ldy, m - i, nr);
        }
      }
    }
    delete[] raw;
    i8_scale(a, n0, n1);
    return;
  }
  int16_t* raw = new int16_t[static_cast<size_t>(kI8Nc * cpu::kQuantKc + 32)];
  int16_t* buf = reinterpret_cast<int16_t*>((reinterpret_cast<uintptr_t>(raw) + 63) & ~uintptr_t{63});
  for (int64_t jc = n0; jc < n1; jc += kI8Nc) {
    const int64_t nc = n1 - jc < kI8Nc ? n1 - jc : kI8Nc;
    for (int64_t c0 = 0; c0 < k; c0 += cpu::kQuantKc) {
      const int64_t c1 = c0 + cpu::kQuantKc < k ? c0 + cpu::kQuantKc : k;
      const int64_t np = (c1 - c0 + 1) / 2;
      for (int64_t jr = 0; jr < nc; jr += 16)
        pack_i8_panel(w, k, jc + jr, nc - jr < 16 ? nc - jr : 16, c0, c1, buf + (jr / 16) * np * 32);
      for (int64_t ic = 0; ic < m; ic += kI8Mc) {
        const int64_t ie = ic + kI8Mc < m ? ic + kI8Mc : m;
        for (int64_t jr = 0; jr < nc; jr += 16) {
          const int16_t* bp = buf + (jr / 16) * np * 32;
          const int64_t nr = nc - jr < 16 ? nc - jr : 16;
          float* yb = a.y + jc + jr;
          int64_t i = ic;
          for (; i + 6 <= ie; i += 6)
            i8_tile<Vnni, 6>(a.xpk + ((i / 6) * ldp + c0 / 2) * 6, bp, np, c0 == 0, yb + i * a.ldy, a.ldy, 6, nr);
          if (i < ie) {  // the last 1-5 rows (the last tile of x, zero-padded to 6)
            const int32_t* ap = a.xpk + ((i / 6) * ldp + c0 / 2) * 6;
            if (ie - i <= 2)
              i8_tile<Vnni, 2>(ap, bp, np, c0 == 0, yb + i * a.ldy, a.ldy, ie - i, nr);
            else if (ie - i <= 4)
              i8_tile<Vnni, 4>(ap, bp, np, c0 == 0, yb + i * a.ldy, a.ldy, ie - i, nr);
            else
              i8_tile<Vnni, 6>(ap, bp, np, c0 == 0, yb + i * a.ldy, a.ldy, ie - i, nr);
          }
        }
      }
    }
  }
  delete[] raw;
  i8_scale(a, n0, n1);
}

// Outputs of weight rows [n0, n1) for every activation row: with a.xpk (M ≥ kQuantGemmI8PackM) the packed GEMM above;
// else 2 weight rows at a time, chunk by chunk of k, over tiles of up to 4 activation rows (4 × 2 int32 accumulators,
// the weight and activation vectors and a product fit the 16 registers), or the decode order for M = 1; then the
// scales and the bias.
template <bool Vnni>
void quant_gemm_i8_x86(const cpu::QuantGemv& a, int64_t n0, int64_t n1) {
  const int64_t k = a.w.k;
  if (a.xpk) {
    quant_gemm_i8_packed<Vnni>(a, n0, n1);
    return;
  }
  if (a.m == 1) {
    // decode: the activation row (2·k bytes) stays in L1, so the weight is streamed once, row tile by row tile
    // (row i of 4 slices of the range: 4 streams as in gemv_rows, no software prefetch; their chunks in order; the
    // same sums as the chunk-outer order below), then the rows the slices leave over
    const int64_t s = (n1 - n0) / 4;
    for (int64_t i = 0; i < s; ++i)
      for (int64_t c0 = 0; c0 < k; c0 += cpu::kQuantKc)
        gemm_i8_tile<Vnni, 1, 4, false>(a, 0, n0 + i, s, 0, c0, c0 + cpu::kQuantKc < k ? c0 + cpu::kQuantKc : k);
    for (int64_t r = n0 + 4 * s; r < n1; ++r)
      for (int64_t c0 = 0; c0 < k; c0 += cpu::kQuantKc)
        gemm_i8_tile<Vnni, 1, 1, false>(a, 0, r, 1, 0, c0, c0 + cpu::kQuantKc < k ? c0 + cpu::kQuantKc : k);
  } else {  // 1 < M < kQuantGemmI8PackM: rows outer too (x, m·2·k bytes, stays in L1 / L2)
    for (int64_t r = n0; r < n1; r += 2)
      for (int64_t c0 = 0; c0 < k; c0 += cpu::kQuantKc) {
        const int64_t c1 = c0 + cpu::kQuantKc < k ? c0 + cpu::kQuantKc : k;
        if (r + 2 <= n1)
          gemm_i8_rows<Vnni, 2>(a, r, c0, c1);
        else
          gemm_i8_rows<Vnni, 1>(a, r, c0, c1);
      }
  }
  const float* ws = reinterpret_cast<const float*>(a.w.data + a.w.n * k);  // may be unaligned: read with load_f32
  for (int64_t i = 0; i < a.m; ++i)
    for (int64_t r = n0; r < n1; ++r) {
      float* yo = a.y + i * a.ldy + r;
      *yo = *yo * (a.xd[i] * cpu::load_f32(reinterpret_cast<const uint8_t*>(ws + r))) + (a.bias ? a.bias[r] : 0.0f);
    }
}

// Rows [r0, r1) dequantized to float32 (scale · value, one rounding: the same bits as the scalar code).
template <int F>
void quant_dequant_x86(const cpu::QuantGemv& a, int64_t r0, int64_t r1, float* out) {
  const int64_t k = a.w.k;
  for (int64_t r = r0; r < r1; ++r) {
    const RowCtx<F> row(a, r);
    float* o = out + (r - r0) * k;
    for (int64_t b = 0; b < a.kb; ++b) {
      float ws;
      const __m256i w = row.block(b, &ws);
      const __m256 s = _mm256_set1_ps(ws);
      const __m128i lo = _mm256_castsi256_si128(w), hi = _mm256_extracti128_si256(w, 1);
      const __m256 v0 = _mm256_mul_ps(s, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)));
      const __m256 v1 = _mm256_mul_ps(s, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))));
      const __m256 v2 = _mm256_mul_ps(s, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)));
      const __m256 v3 = _mm256_mul_ps(s, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))));
      if (b * 32 + 32 <= k) {
        _mm256_storeu_ps(o + b * 32, v0);
        _mm256_storeu_ps(o + b * 32 + 8, v1);
        _mm256_storeu_ps(o + b * 32 + 16, v2);
        _mm256_storeu_ps(o + b * 32 + 24, v3);
      } else {  // int8's partial last block
        alignas(32) float tmp[32];
        _mm256_store_ps(tmp, v0);
        _mm256_store_ps(tmp + 8, v1);
        _mm256_store_ps(tmp + 16, v2);
        _mm256_store_ps(tmp + 24, v3);
        for (int64_t j = 0; j < k - b * 32; ++j) o[b * 32 + j] = tmp[j];
      }
    }
  }
}

template <bool Vnni>
void fill_quant_x86(Kernels& k) {
  k.quant_gemv[0] = quant_gemv_x86<0, Vnni>;
  k.quant_gemv[1] = quant_gemv_x86<1, Vnni>;
  k.quant_gemv[2] = quant_gemv_x86<2, Vnni>;
  k.quant_gemv[3] = quant_gemv_x86<3, Vnni>;
  k.quant_dequant[0] = quant_dequant_x86<0>;
  k.quant_dequant[1] = quant_dequant_x86<1>;
  k.quant_dequant[2] = quant_dequant_x86<2>;
  k.quant_dequant[3] = quant_dequant_x86<3>;
  k.quant_gemm_i8 = quant_gemm_i8_x86<Vnni>;
}

}  // namespace
}  // namespace tf
