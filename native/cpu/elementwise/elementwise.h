// Element-wise kernels: binary arithmetic with numpy broadcasting, and activations. The entry points split
// the work over the thread pool and call the dispatched per-ISA kernel (elementwise_impl.h) on each chunk.
// Every element is computed by the same vector code whatever the chunking, so results do not depend on the
// thread count.
#pragma once
#include <cstdint>
#include <string_view>

namespace tf::cpu {

enum class BinaryOp : int { Add = 0, Sub, Mul, Div };
constexpr int kNumBinaryOps = 4;

enum class Activation : int { Gelu = 0, GeluTanh, Silu, Relu, Relu6, Sigmoid, Tanh, Softplus, Relu2 };
constexpr int kNumActivations = 9;

// 'gelu', 'gelu_tanh' (also 'gelu_new', 'gelu_pytorch_tanh', 'gelu_fast'), 'silu' (also 'swish'), 'relu',
// 'relu6', 'sigmoid', 'tanh', 'softplus', 'relu2' (relu(x)^2, RWKV's and Primer's squared ReLU). Returns false for
// any other name.
bool activation_from_name(std::string_view name, Activation* out);
// The names activation_from_name accepts, for error messages.
const char* activation_names();

// out[i] = a[i] + b[i]; out may alias a or b.
void add_f32(const float* a, const float* b, float* out, int64_t n);

// Broadcasts two shapes (numpy rules: right-aligned, each pair of dims equal or one of them 1). Returns -1
// and fills out/out_ndim on success, otherwise the position of the first incompatible dim counted from the
// right (0 = last axis).
int broadcast_shapes(const int64_t* a, int a_ndim, const int64_t* b, int b_ndim, int64_t* out, int* out_ndim);

// out = a op b with broadcasting; a, b and out are contiguous; out has the broadcast shape.
void binary_f32(BinaryOp op, const float* a, const int64_t* a_shape, int a_ndim, const float* b, const int64_t* b_shape,
                int b_ndim, float* out);

// y = act(x) for n elements; y may alias x.
void activation_f32(Activation act, const float* x, float* y, int64_t n);

}  // namespace tf::cpu
