#include "dtype.h"

namespace tf {

static constexpr const char* kNames[kNumDTypes] = {"f32", "f16", "bf16", "i8", "u8", "i32", "i64"};

const char* dtype_name(DType t) {
  auto i = static_cast<int>(t);
  return (i >= 0 && i < kNumDTypes) ? kNames[i] : "unknown";
}

bool dtype_from_name(std::string_view name, DType* out) {
  for (int i = 0; i < kNumDTypes; ++i) {
    if (name == kNames[i]) {
      *out = static_cast<DType>(i);
      return true;
    }
  }
  return false;
}

}  // namespace tf
