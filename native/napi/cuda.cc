// cudaAdd(a, b, device?) / cudaAddAsync: the proof-of-path CUDA kernel (copy in, add, copy out).
#include "../cuda/cuda_api.h"

#include <memory>

#include "common.h"

namespace tf::napi {

template <bool Async>
static Napi::Value CudaAdd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TensorView a = get_tensor(env, info[0], "a", DType::F32);
  TensorView b = get_tensor(env, info[1], "b", DType::F32);
  check_same_shape(env, a, "a", b, "b");
  int device = info[2].IsUndefined() ? 0 : static_cast<int>(get_int(env, info[2], "device", 0, 1 << 20));
  if (!cuda::status().available) throw Napi::Error::New(env, "CUDA is not available: " + cuda::status().message);
  NewTensor out = new_tensor(env, DType::F32, a.shape.data(), a.ndim);
  TensorView o = out.view;
  auto work = [a, b, o, device] {
    std::string e = cuda::add_f32(a.ptr<float>(), b.ptr<float>(), o.ptr<float>(), a.numel(), device);
    if (!e.empty()) throw std::runtime_error(e);
  };
  if constexpr (!Async) {
    try {
      work();
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, e.what());
    }
    return out.object;
  } else {
    auto ref = std::make_shared<Napi::ObjectReference>(Napi::Persistent(out.object));
    return run_async(env, "turboformer.cudaAdd", {info[0], info[1], out.object}, work, [ref](Napi::Env) { return ref->Value(); });
  }
}

void register_cuda(Napi::Env env, Napi::Object exports) {
  exports.Set("cudaAdd", Napi::Function::New(env, CudaAdd<false>, "cudaAdd"));
  exports.Set("cudaAddAsync", Napi::Function::New(env, CudaAdd<true>, "cudaAddAsync"));
}

}  // namespace tf::napi
