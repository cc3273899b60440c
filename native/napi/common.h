// Shared N-API plumbing: argument checks that name the argument, native-owned output tensors, and the
// async worker every op's *Async form uses. This folder is the only place that knows N-API.
#pragma once
#include <napi.h>

#include <functional>
#include <string>
#include <vector>

#include "../core/tensor.h"

namespace tf::napi {

[[noreturn]] void throw_type(Napi::Env env, const std::string& msg);
[[noreturn]] void throw_range(Napi::Env env, const std::string& msg);

// Reads a tensor argument ({data, shape, dtype}, as lib/tensor.ts's Tensor has) and checks it fully:
// dtype name, shape (array of at most 8 non-negative safe integers whose byte size does not overflow),
// data (the TypedArray kind of the dtype, length equal to the shape's element count). `name` is used in
// every message. Contiguous strides are filled in.
TensorView get_tensor(Napi::Env env, Napi::Value v, const std::string& name);
// Same, and also requires the given dtype.
TensorView get_tensor(Napi::Env env, Napi::Value v, const std::string& name, DType want);

// The packed form of a hot op's tensor arguments (lib/packed.ts): each tensor passed as its data TypedArray (or
// undefined/null when absent), its dtype and shape as record i of one Float64Array, kRecord doubles each:
// [dtype code (DType's value), ndim, dims...]. JS reads {data, shape, dtype} with inline caches, where the object form
// costs ~10 N-API calls per tensor (a property read alone ~90 ns). get() checks a record's dtype code and shape, then
// the data exactly as get_tensor does, with the same messages; absent data throws get_tensor's "must be a tensor".
class PackedTensors {
 public:
  static constexpr size_t kRecord = 10;
  // Throws unless `records` is a Float64Array of at least count * kRecord elements.
  PackedTensors(Napi::Env env, Napi::Value records, size_t count);
  TensorView get(size_t i, Napi::Value data, const std::string& name) const;
  TensorView get(size_t i, Napi::Value data, const std::string& name, DType want) const;

 private:
  Napi::Env env_;
  size_t count_;
  const double* rec_ = nullptr;
};

std::string get_string(Napi::Env env, Napi::Value v, const std::string& name);
// A JS number that is an integer in [lo, hi].
int64_t get_int(Napi::Env env, Napi::Value v, const std::string& name, int64_t lo, int64_t hi);
DType get_dtype(Napi::Env env, Napi::Value v, const std::string& name);
// "[2, 3]" for error messages.
std::string shape_string(const int64_t* dims, int n);
std::string shape_string(const TensorView& t);
// Throws a RangeError "<a> and <b> must have the same shape, got [..] and [..]" unless they do.
void check_same_shape(Napi::Env env, const TensorView& a, const char* an, const TensorView& b, const char* bn);
// Shape array -> dims; throws naming `name`.
int get_shape(Napi::Env env, Napi::Value v, const std::string& name, int64_t* dims);

// A new tensor {data, shape, dtype} for an op's output, in memory the JS engine allocates and its garbage
// collector frees (creating one costs about as much as `new Float32Array(n)`; the collector reclaims it
// on its own, with no finalizer). Not zero-filled unless `zeroed`: op outputs are written in full by their
// kernels (the tests compare every element with an oracle, so a missed element shows as garbage).
// (Outputs used to be external buffers: ~10 us each to create, and Node runs their finalizers only when
// the event loop turns, so a synchronous loop of ops held every output until it returned.)
struct NewTensor {
  Napi::Object object;
  TensorView view;
};
NewTensor new_tensor(Napi::Env env, DType dtype, const int64_t* shape, int ndim, bool zeroed = false);
// A zero-filled tensor in native memory: 64-byte aligned, an external ArrayBuffer that dispose() (or its
// finalizer) frees at once and that memoryStats() counts (alloc(); a plain ArrayBuffer where the runtime
// forbids external buffers).
NewTensor new_native_tensor(Napi::Env env, DType dtype, const int64_t* shape, int ndim);
// Wraps native memory as an ArrayBuffer; `release` runs when it is collected or detached. Where the
// runtime forbids external buffers, copies into a plain ArrayBuffer and releases at once.
Napi::ArrayBuffer external_buffer(Napi::Env env, void* data, size_t bytes, std::function<void()> release);

// Buffers in use by async work, which detach() refuses to free.
void pin(const void* p);
void unpin(const void* p);
bool is_pinned(const void* p);

// Runs `work` on a libuv thread (which in turn uses the addon's pool) and settles a Promise with
// `result()` on the JS thread. `keep` are the JS values (inputs and outputs) kept alive and pinned until
// then. A C++ exception from `work` rejects the promise with its message.
Napi::Promise run_async(Napi::Env env, const char* name, std::vector<Napi::Value> keep, std::function<void()> work,
                        std::function<Napi::Value(Napi::Env)> result);

// Module registration, one function per file.
void register_info(Napi::Env env, Napi::Object exports);
void register_memory(Napi::Env env, Napi::Object exports);
void register_convert(Napi::Env env, Napi::Object exports);
void register_elementwise(Napi::Env env, Napi::Object exports);
void register_cuda(Napi::Env env, Napi::Object exports);
void register_gemm(Napi::Env env, Napi::Object exports);
void register_norm(Napi::Env env, Napi::Object exports);
void register_softmax(Napi::Env env, Napi::Object exports);
void register_reduce(Napi::Env env, Napi::Object exports);
void register_layout(Napi::Env env, Napi::Object exports);
void register_attention(Napi::Env env, Napi::Object exports);
void register_wkv(Napi::Env env, Napi::Object exports);
void register_ssm(Napi::Env env, Napi::Object exports);
void register_retention(Napi::Env env, Napi::Object exports);
void register_quant(Napi::Env env, Napi::Object exports);
void register_moe(Napi::Env env, Napi::Object exports);
void register_favor(Napi::Env env, Napi::Object exports);
void register_linformer(Napi::Env env, Napi::Object exports);
void register_lsh(Napi::Env env, Napi::Object exports);

}  // namespace tf::napi
