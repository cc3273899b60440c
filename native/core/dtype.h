// Element types shared by every layer. The names match lib/tensor.ts ('f32', 'f16', ...).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tf {

enum class DType : uint8_t { F32 = 0, F16, BF16, I8, U8, I32, I64 };

constexpr int kNumDTypes = 7;

constexpr size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F16: return 2;
    case DType::BF16: return 2;
    case DType::I8: return 1;
    case DType::U8: return 1;
    case DType::I32: return 4;
    case DType::I64: return 8;
  }
  return 0;
}

const char* dtype_name(DType t);
// Parses 'f32', 'f16', ...; returns false for an unknown name.
bool dtype_from_name(std::string_view name, DType* out);

}  // namespace tf
