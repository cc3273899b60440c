// Normalization over the last axis, x viewed as [rows, n]. Statistics are accumulated in double, and the
// mean is subtracted as a float pair (hi + lo), so rows with a large mean keep full fp32 accuracy. Rows are
// independent and each is computed by one thread: results do not depend on the thread count.
#pragma once
#include <cstdint>

namespace tf::cpu {

// y = (x - mean) / sqrt(var + eps) * weight + bias, biased variance (PyTorch's layer_norm). weight and bias
// may be null (1 and 0); they have n elements.
void layer_norm_f32(const float* x, const float* weight, const float* bias, float* y, int64_t rows, int64_t n, float eps);

// y = x / sqrt(mean(x^2) + eps) * weight (LLaMA / Mistral RMSNorm). weight may be null.
void rms_norm_f32(const float* x, const float* weight, float* y, int64_t rows, int64_t n, float eps);

}  // namespace tf::cpu
