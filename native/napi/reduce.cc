// sum(x, axis, keepdim) and mean(x, axis, keepdim) (+Async) of an f32 tensor: axis null/undefined reduces
// every element (a scalar, shape [] or all ones with keepdim). topk(x, k, largest, indexDtype) (+Async) over
// the last axis: {values (f32), indices ('i32' default, or 'i64')}, best first, ties to the lower index.
#include "../cpu/reduce/reduce.h"

#include "common.h"
#include "op_helpers.h"

namespace tf::napi {

template <bool Mean, bool Async>
static Napi::Value Reduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TensorView x = get_tensor(env, info[0], "x", DType::F32);
  const bool all = is_absent(info[1]);
  const bool keepdim = get_bool(env, info[2], "keepdim", false);
  int64_t outer = 1, len = 1, inner = 1;
  int64_t shape[kMaxDims];
  int ndim = 0;
  if (all) {
    len = x.numel();
    if (keepdim) {
      ndim = x.ndim;
      for (int i = 0; i < ndim; ++i) shape[i] = 1;
    }
  } else {
    // A scalar reduces like a one-element vector (axis 0 or -1), as in PyTorch.
    const int nd = x.ndim == 0 ? 1 : x.ndim;
    const int axis = get_axis(env, info[1], "axis", nd, "x");
    for (int i = 0; i < x.ndim; ++i) {
      if (i < axis) outer *= x.shape[i];
      if (i == axis) len = x.shape[i];
      if (i > axis) inner *= x.shape[i];
      if (i != axis) shape[ndim++] = x.shape[i];
      else if (keepdim) shape[ndim++] = 1;
    }
  }
  NewTensor out = new_tensor(env, DType::F32, shape, ndim);
  float* y = out.view.ptr<float>();
  const double scale = Mean ? 1.0 / static_cast<double>(len) : 1.0;  // mean of nothing: 0 * inf = NaN
  auto work = [x, y, outer, len, inner, scale] { cpu::sum_f32(x.ptr<float>(), y, outer, len, inner, scale); };
  return finish_op<Async>(env, Mean ? "turboformer.mean" : "turboformer.sum", {info[0], out.object}, out.object, work);
}

template <bool Async>
static Napi::Value TopK(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TensorView x = get_tensor(env, info[0], "x", DType::F32);
  if (x.ndim == 0) throw_range(env, "x must have at least 1 dimension (top-k runs over the last axis), got a scalar");
  const int64_t n = x.shape[x.ndim - 1];
  const int64_t k = get_int(env, info[1], "k", 0, n);
  const bool largest = get_bool(env, info[2], "largest", true);
  DType idt = DType::I32;
  if (!info[3].IsUndefined()) {
    idt = get_dtype(env, info[3], "indexDtype");
    if (idt != DType::I32 && idt != DType::I64)
      throw_type(env, std::string("indexDtype must be 'i32' or 'i64', got '") + dtype_name(idt) + "'");
  }
  if (idt == DType::I32 && n > 2147483647)
    throw_range(env, "the last axis of x has " + std::to_string(n) + " entries, too many for i32 indices: pass 'i64'");
  int64_t shape[kMaxDims];
  for (int i = 0; i < x.ndim; ++i) shape[i] = x.shape[i];
  shape[x.ndim - 1] = k;
  NewTensor values = new_tensor(env, DType::F32, shape, x.ndim);
  NewTensor indices = new_tensor(env, idt, shape, x.ndim);
  Napi::Object result = Napi::Object::New(env);
  result.Set("values", values.object);
  result.Set("indices", indices.object);
  const int64_t rows = n == 0 ? 0 : x.numel() / n;
  float* v = values.view.ptr<float>();
  int32_t* i32 = idt == DType::I32 ? indices.view.ptr<int32_t>() : nullptr;
  int64_t* i64 = idt == DType::I64 ? indices.view.ptr<int64_t>() : nullptr;
  auto work = [x, rows, n, k, largest, v, i32, i64] { cpu::topk_f32(x.ptr<float>(), rows, n, k, largest, v, i32, i64); };
  return finish_op<Async>(env, "turboformer.topk", {info[0], values.object, indices.object}, result, work);
}

void register_reduce(Napi::Env env, Napi::Object exports) {
  exports.Set("sum", Napi::Function::New(env, Reduce<false, false>, "sum"));
  exports.Set("sumAsync", Napi::Function::New(env, Reduce<false, true>, "sumAsync"));
  exports.Set("mean", Napi::Function::New(env, Reduce<true, false>, "mean"));
  exports.Set("meanAsync", Napi::Function::New(env, Reduce<true, true>, "meanAsync"));
  exports.Set("topk", Napi::Function::New(env, TopK<false>, "topk"));
  exports.Set("topkAsync", Napi::Function::New(env, TopK<true>, "topkAsync"));
}

}  // namespace tf::napi
