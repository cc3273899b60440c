// quantize(w, format, group?) / dequantize(qw) / qlinear(x, qw, bias?) (+Async): quantized weights (formats and
// byte layouts in native/cpu/quant/quant.h). A quantized weight crosses the boundary as a plain object
// {format, shape: [out, in], group, data: Uint8Array}, checked in full (format name, shape, group, byte length)
// before any kernel reads it.
#include "../cpu/quant/quant.h"

#include <cmath>
#include <memory>

#include "common.h"
#include "op_helpers.h"

namespace tf::napi {
namespace {

using cpu::QuantFormat;

const char* kFormats = "'q8_0', 'q4_0', 'int8' or 'int4'";

QuantFormat get_format(Napi::Env env, Napi::Value v, const std::string& name) {
  if (!v.IsString()) throw_type(env, name + " must be a string (" + kFormats + ")");
  std::string s = v.As<Napi::String>().Utf8Value();
  QuantFormat f;
  if (!cpu::quant_format_from_name(s.c_str(), &f)) throw_range(env, name + " must be " + kFormats + ", got '" + s + "'");
  return f;
}

// The group: int4 takes 32, 64 or 128 (default 32); the other formats ignore it (their group is fixed).
int64_t get_group(Napi::Env env, Napi::Value v, const std::string& name, QuantFormat f) {
  if (f != QuantFormat::Int4) {
    if (!is_absent(v) && !v.IsNumber()) throw_type(env, name + " must be a number");
    return f == QuantFormat::Int8 ? 0 : 32;
  }
  if (is_absent(v)) return 32;
  if (!v.IsNumber()) throw_type(env, name + " must be 32, 64 or 128");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d != 32 && d != 64 && d != 128) throw_range(env, name + " must be 32, 64 or 128 for int4, got " + std::to_string(d));
  return static_cast<int64_t>(d);
}

std::string block_error(const std::string& name, QuantFormat f, int64_t k, int64_t group) {
  if (f == QuantFormat::Int4)
    return name + ": in = " + std::to_string(k) + " is not a multiple of the int4 group " + std::to_string(group);
  return name + ": in = " + std::to_string(k) + " is not a multiple of the " + cpu::quant_format_name(f) +
         " block of 32";
}

// A quantized weight object, checked in full.
cpu::QuantWeight get_qweight(Napi::Env env, Napi::Value v, const std::string& name) {
  if (!v.IsObject() || v.IsArray() || v.IsTypedArray())
    throw_type(env, name + " must be a quantized tensor {format, shape, group, data} (from quantize())");
  Napi::Object o = v.As<Napi::Object>();
  cpu::QuantWeight w;
  w.format = get_format(env, o.Get("format"), name + ".format");
  int64_t dims[kMaxDims];
  Napi::Value sv = o.Get("shape");
  int nd = get_shape(env, sv, name + ".shape", dims);
  if (nd != 2) throw_range(env, name + ".shape must be [out, in], got " + shape_string(dims, nd));
  w.n = dims[0];
  w.k = dims[1];
  if (static_cast<double>(w.n) * static_cast<double>(w.k) > 9007199254740991.0 / 8)
    throw_range(env, name + ".shape " + shape_string(dims, 2) + " is too large");
  w.group = get_group(env, o.Get("group"), name + ".group", w.format);
  const int64_t need = cpu::quant_nbytes(w.format, w.n, w.k, w.group);
  if (need < 0) throw_range(env, block_error(name + ".shape", w.format, w.k, w.group));
  Napi::Value dv = o.Get("data");
  if (!dv.IsTypedArray() || dv.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw_type(env, name + ".data must be a Uint8Array");
  Napi::Uint8Array data = dv.As<Napi::Uint8Array>();
  if (static_cast<int64_t>(data.ByteLength()) != need)
    throw_range(env, name + ".data has " + std::to_string(data.ByteLength()) + " bytes but a " +
                         cpu::quant_format_name(w.format) + " weight of shape " + shape_string(dims, 2) +
                         (w.format == QuantFormat::Int4 ? " (group " + std::to_string(w.group) + ")" : std::string()) +
                         " has " + std::to_string(need));
  w.data = data.Data();
  return w;
}

Napi::Object qweight_object(Napi::Env env, QuantFormat f, int64_t n, int64_t k, int64_t group, Napi::Value data) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("format", cpu::quant_format_name(f));
  Napi::Array shape = Napi::Array::New(env, 2);
  shape.Set(0u, Napi::Number::New(env, static_cast<double>(n)));
  shape.Set(1u, Napi::Number::New(env, static_cast<double>(k)));
  o.Set("shape", shape);
  o.Set("group", Napi::Number::New(env, static_cast<double>(group)));
  o.Set("data", data);
  return o;
}

template <bool Async>
Napi::Value Quantize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TensorView w = get_tensor(env, info[0], "w", DType::F32);
  if (w.ndim != 2) throw_range(env, "w must have 2 dimensions ([out, in]), got shape " + shape_string(w));
  const QuantFormat f = get_format(env, info[1], "format");
  const int64_t group = get_group(env, info[2], "group", f);
  const int64_t n = w.shape[0], k = w.shape[1];
  const int64_t nbytes = cpu::quant_nbytes(f, n, k, group);
  if (nbytes < 0) throw_range(env, block_error("w", f, k, group) + " (shape " + shape_string(w) + ")");
  const int64_t bshape[1] = {nbytes};
  NewTensor bytes = new_tensor(env, DType::U8, bshape, 1);
  Napi::Object result = qweight_object(env, f, n, k, group, bytes.object.Get("data"));
  const float* src = w.ptr<float>();
  uint8_t* dst = bytes.view.ptr<uint8_t>();
  return finish_op<Async>(env, "turboformer.quantize", {info[0], bytes.object}, result,
                          [=] { cpu::quantize(f, src, n, k, group, dst); });
}

