// Element-wise kernels. The entry points split the work over the thread pool and call the dispatched
// per-ISA kernel on each chunk.
#pragma once
#include <cstdint>

namespace tf::cpu {

// out[i] = a[i] + b[i]; out may alias a or b.
void add_f32(const float* a, const float* b, float* out, int64_t n);

}  // namespace tf::cpu
