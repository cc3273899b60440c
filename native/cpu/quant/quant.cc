// Quantize / dequantize of every format, the activation quantizer, the scalar integer kernel and the qlinear
// driver (integer path for small M, dequantized tiles + fp32 GEMM for large M). See quant.h for the layouts.
#include "quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "../../core/dispatch.h"
#include "../../core/half.h"
#include "../../core/scratch.h"
#include "../../core/threadpool.h"
#include "../gemm/gemm.h"

namespace tf {
namespace cpu {

bool quant_format_from_name(const char* s, QuantFormat* out) {
  static const char* names[kQuantFormats] = {"q8_0", "q4_0", "int8", "int4"};
  for (int i = 0; i < kQuantFormats; ++i)
    if (std::strcmp(s, names[i]) == 0) {
      *out = static_cast<QuantFormat>(i);
      return true;
    }
  return false;
}

const char* quant_format_name(QuantFormat f) {
  switch (f) {
    case QuantFormat::Q8_0: return "q8_0";
    case QuantFormat::Q4_0: return "q4_0";
    case QuantFormat::Int8: return "int8";
    default: return "int4";
  }
}

int64_t quant_nbytes(QuantFormat f, int64_t n, int64_t k, int64_t group) {
  switch (f) {
    case QuantFormat::Q8_0: return k % kQuantBlock ? -1 : n * (k / kQuantBlock) * 34;
    case QuantFormat::Q4_0: return k % kQuantBlock ? -1 : n * (k / kQuantBlock) * 18;
    case QuantFormat::Int8: return n * k + 4 * n;
    default:
      if (group != 32 && group != 64 && group != 128) return -1;
      if (k % group) return -1;
      return n * k / 2 + n * (k / group) * 5;
  }
}

namespace {

// roundf(v) (halves away from zero) clamped to [lo, hi] as an int; NaN gives 0 (the C cast would be undefined).
// Without a libm call: inside (lo, hi) the value is small, so the truncation is exact and v − trunc(v) too.
inline int round_clamp(float v, int lo, int hi) {
  if (v != v) return 0;
  if (v <= static_cast<float>(lo)) return lo;
  if (v >= static_cast<float>(hi)) return hi;
  const int t = static_cast<int>(v);
  const float f = v - static_cast<float>(t);
  const int r = t + (f >= 0.5f) - (f <= -0.5f);
  return r < lo ? lo : r > hi ? hi : r;
}

// Symmetric 8-bit codes of n values with scale amax/127 (GGML q8_0 semantics); returns the float32 scale.
float quantize_sym8(const float* x, int64_t n, int8_t* q) {
  float amax = 0.0f;
  for (int64_t j = 0; j < n; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int64_t j = 0; j < n; ++j) q[j] = static_cast<int8_t>(round_clamp(x[j] * id, -127, 127));
  return d;
}

void quantize_row(QuantFormat f, const float* x, int64_t r, int64_t n, int64_t k, int64_t group, uint8_t* out) {
  const int64_t kb = k / kQuantBlock;
  switch (f) {
    case QuantFormat::Q8_0: {
      uint8_t* row = out + r * kb * 34;
      for (int64_t b = 0; b < kb; ++b) {
        uint8_t* blk = row + b * 34;
        int8_t q[32];
        const uint16_t h = f32_to_f16(quantize_sym8(x + b * 32, 32, q));
        blk[0] = static_cast<uint8_t>(h & 0xff);
        blk[1] = static_cast<uint8_t>(h >> 8);
        std::memcpy(blk + 2, q, 32);
      }
      break;
    }
    case QuantFormat::Q4_0: {
      uint8_t* row = out + r * kb * 18;
      for (int64_t b = 0; b < kb; ++b) {
        const float* v = x + b * 32;
        uint8_t* blk = row + b * 18;
        float amax = 0.0f, mx = 0.0f;
        for (int j = 0; j < 32; ++j)
          if (amax < std::fabs(v[j])) {  // strict: the first element of largest magnitude wins ties
            amax = std::fabs(v[j]);
            mx = v[j];
          }
        const float d = mx / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const uint16_t h = f32_to_f16(d);
        blk[0] = static_cast<uint8_t>(h & 0xff);
        blk[1] = static_cast<uint8_t>(h >> 8);
        for (int j = 0; j < 16; ++j) {
          const float t0 = v[j] * id + 8.5f, t1 = v[j + 16] * id + 8.5f;
          // (int8)(t) then min(15, .): t is >= 0 for finite inputs (|x·id| <= 8); guard NaN and the int8 range
          const int q0 = !(t0 >= 0.0f) ? 0 : t0 >= 15.0f ? 15 : static_cast<int>(t0);
          const int q1 = !(t1 >= 0.0f) ? 0 : t1 >= 15.0f ? 15 : static_cast<int>(t1);
          blk[2 + j] = static_cast<uint8_t>(q0 | (q1 << 4));
        }
      }
      break;
    }
    case QuantFormat::Int8: {
      const float s = quantize_sym8(x, k, reinterpret_cast<int8_t*>(out + r * k));
      std::memcpy(out + n * k + 4 * r, &s, 4);
      break;
    }
    case QuantFormat::Int4: {
      const int64_t groups = k / group;
      uint8_t* codes = out + r * (k / 2);
      uint8_t* scales = out + n * k / 2 + r * groups * 4;
      uint8_t* zeros = out + n * k / 2 + n * groups * 4 + r * groups;
      for (int64_t g = 0; g < groups; ++g) {
        const float* v = x + g * group;
        float lo = 0.0f, hi = 0.0f;
        for (int64_t j = 0; j < group; ++j) {
          lo = std::min(lo, v[j]);
          hi = std::max(hi, v[j]);
        }
        const float s = (hi - lo) / 15.0f;
        int z = 0;
        float id = 0.0f;
        if (s != 0.0f) {
          id = 1.0f / s;
          z = round_clamp(-lo * id, 0, 15);
        }
        std::memcpy(scales + g * 4, &s, 4);
        zeros[g] = static_cast<uint8_t>(z);
        for (int64_t j = 0; j < group; j += 2) {
          const int q0 = s != 0.0f ? round_clamp(static_cast<float>(round_clamp(v[j] * id, -64, 64) + z), 0, 15) : 0;
          const int q1 = s != 0.0f ? round_clamp(static_cast<float>(round_clamp(v[j + 1] * id, -64, 64) + z), 0, 15) : 0;
          codes[(g * group + j) / 2] = static_cast<uint8_t>(q0 | (q1 << 4));
        }
      }
      break;
    }
  }
}

// The scalar kernel: one block's 32 signed weight values (code − offset) and its scale.
inline void decode_block(const QuantGemv& a, int64_t r, int64_t b, int8_t* v, float* scale) {
  const QuantWeight& w = a.w;
  switch (w.format) {
    case QuantFormat::Q8_0: {
      const uint8_t* p = w.data + (r * a.kb + b) * 34;
      *scale = f16_to_f32(load_u16(p));
      std::memcpy(v, p + 2, 32);
      break;
    }
    case QuantFormat::Q4_0: {
      const uint8_t* p = w.data + (r * a.kb + b) * 18;
      *scale = f16_to_f32(load_u16(p));
      for (int j = 0; j < 16; ++j) {
        v[j] = static_cast<int8_t>((p[2 + j] & 15) - 8);
        v[j + 16] = static_cast<int8_t>((p[2 + j] >> 4) - 8);
      }
      break;
    }
    case QuantFormat::Int8: {
      const int64_t len = std::min<int64_t>(32, w.k - b * 32);
      std::memset(v, 0, 32);
      std::memcpy(v, w.data + r * w.k + b * 32, static_cast<size_t>(len));
      *scale = load_f32(w.data + w.n * w.k + 4 * r);
      break;
    }
    case QuantFormat::Int4: {
      const int64_t groups = w.k / w.group, g = b * 32 / w.group;
      const uint8_t* p = w.data + r * (w.k / 2) + b * 16;
      *scale = load_f32(w.data + w.n * w.k / 2 + (r * groups + g) * 4);
      const int z = w.data[w.n * w.k / 2 + w.n * groups * 4 + r * groups + g];
      for (int j = 0; j < 16; ++j) {
        v[2 * j] = static_cast<int8_t>((p[j] & 15) - z);
        v[2 * j + 1] = static_cast<int8_t>((p[j] >> 4) - z);
      }
      break;
    }
  }
}

void quant_gemv_scalar(const QuantGemv& a, int64_t n0, int64_t n1) {
  const bool wide = quant_int16_acts(a.w.format);
  for (int64_t r = n0; r < n1; ++r) {
    for (int64_t i = 0; i < a.m; ++i) {
      const ActBlock* x = a.act + i * a.kb;
      float acc = 0.0f;
      for (int64_t b = 0; b < a.kb; ++b) {
        int8_t v[32];
        float s = 0.0f;
        decode_block(a, r, b, v, &s);
        int32_t isum = 0;
        if (wide) {
          for (int j = 0; j < 32; ++j) isum += static_cast<int32_t>(v[j]) * x[b].q16[j];
          acc += (s * x[b].d16) * static_cast<float>(isum);
        } else {
          for (int j = 0; j < 32; ++j) isum += static_cast<int32_t>(v[j]) * x[b].q[j];
          acc += (s * x[b].d) * static_cast<float>(isum);
        }
      }
      a.y[i * a.ldy + r] = acc + (a.bias ? a.bias[r] : 0.0f);
    }
  }
}

// int8 weights, M > 8: see quant.h (QuantGemv::xq, kQuantKc).
void quant_gemm_i8_scalar(const QuantGemv& a, int64_t n0, int64_t n1) {
  const int64_t k = a.w.k;
  const int8_t* w = reinterpret_cast<const int8_t*>(a.w.data);
  for (int64_t r = n0; r < n1; ++r) {
    const float ws = load_f32(a.w.data + a.w.n * k + 4 * r);
    const float bias = a.bias ? a.bias[r] : 0.0f;
    for (int64_t i = 0; i < a.m; ++i) {
      const int16_t* x = a.xq + i * a.ldx;
      float t = 0.0f;
      for (int64_t c = 0; c < k; c += kQuantKc) {
        const int64_t e = std::min(k, c + kQuantKc);
        int32_t sum = 0;  // exact (kQuantKc)
        for (int64_t j = c; j < e; ++j) sum += static_cast<int32_t>(w[r * k + j]) * x[j];
        t = c == 0 ? static_cast<float>(sum) : t + static_cast<float>(sum);
      }
      a.y[i * a.ldy + r] = t * (a.xd[i] * ws) + bias;
    }
  }
}

// 32 codes roundf(v·id) (halves away from zero) clamped to [−lim, lim], NaN as 0: round_clamp's result, without
// branches (the activations are quantized on every qlinear call). SSE2 (every x86-64) or plain C++; both give
// the same codes, so every dispatch level sees the same activations.
template <typename T>
inline void round_block(const float* v, float id, float lim, T* out) {
#if defined(__SSE2__)
  const __m128 idv = _mm_set1_ps(id), hi = _mm_set1_ps(lim), lo = _mm_set1_ps(-lim);
  const __m128 half = _mm_set1_ps(0.5f), nhalf = _mm_set1_ps(-0.5f);
  __m128i r[8];
  for (int c = 0; c < 8; ++c) {
    __m128 q = _mm_mul_ps(_mm_loadu_ps(v + 4 * c), idv);
    q = _mm_and_ps(q, _mm_cmpord_ps(q, q));
    q = _mm_min_ps(_mm_max_ps(q, lo), hi);
    const __m128i t = _mm_cvttps_epi32(q);
    const __m128 f = _mm_sub_ps(q, _mm_cvtepi32_ps(t));
    // the comparison masks are −1 where true: t + (f ≥ 0.5) − (f ≤ −0.5)
    r[c] = _mm_add_epi32(_mm_sub_epi32(t, _mm_castps_si128(_mm_cmpge_ps(f, half))),
                         _mm_castps_si128(_mm_cmple_ps(f, nhalf)));
  }
  for (int c = 0; c < 8; c += 2) {
    const __m128i w = _mm_packs_epi32(r[c], r[c + 1]);
    if constexpr (sizeof(T) == 2) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 4 * c), w);
    } else if (c % 4 == 0) {
      const __m128i w2 = _mm_packs_epi32(r[c + 2], r[c + 3]);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 4 * c), _mm_packs_epi16(w, w2));
    }
  }
