// The x86 integer kernels of qlinear's small-M path (and the SIMD dequantizer of its large-M path), written once
// and instantiated in quant_avx2.cc (AVX2 + F16C: maddubs + madd) and quant_avx512.cc (AVX512-VNNI: vpdpbusd on
// 256-bit vectors). Included inside a target region: no standard headers here (quant.h and simd.h come first).
//
// Per weight block of 32 the integer dot product with the activation block (quant.h ActBlock) is:
//   q8_0, int8   signed codes widened to int16 times the int16 activations (madd / vpdpwssd);
//   (block_dot)  the int8 × int8 sign trick, |w| (unsigned) times sign(x, w) (signed), so the unsigned × signed
//                instructions compute w·x exactly (pairs of products at most 2·128·127 < 2^15: no saturation);
//   q4_0         unsigned nibbles (0..15) times x, minus 8·(lane sums of x) precomputed per activation block;
//   int4         nibbles minus the group's zero point (in [−15, 15]) with the sign trick; the low nibbles (even
//                elements) and high nibbles (odd elements) are used in place, against a copy of the activation
//                codes permuted the same way (ActBlock::q_eo), which saves the interleaving shuffles.
// Each output accumulates its blocks' int32 sums, converted to float and scaled by w_scale·x_scale, in 8 float
// lanes in a fixed order; one thread computes a whole output, so the result does not depend on the thread count.
// The integer sums are exact, so AVX2 and VNNI give the same bits; the scalar level differs by float rounding.
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
  const uint8_t* codes;
  const uint8_t* scales = nullptr;
  const uint8_t* zeros = nullptr;
  float row_scale = 0.0f;
  int gshift = 0;  // int4: log2(group / 32)
  int64_t k;
  RowCtx(const cpu::QuantGemv& a, int64_t r) : k(a.w.k) {
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

// Outputs (i0 .. i0+MR-1, r): each weight block is decoded once for MR activation rows. With fewer than 4 rows,
// even and odd blocks go to two accumulators (independent FMA chains), added at the end. The order of the sums
// is fixed by MR, which depends on M only: the same for every thread count.
template <int F, bool Vnni, int MR>
inline void gemv_tile(const cpu::QuantGemv& a, const RowCtx<F>& row, int64_t r, int64_t i0) {
  constexpr int NA = MR >= 4 ? 1 : 2;
  __m256 acc[NA][MR];
  for (int u = 0; u < NA; ++u)
    for (int j = 0; j < MR; ++j) acc[u][j] = _mm256_setzero_ps();
  const cpu::ActBlock* x = a.act + i0 * a.kb;
  auto step = [&](int64_t b, __m256* ac) {
    float ws;
    const __m256i w = dot_block<F>(row, b, &ws);
    for (int j = 0; j < MR; ++j) {
      const cpu::ActBlock& xb = x[j * a.kb + b];
      __m256i s;
      if constexpr (F == 0 || F == 2) {
        s = block_dot16<Vnni>(w, xb.q16);
      } else {
        const __m256i xq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(F == 3 ? xb.q_eo : xb.q));
        if constexpr (F == 1)
          s = block_dot_u4<Vnni>(w, xq, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.lanes8)));
        else
          s = block_dot<Vnni>(w, xq);
      }
      ac[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(ws * (F == 0 || F == 2 ? xb.d16 : xb.d)), ac[j]);
    }
  };
  int64_t b = 0;
  if constexpr (NA == 2) {
    for (; b + 2 <= a.kb; b += 2) {
      step(b, acc[0]);
      step(b + 1, acc[NA - 1]);
    }
  }
  for (; b < a.kb; ++b) step(b, acc[0]);
  const float bias = a.bias ? a.bias[r] : 0.0f;
  for (int j = 0; j < MR; ++j) {
    __m256 t = acc[0][j];
    if constexpr (NA == 2) t = _mm256_add_ps(t, acc[NA - 1][j]);
    a.y[(i0 + j) * a.ldy + r] = hsum8(t) + bias;
  }
}

