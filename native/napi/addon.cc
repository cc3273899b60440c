// Module entry: registers every family's functions on the exports object.
#include "common.h"

namespace tf::napi {

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  register_info(env, exports);  // first: chooses the ISA level and fills the kernel table
  register_memory(env, exports);
  register_convert(env, exports);
  register_elementwise(env, exports);
  register_cuda(env, exports);
  register_gemm(env, exports);
  register_norm(env, exports);
  register_softmax(env, exports);
  register_reduce(env, exports);
  register_layout(env, exports);
  register_attention(env, exports);
  register_wkv(env, exports);
  register_ssm(env, exports);
  register_retention(env, exports);
  register_quant(env, exports);
  register_moe(env, exports);
  register_favor(env, exports);
  register_linformer(env, exports);
  register_lsh(env, exports);
  return exports;
}

NODE_API_MODULE(turboformer, Init)

}  // namespace tf::napi
