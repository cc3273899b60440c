// layerNorm(x, weight, bias, eps) and rmsNorm(x, weight, eps) (+Async) over the last axis of an f32 tensor.
// weight and bias: null/undefined or f32 of shape [n], n = the last dim of x. eps: a positive number.
#include "../cpu/norm/norm.h"

#include "common.h"
#include "op_helpers.h"

namespace tf::napi {

static TensorView last_axis(Napi::Env env, const Napi::CallbackInfo& info) {
  TensorView x = get_tensor(env, info[0], "x", DType::F32);
  if (x.ndim == 0) throw_range(env, "x must have at least 1 dimension (the normalized axis), got a scalar");
  return x;
}

// An optional parameter vector of shape [n].
static const float* param(Napi::Env env, Napi::Value v, const char* name, int64_t n) {
  if (is_absent(v)) return nullptr;
  TensorView p = get_tensor(env, v, name, DType::F32);
  if (p.ndim != 1 || p.shape[0] != n)
    throw_range(env, std::string(name) + " must have shape [" + std::to_string(n) + "] (the last dim of x), got " +
                         shape_string(p));
  return p.ptr<float>();
}

template <bool Async>
static Napi::Value LayerNorm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TensorView x = last_axis(env, info);
  const int64_t n = x.shape[x.ndim - 1];
  const float* w = param(env, info[1], "weight", n);
  const float* b = param(env, info[2], "bias", n);
  const float eps = static_cast<float>(get_positive(env, info[3], "eps"));
  NewTensor out = new_tensor(env, DType::F32, x.shape.data(), x.ndim);
  float* y = out.view.ptr<float>();
  const int64_t rows = n == 0 ? 0 : x.numel() / n;
  auto work = [x, w, b, y, rows, n, eps] { cpu::layer_norm_f32(x.ptr<float>(), w, b, y, rows, n, eps); };
  return finish_op<Async>(env, "turboformer.layerNorm", {info[0], info[1], info[2], out.object}, out.object, work);
}

template <bool Async>
static Napi::Value RmsNorm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TensorView x = last_axis(env, info);
  const int64_t n = x.shape[x.ndim - 1];
  const float* w = param(env, info[1], "weight", n);
  const float eps = static_cast<float>(get_positive(env, info[2], "eps"));
  NewTensor out = new_tensor(env, DType::F32, x.shape.data(), x.ndim);
  float* y = out.view.ptr<float>();
  const int64_t rows = n == 0 ? 0 : x.numel() / n;
  auto work = [x, w, y, rows, n, eps] { cpu::rms_norm_f32(x.ptr<float>(), w, y, rows, n, eps); };
  return finish_op<Async>(env, "turboformer.rmsNorm", {info[0], info[1], out.object}, out.object, work);
}

void register_norm(Napi::Env env, Napi::Object exports) {
  exports.Set("layerNorm", Napi::Function::New(env, LayerNorm<false>, "layerNorm"));
  exports.Set("layerNormAsync", Napi::Function::New(env, LayerNorm<true>, "layerNormAsync"));
  exports.Set("rmsNorm", Napi::Function::New(env, RmsNorm<false>, "rmsNorm"));
  exports.Set("rmsNormAsync", Napi::Function::New(env, RmsNorm<true>, "rmsNormAsync"));
}

}  // namespace tf::napi
