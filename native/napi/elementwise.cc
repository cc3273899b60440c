// add(a, b) / addAsync: element-wise sum of two f32 tensors of the same shape.
#include "../cpu/elementwise/elementwise.h"

#include <memory>

#include "common.h"

namespace tf::napi {

template <bool Async>
static Napi::Value Add(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TensorView a = get_tensor(env, info[0], "a", DType::F32);
  TensorView b = get_tensor(env, info[1], "b", DType::F32);
  check_same_shape(env, a, "a", b, "b");
  NewTensor out = new_tensor(env, DType::F32, a.shape.data(), a.ndim);
  TensorView o = out.view;
  auto work = [a, b, o] { cpu::add_f32(a.ptr<float>(), b.ptr<float>(), o.ptr<float>(), a.numel()); };
  if constexpr (!Async) {
    work();
    return out.object;
  } else {
    auto ref = std::make_shared<Napi::ObjectReference>(Napi::Persistent(out.object));
    return run_async(env, "turboformer.add", {info[0], info[1], out.object}, work, [ref](Napi::Env) { return ref->Value(); });
  }
}

void register_elementwise(Napi::Env env, Napi::Object exports) {
  exports.Set("add", Napi::Function::New(env, Add<false>, "add"));
  exports.Set("addAsync", Napi::Function::New(env, Add<true>, "addAsync"));
}

}  // namespace tf::napi
