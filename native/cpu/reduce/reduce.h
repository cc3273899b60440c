// Reductions: sum and mean over one axis (accumulated in double, then rounded once to fp32), and top-k over
// the last axis. The summation order is fixed by the shape alone (rows split in fixed blocks of 32K
// elements, combined in order), so results do not depend on the thread count.
#pragma once
#include <cstdint>

namespace tf::cpu {

// x viewed as [outer, len, inner]; out[o, i] = scale * sum_k x[o, k, i] (scale = 1 for sum, 1/len for mean).
void sum_f32(const float* x, float* out, int64_t outer, int64_t len, int64_t inner, double scale);

// The k largest (or smallest) entries of each row of x viewed as [rows, n], sorted best first; ties go to the
// lower index. NaN counts as larger than every number (as in PyTorch), -0 equals +0. Exactly one of idx32 /
// idx64 is non-null.
void topk_f32(const float* x, int64_t rows, int64_t n, int64_t k, bool largest, float* values, int32_t* idx32,
              int64_t* idx64);

}  // namespace tf::cpu