#else
  for (int j = 0; j < 32; ++j) {
    float q = v[j] * id;
    q = q != q ? 0.0f : q;
    q = q < -lim ? -lim : q;
    q = q > lim ? lim : q;
    const int t = static_cast<int>(q);
    const float f = q - static_cast<float>(t);
    out[j] = static_cast<T>(t + (f >= 0.5f ? 1 : 0) - (f <= -0.5f ? 1 : 0));
  }
#endif
}

// x[m, k] -> [m, kb] blocks; the last block of a row is zero-padded when k is not a multiple of 32. A NaN in a
// block makes its scale NaN (so the outputs it touches are NaN, as in fp32). Only the codes the format's kernels read
// are made: d16 / q16 when `wide` (the 8-bit formats), d / q / q_eo / lanes8 otherwise.
void quantize_activations(const float* x, int64_t m, int64_t k, int64_t kb, bool wide, ActBlock* out) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t b = 0; b < kb; ++b) {
      float v[32] = {};
      const int64_t len = std::min<int64_t>(32, k - b * 32);
      std::memcpy(v, x + i * k + b * 32, sizeof(float) * static_cast<size_t>(len));
      ActBlock& blk = out[i * kb + b];
      bool nan = false;
      float amax = 0.0f;
      for (int j = 0; j < 32; ++j) {
        nan |= v[j] != v[j];
        amax = std::max(amax, std::fabs(v[j]));
      }
      if (wide) {  // int16 codes, d16 = amax/32767
        blk.d16 = nan ? std::numeric_limits<float>::quiet_NaN() : amax / 32767.0f;
        const float id16 = blk.d16 != 0.0f && !nan ? 1.0f / blk.d16 : 0.0f;
        round_block(v, id16, 32767.0f, blk.q16);
        continue;
      }
      // the codes of quantize_sym8 (d = amax/127)
      blk.d = amax / 127.0f;
      const float id = blk.d != 0.0f ? 1.0f / blk.d : 0.0f;
      round_block(v, id, 127.0f, blk.q);
      if (nan) blk.d = std::numeric_limits<float>::quiet_NaN();
      for (int j = 0; j < 16; ++j) {
        blk.q_eo[j] = blk.q[2 * j];
        blk.q_eo[16 + j] = blk.q[2 * j + 1];
      }
      for (int l = 0; l < 8; ++l) blk.lanes8[l] = 8 * (blk.q[4 * l] + blk.q[4 * l + 1] + blk.q[4 * l + 2] + blk.q[4 * l + 3]);
    }
}

