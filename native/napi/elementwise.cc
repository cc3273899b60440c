// Element-wise ops. add/sub/mul/div(a, b) (+Async): f32 tensors with numpy broadcasting; the same shapes are
// the plain case. activation(x, name) (+Async): gelu, gelu_tanh, silu, relu, relu6, sigmoid, tanh, softplus,
// relu2.
#include "../cpu/elementwise/elementwise.h"

#include "common.h"
#include "op_helpers.h"

namespace tf::napi {

template <cpu::BinaryOp Op, bool Async>
static Napi::Value Binary(const Napi::CallbackInfo& info) {
  static const char* const names[] = {"turboformer.add", "turboformer.sub", "turboformer.mul", "turboformer.div"};
  Napi::Env env = info.Env();
  TensorView a = get_tensor(env, info[0], "a", DType::F32);
  TensorView b = get_tensor(env, info[1], "b", DType::F32);
  int64_t shape[kMaxDims];
  int ndim = 0;
  int bad = cpu::broadcast_shapes(a.shape.data(), a.ndim, b.shape.data(), b.ndim, shape, &ndim);
  if (bad >= 0) {
    const int64_t da = a.shape[a.ndim - 1 - bad], db = b.shape[b.ndim - 1 - bad];
    throw_range(env, "a and b must have the same shape, got " + shape_string(a) + " and " + shape_string(b) +
                         ", or shapes that broadcast (axis -" + std::to_string(bad + 1) + ": " + std::to_string(da) +
                         " vs " + std::to_string(db) + ")");
  }
  NewTensor out = new_tensor(env, DType::F32, shape, ndim);
  TensorView o = out.view;
  auto work = [a, b, o] {
    cpu::binary_f32(Op, a.ptr<float>(), a.shape.data(), a.ndim, b.ptr<float>(), b.shape.data(), b.ndim, o.ptr<float>());
  };
  return finish_op<Async>(env, names[static_cast<int>(Op)], {info[0], info[1], out.object}, out.object, work);
}

template <bool Async>
static Napi::Value Activation(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TensorView x = get_tensor(env, info[0], "x", DType::F32);
  std::string name = get_string(env, info[1], "activation");
  cpu::Activation act;
  if (!cpu::activation_from_name(name, &act))
    throw_type(env, "activation must be one of " + std::string(cpu::activation_names()) + ", got '" + name + "'");
  NewTensor out = new_tensor(env, DType::F32, x.shape.data(), x.ndim);
  TensorView o = out.view;
  auto work = [x, o, act] { cpu::activation_f32(act, x.ptr<float>(), o.ptr<float>(), x.numel()); };
  return finish_op<Async>(env, "turboformer.activation", {info[0], out.object}, out.object, work);
}

void register_elementwise(Napi::Env env, Napi::Object exports) {
  using cpu::BinaryOp;
  exports.Set("add", Napi::Function::New(env, Binary<BinaryOp::Add, false>, "add"));
  exports.Set("addAsync", Napi::Function::New(env, Binary<BinaryOp::Add, true>, "addAsync"));
  exports.Set("sub", Napi::Function::New(env, Binary<BinaryOp::Sub, false>, "sub"));
  exports.Set("subAsync", Napi::Function::New(env, Binary<BinaryOp::Sub, true>, "subAsync"));
  exports.Set("mul", Napi::Function::New(env, Binary<BinaryOp::Mul, false>, "mul"));
  exports.Set("mulAsync", Napi::Function::New(env, Binary<BinaryOp::Mul, true>, "mulAsync"));
  exports.Set("div", Napi::Function::New(env, Binary<BinaryOp::Div, false>, "div"));
  exports.Set("divAsync", Napi::Function::New(env, Binary<BinaryOp::Div, true>, "divAsync"));
  exports.Set("activation", Napi::Function::New(env, Activation<false>, "activation"));
  exports.Set("activationAsync", Napi::Function::New(env, Activation<true>, "activationAsync"));
}

}  // namespace tf::napi