template <bool Async>
Napi::Value Dequantize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const cpu::QuantWeight w = get_qweight(env, info[0], "qw");
  const int64_t shape[2] = {w.n, w.k};
  NewTensor out = new_tensor(env, DType::F32, shape, 2);
  float* y = out.view.ptr<float>();
  return finish_op<Async>(env, "turboformer.dequantize", {info[0], out.object}, out.object,
                          [=] { cpu::dequantize(w, y); });
}

template <bool Async>
Napi::Value QLinear(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TensorView x = get_tensor(env, info[0], "x", DType::F32);
  const cpu::QuantWeight w = get_qweight(env, info[1], "qweight");
  if (x.ndim < 1) throw_range(env, "x must have at least 1 dimension ([..., in]), got shape " + shape_string(x));
  if (x.shape[x.ndim - 1] != w.k)
    throw_range(env, "x has " + std::to_string(x.shape[x.ndim - 1]) + " features (last dimension of x.shape " +
                         shape_string(x) + ") but qweight [out, in] = [" + std::to_string(w.n) + ", " +
                         std::to_string(w.k) + "] expects " + std::to_string(w.k));
  const float* bias = nullptr;
  const bool has_bias = !is_absent(info[2]);
  if (has_bias) {
    TensorView b = get_tensor(env, info[2], "bias", DType::F32);
    if (b.ndim != 1 || b.shape[0] != w.n)
      throw_range(env, "bias must have shape [out] = [" + std::to_string(w.n) + "], got " + shape_string(b));
    bias = b.ptr<float>();
  }
  int64_t out_shape[kMaxDims];
  int64_t m = 1;
  for (int d = 0; d < x.ndim - 1; ++d) {
    out_shape[d] = x.shape[d];
    m *= x.shape[d];
  }
  out_shape[x.ndim - 1] = w.n;
  if (static_cast<double>(m) * static_cast<double>(w.n) * 4.0 > 9007199254740991.0)
    throw_range(env, "x and qweight: the result of shape " + shape_string(out_shape, x.ndim) + " is too large");
  NewTensor out = new_tensor(env, DType::F32, out_shape, x.ndim);
  const float* xp = x.ptr<float>();
  float* y = out.view.ptr<float>();
  return finish_op<Async>(env, "turboformer.qlinear", {info[0], info[1], info[2], out.object}, out.object,
                          [=] { cpu::qlinear(w, xp, m, bias, y); });
}

}  // namespace

void register_quant(Napi::Env env, Napi::Object exports) {
  exports.Set("quantize", Napi::Function::New(env, Quantize<false>, "quantize"));
  exports.Set("quantizeAsync", Napi::Function::New(env, Quantize<true>, "quantizeAsync"));
  exports.Set("dequantize", Napi::Function::New(env, Dequantize<false>, "dequantize"));
  exports.Set("dequantizeAsync", Napi::Function::New(env, Dequantize<true>, "dequantizeAsync"));
  exports.Set("qlinear", Napi::Function::New(env, QLinear<false>, "qlinear"));
  exports.Set("qlinearAsync", Napi::Function::New(env, QLinear<true>, "qlinearAsync"));
}

}  // namespace tf::napi
