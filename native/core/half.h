// Scalar IEEE binary16 and bfloat16 conversions (round to nearest even, NaN kept quiet).
// These are the reference the SIMD conversions are tested against.
#pragma once
#include <cstdint>
#include <cstring>

namespace tf {

inline uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float bits_f32(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) return bits_f32(sign | 0x7f800000u | (mant ? 0x400000u : 0u) | (mant << 13));  // inf / quiet nan
  if (exp != 0) return bits_f32(sign | ((exp + 112u) << 23) | (mant << 13));
  if (mant == 0) return bits_f32(sign);  // signed zero
  // Subnormal half: value = mant * 2^-24, exactly representable in f32.
  float v = static_cast<float>(mant) * 5.9604644775390625e-08f;
  return sign ? -v : v;
}

inline uint16_t f32_to_f16(float f) {
  const uint32_t u = f32_bits(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t absu = u & 0x7fffffffu;
  if (absu > 0x7f800000u) return sign | 0x7e00u | static_cast<uint16_t>((absu >> 13) & 0x3ffu);  // nan
  if (absu >= 0x477ff000u) return sign | 0x7c00u;  // rounds to >= 65520: inf
  if (absu >= 0x38800000u) {  // normal half range (>= 2^-14)
    uint32_t mant_odd = (absu >> 13) & 1u;
    uint32_t r = absu + 0xc8000fffu + mant_odd;  // rebias exponent (-112 << 23) and round to nearest even
    return sign | static_cast<uint16_t>(r >> 13);
  }
  // Subnormal half or zero: scale so that the half's ulp (2^-24) becomes the f32's integer unit.
  // Adding 0.5f forces the hardware (round-to-nearest-even) to do the rounding for us.
  float a = bits_f32(absu);
  float r = a * 16777216.0f;  // 2^24, exact
  // Values below 2^-14 become < 1024 here; the rounding to an integer is round-half-even via magic add.
  float magic = r + 8388608.0f;  // 2^23: forces rounding to integer
  uint32_t q = f32_bits(magic) - 0x4b000000u;
  return sign | static_cast<uint16_t>(q);
}

inline float bf16_to_f32(uint16_t h) { return bits_f32(static_cast<uint32_t>(h) << 16); }

inline uint16_t f32_to_bf16(float f) {
  uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // quiet nan
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

}  // namespace tf