// act [m, kb] -> pairs [m, kb / 2] (quant.h ActPair) for a 4-bit format.
void pair_activations(QuantFormat f, const ActBlock* act, int64_t m, int64_t kb, ActPair* pairs) {
  const int64_t np = kb / 2;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t p = 0; p < np; ++p) {
      ActPair& o = pairs[i * np + p];
      for (int h = 0; h < 2; ++h) {
        const ActBlock& x = act[i * kb + 2 * p + h];
        const int8_t* q = f == QuantFormat::Q4_0 ? x.q : x.q_eo;
        std::memcpy(o.lo + 16 * h, q, 16);
        std::memcpy(o.hi + 16 * h, q + 16, 16);
        for (int l = 0; l < 4; ++l) {
          int32_t sum = 0;
          for (int t = 0; t < 4; ++t) sum += q[4 * l + t] + q[16 + 4 * l + t];
          o.dx[4 * h + l] = x.d;
          o.c[4 * h + l] = x.d * static_cast<float>(8 * sum);
          o.off[4 * h + l] = static_cast<int32_t>(static_cast<uint16_t>(static_cast<int16_t>(sum)));
        }
      }
    }
}

// act [m, kb] -> octs [m, kb / 8] (quant.h ActOct) for a 4-bit format.
void oct_activations(const ActBlock* act, int64_t m, int64_t kb, ActOct* octs) {
  static constexpr int kLaneBlock[8] = {0, 2, 4, 6, 1, 3, 5, 7};
  const int64_t no = kb / 8;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t o = 0; o < no; ++o) {
      ActOct& out = octs[i * no + o];
      for (int l = 0; l < 8; ++l) {
        const ActBlock& x = act[i * kb + 8 * o + kLaneBlock[l]];
        int32_t sum = 0;
        for (int j = 0; j < 32; ++j) sum += x.q[j];
        out.dx[l] = x.d;
        out.c[l] = x.d * static_cast<float>(8 * sum);
        out.off[l] = static_cast<int32_t>(static_cast<uint16_t>(static_cast<int16_t>(sum)));
      }
    }
}

