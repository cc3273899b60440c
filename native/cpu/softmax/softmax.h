// Softmax and log-softmax over the last axis, numerically stable (the row maximum is subtracted), with an
// optional additive mask that broadcasts to x (numpy rules), e.g. [B, 1, 1, N] against [B, H, M, N].
// A row whose entries (plus mask) are all -inf gives zeros (log-softmax: -inf), never NaN; a NaN in a row
// makes that row NaN. Rows are independent and computed by one thread each: results do not depend on the
// thread count.
#pragma once
#include <cstdint>

namespace tf::cpu {

// Mask modes of one row, as the per-ISA row kernel takes them.
enum class MaskMode : int { None = 0, Row = 1, Scalar = 2 };

// x and y have shape x_shape (x_ndim >= 1); mask (may be null) has shape mask_shape, mask_ndim <= x_ndim, each
// dim equal to x's or 1 (checked by the caller).
void softmax_f32(const float* x, const int64_t* x_shape, int x_ndim, const float* mask, const int64_t* mask_shape,
                 int mask_ndim, float* y, bool log);

}  // namespace tf::cpu
