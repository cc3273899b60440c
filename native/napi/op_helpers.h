// Pieces the op bindings share (header-only, not N-API plumbing of general use, which is common.h): the
// sync/async tail, optional arguments, axes and scalar options.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <string>
#include <memory>
#include <utility>
#include <vector>

#include "common.h"

namespace tf::napi {

// `keep`: every JS tensor the work reads or writes (held and pinned until the work is done); `result`: the
// value returned (or resolved), e.g. one output tensor, an array of them, or an object holding them.
template <bool Async>
Napi::Value finish_op(Napi::Env env, const char* name, std::vector<Napi::Value> keep, Napi::Value result,
                      std::function<void()> work) {
  if constexpr (!Async) {
    work();
    return result;
  } else {
    std::vector<Napi::Value> objects;  // absent optional arguments (undefined, null) need no keeping
    for (Napi::Value v : keep)
      if (v.IsObject()) objects.push_back(v);
    auto ref = std::make_shared<Napi::Reference<Napi::Value>>(Napi::Persistent(result));
    return run_async(env, name, std::move(objects), std::move(work), [ref](Napi::Env) { return ref->Value(); });
  }
}

// An optional argument: undefined or null (one napi_typeof, where IsUndefined() || IsNull() makes two).
inline bool is_absent(Napi::Value v) {
  const napi_valuetype t = v.Type();
  return t == napi_undefined || t == napi_null;
}

// Whether two tensors' memory ranges intersect (empty tensors never do).
inline bool overlaps(const TensorView& x, const TensorView& y) {
  if (!x.data || !y.data || x.nbytes() == 0 || y.nbytes() == 0) return false;
  const char* x0 = static_cast<const char*>(x.data);
  const char* y0 = static_cast<const char*>(y.data);
  return x0 < y0 + y.nbytes() && y0 < x0 + x.nbytes();
}

// The checks of out_or_new on an f32 tensor already read (e.g. from the packed form): the shape, no shared memory.
inline void check_out(Napi::Env env, const TensorView& t, const int64_t* shape, int nd, std::initializer_list<TensorView> inputs) {
  bool ok = t.ndim == nd;
  for (int i = 0; ok && i < nd; ++i) ok = t.shape[i] == shape[i];
  if (!ok) throw_range(env, "opts.out must have shape " + shape_string(shape, nd) + " (the result's), got " + shape_string(t));
  for (const TensorView& in : inputs)
    if (overlaps(t, in)) throw_range(env, "opts.out must not share memory with an input");
}

// The output of an op. opts.out, when given, is an existing f32 tensor of the result's shape that receives the
// result (callers that reuse their buffers skip the page faults of a fresh output) and must not share memory with
// an input; otherwise a fresh f32 tensor of `shape`. Returns the JS object to hand back; *out views its memory.
inline Napi::Value out_or_new(Napi::Env env, Napi::Value v, const int64_t* shape, int nd,
                              std::initializer_list<TensorView> inputs, TensorView* out) {
  if (!is_absent(v)) {
    *out = get_tensor(env, v, "opts.out", DType::F32);
    check_out(env, *out, shape, nd, inputs);
    return v;
  }
  NewTensor t = new_tensor(env, DType::F32, shape, nd);
  *out = t.view;
  return t.object;
}

// A per-head tensor [B, H, N, D] with a head dim D in [1, max_d].
inline void check_bhnd(Napi::Env env, const TensorView& t, const char* name, int64_t max_d = INT64_MAX) {
  if (t.ndim != 4) throw_range(env, std::string(name) + " must have 4 dimensions [B, H, N, D], got shape " + shape_string(t));
  if (t.shape[3] < 1 || t.shape[3] > max_d)
    throw_range(env, std::string(name) + "'s head dim D must be " +
                         (max_d == INT64_MAX ? std::string("at least 1") : "in [1, " + std::to_string(max_d) + "]") +
                         ", got shape " + shape_string(t));
}

// A [B, N] integer mask (u8/i8/i32/i64) as 0/1 bytes; `what` says what nonzero means, `dims` names the
// shape in messages.
inline std::vector<uint8_t> read_mask(Napi::Env env, Napi::Value v, const std::string& name, int64_t B, int64_t N,
                                      const char* what, const char* dims = "[B, N]") {
  TensorView m = get_tensor(env, v, name);
  if (m.dtype != DType::U8 && m.dtype != DType::I8 && m.dtype != DType::I32 && m.dtype != DType::I64)
    throw_type(env, name + " must have dtype u8, i8, i32 or i64 (" + what + "), got " + dtype_name(m.dtype));
  if (m.ndim != 2 || m.shape[0] != B || m.shape[1] != N)
    throw_range(env, name + " must have shape " + dims + " = [" + std::to_string(B) + ", " + std::to_string(N) + "], got " +
                         shape_string(m));
  std::vector<uint8_t> r(static_cast<size_t>(B * N));
  for (int64_t i = 0; i < B * N; ++i) {
    bool on = false;
    switch (m.dtype) {
      case DType::U8: on = m.ptr<uint8_t>()[i] != 0; break;
      case DType::I8: on = m.ptr<int8_t>()[i] != 0; break;
      case DType::I32: on = m.ptr<int32_t>()[i] != 0; break;
      default: on = m.ptr<int64_t>()[i] != 0; break;
    }
    r[static_cast<size_t>(i)] = on ? 1 : 0;
  }
  return r;
}

// An axis of a tensor with `ndim` dims, negative counting from the end; returns it in [0, ndim).
inline int get_axis(Napi::Env env, Napi::Value v, const std::string& name, int ndim, const std::string& tensor) {
  if (!v.IsNumber()) throw_type(env, name + " must be an integer");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d)) throw_type(env, name + " must be an integer, got " + std::to_string(d));
  if (d < -ndim || d >= ndim)
    throw_range(env, name + " must be in [" + std::to_string(-ndim) + ", " + std::to_string(ndim - 1) + "] for " + tensor +
                         " with " + std::to_string(ndim) + " dimension" + (ndim == 1 ? "" : "s") + ", got " +
                         std::to_string(static_cast<int64_t>(d)));
  int a = static_cast<int>(d);
  return a < 0 ? a + ndim : a;
}

// A boolean option; undefined gives `fallback`.
inline bool get_bool(Napi::Env env, Napi::Value v, const std::string& name, bool fallback) {
  if (v.IsUndefined()) return fallback;
  if (!v.IsBoolean()) throw_type(env, name + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

// A finite number > 0 (e.g. eps).
inline double get_positive(Napi::Env env, Napi::Value v, const std::string& name) {
  if (!v.IsNumber()) throw_type(env, name + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d <= 0) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", d);
    throw_range(env, name + " must be a positive finite number, got " + buf);
  }
  return d;
}

}  // namespace tf::napi