// Outputs (i0 .. i0+7) × (weight rows r0 .. r0+R-1), for M >= 8: the 8 activation rows' int32 block sums are
// reduced across lanes first (one lane per activation row), so the conversion to float, the scaling and the
// accumulation happen once per block for all 8 rows. R weight rows share each activation block while it is in
// L1. Each output's arithmetic does not depend on R.
template <int F, bool Vnni, int R>
inline void gemv_tile8(const cpu::QuantGemv& a, const RowCtx<F>* rows, int64_t r0, int64_t i0) {
  __m256 acc[R];
  for (int u = 0; u < R; ++u) acc[u] = _mm256_setzero_ps();
  const cpu::ActBlock* x = a.act + i0 * a.kb;
  const float* d8 = a.act_d8 + (i0 / 8) * a.kb * 8;
  for (int64_t b = 0; b < a.kb; ++b) {
    const __m256 dx = _mm256_loadu_ps(d8 + b * 8);
    for (int u = 0; u < R; ++u) {
      float ws;
      const __m256i w = dot_block<F>(rows[u], b, &ws);
      __m256i v[8];
      for (int j = 0; j < 8; ++j) {
        const cpu::ActBlock& xb = x[j * a.kb + b];
        if constexpr (F == 0 || F == 2) {
          v[j] = block_dot16<Vnni>(w, xb.q16);
        } else {
          const __m256i xq = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(F == 3 ? xb.q_eo : xb.q));
          if constexpr (F == 1)
            v[j] = block_dot_u4<Vnni>(w, xq, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.lanes8)));
          else
            v[j] = block_dot<Vnni>(w, xq);
        }
      }
      const __m256i h01 = _mm256_hadd_epi32(v[0], v[1]), h23 = _mm256_hadd_epi32(v[2], v[3]);
      const __m256i h45 = _mm256_hadd_epi32(v[4], v[5]), h67 = _mm256_hadd_epi32(v[6], v[7]);
      const __m256i h0 = _mm256_hadd_epi32(h01, h23), h1 = _mm256_hadd_epi32(h45, h67);
      const __m256i t =
          _mm256_add_epi32(_mm256_permute2x128_si256(h0, h1, 0x20), _mm256_permute2x128_si256(h0, h1, 0x31));
      acc[u] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(t), _mm256_mul_ps(_mm256_set1_ps(ws), dx), acc[u]);
    }
  }
  for (int u = 0; u < R; ++u) {
    alignas(32) float out[8];
    _mm256_store_ps(out, acc[u]);
    const int64_t r = r0 + u;
    const float bias = a.bias ? a.bias[r] : 0.0f;
    for (int j = 0; j < 8; ++j) a.y[(i0 + j) * a.ldy + r] = out[j] + bias;
  }
}

template <int F, bool Vnni>
void quant_gemv_x86(const cpu::QuantGemv& a, int64_t n0, int64_t n1) {
  const int64_t m8 = a.m / 8 * 8;
  if (m8 > 0) {  // groups of 8 activation rows, 4 weight rows at a time
    int64_t r = n0;
    for (; r + 4 <= n1; r += 4) {
      const RowCtx<F> rows[4] = {RowCtx<F>(a, r), RowCtx<F>(a, r + 1), RowCtx<F>(a, r + 2), RowCtx<F>(a, r + 3)};
      for (int64_t i = 0; i < m8; i += 8) gemv_tile8<F, Vnni, 4>(a, rows, r, i);
    }
    for (; r < n1; ++r) {
      const RowCtx<F> row(a, r);
      for (int64_t i = 0; i < m8; i += 8) gemv_tile8<F, Vnni, 1>(a, &row, r, i);
    }
  }
  for (int64_t r = n0; r < n1; ++r) {  // the remaining activation rows, one weight row at a time
    const RowCtx<F> row(a, r);
    int64_t i = m8;
    for (; i + 4 <= a.m; i += 4) gemv_tile<F, Vnni, 4>(a, row, r, i);
    switch (a.m - i) {
      case 3: gemv_tile<F, Vnni, 3>(a, row, r, i); break;
      case 2: gemv_tile<F, Vnni, 2>(a, row, r, i); break;
      case 1: gemv_tile<F, Vnni, 1>(a, row, r, i); break;
      default: break;
    }
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
}

}  // namespace
}  // namespace tf
