// Element-wise kernel templates, written once over the ISA structs of native/core/simd.h. Included by
// elementwise.cc (scalar) and, inside a TF_SIMD_BEGIN_* region, by the per-ISA files; no standard headers here.
#pragma once
#include "../../core/dispatch.h"
#include "../../core/simd.h"
#include "../../core/simd_math.h"
#include "elementwise.h"

namespace tf {
namespace {

struct OpAdd {
  template <class V>
  static typename V::reg apply(typename V::reg a, typename V::reg b) { return V::add(a, b); }
};
struct OpSub {
  template <class V>
  static typename V::reg apply(typename V::reg a, typename V::reg b) { return V::sub(a, b); }
};
struct OpMul {
  template <class V>
  static typename V::reg apply(typename V::reg a, typename V::reg b) { return V::mul(a, b); }
};
struct OpDiv {
  template <class V>
  static typename V::reg apply(typename V::reg a, typename V::reg b) { return V::div(a, b); }
};

// Form 0: out[i] = a[i] op b[i]. Form 1: a[i] op b[0]. Form 2: a[0] op b[i].
template <class V, class Op, int Form>
void binary_kernel(const float* a, const float* b, float* out, size_t n) {
  using R = typename V::reg;
  constexpr size_t W = V::W;
  auto lhs = [&](size_t i) -> R { return Form == 2 ? V::set1(a[0]) : V::load(a + i); };
  auto rhs = [&](size_t i) -> R { return Form == 1 ? V::set1(b[0]) : V::load(b + i); };
  size_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    R r0 = Op::template apply<V>(lhs(i), rhs(i));
    R r1 = Op::template apply<V>(lhs(i + W), rhs(i + W));
    V::store(out + i, r0);
    V::store(out + i + W, r1);
  }
  for (; i + W <= n; i += W) V::store(out + i, Op::template apply<V>(lhs(i), rhs(i)));
  if (i < n) {
    size_t k = n - i;
    R l = Form == 2 ? V::set1(a[0]) : V::load_tail(a + i, k);
    R r = Form == 1 ? V::set1(b[0]) : V::load_tail(b + i, k);
    V::store_tail(out + i, Op::template apply<V>(l, r), k);
  }
}

struct ActGelu {
  template <class V>
  static typename V::reg apply(typename V::reg x) { return simd::gelu<V>(x); }
};
struct ActGeluTanh {
  template <class V>
  static typename V::reg apply(typename V::reg x) { return simd::gelu_tanh<V>(x); }
};
struct ActSilu {
  template <class V>
  static typename V::reg apply(typename V::reg x) { return simd::silu<V>(x); }
};
struct ActRelu {  // max(0, x) keeps a NaN x (see simd.h)
  template <class V>
  static typename V::reg apply(typename V::reg x) { return V::max(V::zero(), x); }
};
struct ActRelu6 {
  template <class V>
  static typename V::reg apply(typename V::reg x) { return V::min(V::set1(6.0f), V::max(V::zero(), x)); }
};
struct ActRelu2 {  // relu(x) * relu(x), one rounding: torch.square(torch.relu(x)) (NaN stays NaN)
  template <class V>
  static typename V::reg apply(typename V::reg x) {
    const typename V::reg r = V::max(V::zero(), x);
    return V::mul(r, r);
  }
};
struct ActSigmoid {
  template <class V>
  static typename V::reg apply(typename V::reg x) { return simd::sigmoid<V>(x); }
};
struct ActTanh {
  template <class V>
  static typename V::reg apply(typename V::reg x) { return simd::tanh<V>(x); }
};
struct ActSoftplus {
  template <class V>
  static typename V::reg apply(typename V::reg x) { return simd::softplus<V>(x); }
};

template <class V, class Act>
void activation_kernel(const float* x, float* y, size_t n) {
  constexpr size_t W = V::W;
  size_t i = 0;
  for (; i + W <= n; i += W) V::store(y + i, Act::template apply<V>(V::load(x + i)));
  if (i < n) V::store_tail(y + i, Act::template apply<V>(V::load_tail(x + i, n - i)), n - i);
}

template <class V, class Op>
void fill_binary(Kernels& k, cpu::BinaryOp op) {
  auto& row = k.binary_f32[static_cast<int>(op)];
  row[0] = binary_kernel<V, Op, 0>;
  row[1] = binary_kernel<V, Op, 1>;
  row[2] = binary_kernel<V, Op, 2>;
}

template <class V>
void fill_elementwise(Kernels& k) {
  static_assert(cpu::kNumBinaryOps == Kernels::kBinaryOps && cpu::kNumActivations == Kernels::kActivations);
  using cpu::Activation;
  using cpu::BinaryOp;
  fill_binary<V, OpAdd>(k, BinaryOp::Add);
  fill_binary<V, OpSub>(k, BinaryOp::Sub);
  fill_binary<V, OpMul>(k, BinaryOp::Mul);
  fill_binary<V, OpDiv>(k, BinaryOp::Div);
  k.add_f32 = binary_kernel<V, OpAdd, 0>;
  auto* act = k.activation_f32;
  act[static_cast<int>(Activation::Gelu)] = activation_kernel<V, ActGelu>;
  act[static_cast<int>(Activation::GeluTanh)] = activation_kernel<V, ActGeluTanh>;
  act[static_cast<int>(Activation::Silu)] = activation_kernel<V, ActSilu>;
  act[static_cast<int>(Activation::Relu)] = activation_kernel<V, ActRelu>;
  act[static_cast<int>(Activation::Relu6)] = activation_kernel<V, ActRelu6>;
  act[static_cast<int>(Activation::Sigmoid)] = activation_kernel<V, ActSigmoid>;
  act[static_cast<int>(Activation::Tanh)] = activation_kernel<V, ActTanh>;
  act[static_cast<int>(Activation::Softplus)] = activation_kernel<V, ActSoftplus>;
  act[static_cast<int>(Activation::Relu2)] = activation_kernel<V, ActRelu2>;
}

}  // namespace
}  // namespace tf