// x[m, k] -> int16 codes [m, ldx] (zero past k) with one scale per row, amax/32767 (NaN for a row holding a NaN).
// Returns false, leaving the codes unfinished, when some row's amax exceeds kQuantRowPeak times its rms: one
// scale for such a row (an outlier channel) would round the rest of it coarsely, so qlinear takes the fp32 path.
constexpr double kQuantRowPeak = 32.0;
bool quantize_rows16(const float* x, int64_t m, int64_t k, int64_t ldx, int16_t* q, float* d) {
  ScratchFrame frame;
  unsigned char* const peaky = frame.zeros<unsigned char>(checked_count(m));  // flags: only set below
  parallel_for(0, m, std::max<int64_t>(1, 8192 / k), [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) {
      const float* v = x + i * k;
      float amax = 0.0f;
      bool nan = false;
      double ss = 0.0;
      for (int64_t j = 0; j < k; ++j) {
        nan |= v[j] != v[j];
        amax = std::max(amax, std::fabs(v[j]));
        ss += static_cast<double>(v[j]) * v[j];
      }
      if (static_cast<double>(amax) * amax > kQuantRowPeak * kQuantRowPeak * (ss / static_cast<double>(k))) {
        peaky[static_cast<size_t>(i)] = 1;
        continue;
      }
      const float di = amax / 32767.0f;
      const float id = di != 0.0f && !nan ? 1.0f / di : 0.0f;
      d[i] = nan ? std::numeric_limits<float>::quiet_NaN() : di;
      int16_t* qi = q + i * ldx;
      for (int64_t b = 0; b < ldx; b += 32) {
        if (b + 32 <= k) {
          round_block(v + b, id, 32767.0f, qi + b);
        } else {
          float t[32] = {};
          for (int64_t j = b; j < k; ++j) t[j - b] = v[j];
          round_block(t, id, 32767.0f, qi + b);
        }
      }
    }
  });
  for (int64_t i = 0; i < m; ++i)
    if (peaky[i]) return false;
  return true;
}

}  // namespace

