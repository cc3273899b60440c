// convert(src, dtype) / convertAsync: f32 <-> f16 / bf16.
#include "../cpu/convert/convert.h"

#include "common.h"

namespace tf::napi {

static void check_pair(Napi::Env env, DType from, DType to) {
  bool ok = (from == DType::F32 && (to == DType::F16 || to == DType::BF16)) ||
            ((from == DType::F16 || from == DType::BF16) && to == DType::F32);
  if (!ok)
    throw_type(env, std::string("convert supports f32 -> f16/bf16 and f16/bf16 -> f32, got ") + dtype_name(from) + " -> " +
                        dtype_name(to));
}

static void run(const TensorView& s, const TensorView& d) {
  int64_t n = s.numel();
  if (s.dtype == DType::F32 && d.dtype == DType::F16) cpu::f32_to_f16(s.ptr<float>(), d.ptr<uint16_t>(), n);
  if (s.dtype == DType::F32 && d.dtype == DType::BF16) cpu::f32_to_bf16(s.ptr<float>(), d.ptr<uint16_t>(), n);
  if (s.dtype == DType::F16) cpu::f16_to_f32(s.ptr<uint16_t>(), d.ptr<float>(), n);
  if (s.dtype == DType::BF16) cpu::bf16_to_f32(s.ptr<uint16_t>(), d.ptr<float>(), n);
}

template <bool Async>
static Napi::Value Convert(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TensorView src = get_tensor(env, info[0], "src");
  DType to = get_dtype(env, info[1], "dtype");
  check_pair(env, src.dtype, to);
  NewTensor out = new_tensor(env, to, src.shape.data(), src.ndim);
  TensorView dst = out.view;
  if constexpr (!Async) {
    run(src, dst);
    return out.object;
  } else {
    auto ref = std::make_shared<Napi::ObjectReference>(Napi::Persistent(out.object));
    return run_async(env, "turboformer.convert", {info[0], out.object}, [src, dst] { run(src, dst); },
                     [ref](Napi::Env) { return ref->Value(); });
  }
}

void register_convert(Napi::Env env, Napi::Object exports) {
  exports.Set("convert", Napi::Function::New(env, Convert<false>, "convert"));
  exports.Set("convertAsync", Napi::Function::New(env, Convert<true>, "convertAsync"));
}

}  // namespace tf::napi
