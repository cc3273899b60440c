// Conversions between f32 and the 16-bit float formats (IEEE binary16 and bfloat16), round to nearest
// even, NaN stays NaN. Parallel over the pool, SIMD per ISA (F16C, AVX-512, AVX-512 BF16 where present).
#pragma once
#include <cstdint>

namespace tf::cpu {

void f32_to_f16(const float* src, uint16_t* dst, int64_t n);
void f16_to_f32(const uint16_t* src, float* dst, int64_t n);
void f32_to_bf16(const float* src, uint16_t* dst, int64_t n);
void bf16_to_f32(const uint16_t* src, float* dst, int64_t n);

}  // namespace tf::cpu