void quantize(QuantFormat f, const float* w, int64_t n, int64_t k, int64_t group, uint8_t* out) {
  if (n == 0) return;
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, k));
  parallel_for(0, n, grain, [&](int64_t s, int64_t e) {
    for (int64_t r = s; r < e; ++r) quantize_row(f, w + r * k, r, n, k, group, out);
  });
}

void quant_dequant_scalar(const QuantGemv& a, int64_t r0, int64_t r1, float* out) {
  const QuantWeight& w = a.w;
  const int64_t k = w.k;
  for (int64_t r = r0; r < r1; ++r) {
    float* o = out + (r - r0) * k;
    if (w.format == QuantFormat::Int8) {  // no blocks: one scale per row
      const float s = load_f32(w.data + w.n * k + 4 * r);
      const int8_t* q = reinterpret_cast<const int8_t*>(w.data + r * k);
      for (int64_t j = 0; j < k; ++j) o[j] = s * static_cast<float>(q[j]);
      continue;
    }
    for (int64_t b = 0; b < a.kb; ++b) {
      int8_t v[32];
      float s = 0.0f;
      decode_block(a, r, b, v, &s);
      for (int j = 0; j < 32; ++j) o[b * 32 + j] = s * static_cast<float>(v[j]);
    }
  }
}

