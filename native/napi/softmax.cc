// softmax(x, mask) and logSoftmax(x, mask) (+Async) over the last axis of an f32 tensor. mask: null/undefined
// or an f32 additive mask that broadcasts to x (numpy rules), e.g. [B, 1, 1, N] against [B, H, M, N].
#include "../cpu/softmax/softmax.h"

#include "common.h"
#include "op_helpers.h"

namespace tf::napi {

template <bool Log, bool Async>
static Napi::Value Softmax(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TensorView x = get_tensor(env, info[0], "x", DType::F32);
  if (x.ndim == 0) throw_range(env, "x must have at least 1 dimension (softmax runs over the last axis), got a scalar");
  const bool has_mask = !is_absent(info[1]);
  TensorView m;
  if (has_mask) {
    m = get_tensor(env, info[1], "mask", DType::F32);
    bool ok = m.ndim <= x.ndim;
    int bad = 0;
    for (int i = 0; ok && i < m.ndim; ++i) {
      int64_t dm = m.shape[m.ndim - 1 - i], dx = x.shape[x.ndim - 1 - i];
      if (dm != 1 && dm != dx) {
        ok = false;
        bad = i;
      }
    }
    if (!ok)
      throw_range(env, "mask of shape " + shape_string(m) + " does not broadcast to x of shape " + shape_string(x) +
                           (m.ndim > x.ndim ? std::string(" (more dimensions than x)")
                                            : " (axis -" + std::to_string(bad + 1) + ": " +
                                                  std::to_string(m.shape[m.ndim - 1 - bad]) + " vs " +
                                                  std::to_string(x.shape[x.ndim - 1 - bad]) + ")"));
  }
  NewTensor out = new_tensor(env, DType::F32, x.shape.data(), x.ndim);
  TensorView y = out.view;
  auto work = [x, m, y, has_mask] {
    cpu::softmax_f32(x.ptr<float>(), x.shape.data(), x.ndim, has_mask ? m.ptr<float>() : nullptr, m.shape.data(), m.ndim,
                     y.ptr<float>(), Log);
  };
  return finish_op<Async>(env, Log ? "turboformer.logSoftmax" : "turboformer.softmax", {info[0], info[1], out.object},
                          out.object, work);
}

void register_softmax(Napi::Env env, Napi::Object exports) {
  exports.Set("softmax", Napi::Function::New(env, Softmax<false, false>, "softmax"));
  exports.Set("softmaxAsync", Napi::Function::New(env, Softmax<false, true>, "softmaxAsync"));
  exports.Set("logSoftmax", Napi::Function::New(env, Softmax<true, false>, "logSoftmax"));
  exports.Set("logSoftmaxAsync", Napi::Function::New(env, Softmax<true, true>, "logSoftmaxAsync"));
}

}  // namespace tf::napi