void dequantize_rows(const QuantWeight& w, int64_t r0, int64_t r1, float* out) {
  QuantGemv a;
  a.w = w;
  a.kb = (w.k + 31) / 32;
  kernels().quant_dequant[static_cast<int>(w.format)](a, r0, r1, out);
}

void dequantize(const QuantWeight& w, float* out) {
  if (w.n == 0 || w.k == 0) return;
  const int64_t grain = std::max<int64_t>(1, 16384 / w.k);
  parallel_for(0, w.n, grain, [&](int64_t s, int64_t e) { dequantize_rows(w, s, e, out + s * w.k); });
}

namespace {
// int8 weight: the integer GEMM against per-row int16 activations; false (nothing written) when some row of x has
// an outlier channel (quantize_rows16).
bool qlinear_gemm_i8(const QuantWeight& w, const float* x, int64_t m, const float* bias, float* y) {
  const int64_t n = w.n, k = w.k;
  QuantGemv a;
  a.w = w;
  a.m = m;
  a.bias = bias;
  a.y = y;
  a.ldy = n;
  a.ldx = (k + 31) / 32 * 32;
  // scratch: every row's codes (to ldx, zero past k) and scale are written when quantize_rows16 succeeds
  ScratchFrame frame;
  int16_t* const xq = frame.get<int16_t>(checked_count(m, a.ldx));
  float* const xd = frame.floats(checked_count(m));
  if (!quantize_rows16(x, m, k, a.ldx, xq, xd)) return false;
  a.xq = xq;
  a.xd = xd;
  auto fn = kernels().quant_gemm_i8;
  if (m >= kQuantGemmI8PackM) {
    // the packed GEMM: x's codes in tiles of 6 rows × pairs of k (quant.h QuantGemv::xpk), then tasks of up to
    // 192 output columns (a multiple of 16: the kernel's panels); when that leaves fewer than 2 tasks a thread, the
    // rows are split too (tiles of 6). Every output's arithmetic is the same for any split.
    const int64_t ldp = a.ldx / 2, tiles = (m + 5) / 6;
    int32_t* const xpk = frame.get<int32_t>(checked_count(tiles, ldp, 6));  // written whole, padding rows too
    parallel_for(0, tiles, 1, [&](int64_t s, int64_t e) {
      for (int64_t t = s; t < e; ++t)
        for (int j = 0; j < 6; ++j) {
          int32_t* o = xpk + t * ldp * 6 + j;
          const int64_t i = 6 * t + j;
          if (i >= m) {
            for (int64_t p = 0; p < ldp; ++p) o[p * 6] = 0;
            continue;
          }
          const int16_t* src = xq + i * a.ldx;
          for (int64_t p = 0; p < ldp; ++p) std::memcpy(o + p * 6, src + 2 * p, 4);
        }
    });
    a.xpk = xpk;
    const int64_t threads = num_threads();
    int64_t cw = 192;
    if ((n + cw - 1) / cw < 2 * threads) cw = std::max<int64_t>(16, (n / (2 * threads) + 15) / 16 * 16);
    const int64_t nt = (n + cw - 1) / cw;
    const int64_t mparts = std::min<int64_t>(tiles, std::max<int64_t>(1, (2 * threads + nt - 1) / nt));
    parallel_for(0, nt * mparts, 1, [&](int64_t s, int64_t e) {
      for (int64_t t = s; t < e; ++t) {
        const int64_t mi = t / nt, ni = t % nt;
        const int64_t i0 = 6 * split_begin(tiles, mparts, mi), i1 = std::min(m, 6 * split_begin(tiles, mparts, mi + 1));
        QuantGemv b = a;
        b.m = i1 - i0;
        b.y = y + i0 * n;
        b.xq = a.xq + i0 * a.ldx;
        b.xd = a.xd + i0;
        b.xpk = a.xpk + (i0 / 6) * ldp * 6;
        fn(b, ni * cw, std::min(n, (ni + 1) * cw));
      }
    });
    return true;
  }
  // chunks of whole 4-row (M = 1) or 2-row tiles; decode gets the small-M path's grain (2^16 / (m·k) rows)
  const int64_t grain = m <= kQuantSmallM ? std::max<int64_t>(4, (int64_t{1} << 16) / (m * k) / 4 * 4)
                                          : std::max<int64_t>(12, (int64_t{1} << 20) / (m * k) / 12 * 12);
  parallel_for(0, n, grain, [&](int64_t s, int64_t e) { fn(a, s, e); });
  return true;
}
}  // namespace

void qlinear(const QuantWeight& w, const float* x, int64_t m, const float* bias, float* y) {
  const int64_t n = w.n, k = w.k;
  if (m == 0 || n == 0) return;
  if (k == 0) {
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) y[i * n + j] = bias ? bias[j] : 0.0f;
    return;
  }
  if (w.format == QuantFormat::Int8 && qlinear_gemm_i8(w, x, m, bias, y)) return;
  if (m <= kQuantSmallM) {
    QuantGemv a;
    a.w = w;
    a.kb = (k + 31) / 32;
    // Scratch. act is zero-filled: quantize_activations makes only the fields of the format's width (the others
    // stay zero, as the value-initialised vector had them); pairs, octs, q16 and d16 are written whole.
    ScratchFrame frame;
    ActBlock* const act = frame.zeros<ActBlock>(checked_count(m, a.kb));
    quantize_activations(x, m, k, a.kb, quant_int16_acts(w.format), act);
    a.act = act;
    if (!quant_int16_acts(w.format)) {
      ActPair* const pairs = frame.get<ActPair>(checked_count(m, a.kb / 2));
      pair_activations(w.format, act, m, a.kb, pairs);
      a.pairs = pairs;
      ActOct* const octs = frame.get<ActOct>(checked_count(m, a.kb / 8));
      oct_activations(act, m, a.kb, octs);
      a.octs = octs;
    }
    if (w.format == QuantFormat::Q8_0) {
      int16_t* const q16 = frame.get<int16_t>(checked_count(m, a.kb, 32));
      float* const d16 = frame.floats(checked_count(m, a.kb));
      for (int64_t i = 0; i < m * a.kb; ++i) {
        std::memcpy(q16 + i * 32, act[i].q16, sizeof(act[i].q16));
        d16[i] = act[i].d16;
      }
      a.q16 = q16;
      a.d16 = d16;
    }
    a.m = m;
    a.bias = bias;
    a.y = y;
    a.ldy = n;
    auto fn = kernels().quant_gemv[static_cast<int>(w.format)];
    const int64_t grain = std::max<int64_t>(4, (int64_t{1} << 16) / (k * m));
    parallel_for(0, n, grain, [&](int64_t s, int64_t e) { fn(a, s, e); });
    return;
  }
  // Large M: tiles of nt weight rows, dequantized (in parallel) into a [nt, k] panel, then y[:, n0:n0+nt] =
  // x·panelᵀ by the fp32 GEMM (which parallelizes itself). The tile is a function of k only.
  const int64_t nt = std::max<int64_t>(16, std::min<int64_t>(n, ((int64_t{1} << 20) / k) / 16 * 16));
  ScratchFrame frame;
  float* const panel = frame.floats(checked_count(std::min(nt, n), k));  // each tile's rows dequantized whole
  if (bias)
    for (int64_t i = 0; i < m; ++i) std::memcpy(y + i * n, bias, sizeof(float) * n);
  for (int64_t n0 = 0; n0 < n; n0 += nt) {
    const int64_t nn = std::min(nt, n - n0);
    const int64_t grain = std::max<int64_t>(1, 16384 / k);
    float* pp = panel;
    parallel_for(0, nn, grain, [&](int64_t s, int64_t e) { dequantize_rows(w, n0 + s, n0 + e, pp + s * k); });
    sgemm(false, true, m, nn, k, 1.0f, x, k, pp, k, bias ? 1.0f : 0.0f, y + n0, n);
  }
}

}  // namespace cpu

void register_quant_scalar(Kernels& k) {
  for (int f = 0; f < cpu::kQuantFormats; ++f) {
    k.quant_gemv[f] = cpu::quant_gemv_scalar;
    k.quant_dequant[f] = cpu::quant_dequant_scalar;
  }
  k.quant_gemm_i8 = cpu::quant_gemm_i8_scalar;
}

}  // namespace tf
