#include "elementwise.h"

#include <algorithm>
#include <cstring>

#include "../../core/dispatch.h"
#include "../../core/tensor.h"
#include "../../core/threadpool.h"
#include "elementwise_impl.h"  // scalar instantiation: no target region

namespace tf {

void register_elementwise_scalar(Kernels& k) { fill_elementwise<simd::Scalar>(k); }

namespace cpu {

// Memory-bound: chunks of 16K floats (64 KiB per operand) keep the per-chunk overhead small.
constexpr int64_t kElementwiseGrain = 1 << 14;
// Activations cost tens of flops per element: smaller chunks still amortize the overhead.
constexpr int64_t kActivationGrain = 1 << 12;

void add_f32(const float* a, const float* b, float* out, int64_t n) {
  auto fn = kernels().add_f32;
  parallel_for(0, n, kElementwiseGrain, [&](int64_t s, int64_t e) { fn(a + s, b + s, out + s, static_cast<size_t>(e - s)); });
}

bool activation_from_name(std::string_view s, Activation* out) {
  struct Entry {
    const char* name;
    Activation act;
  };
  static const Entry table[] = {
      {"gelu", Activation::Gelu},           {"gelu_tanh", Activation::GeluTanh}, {"gelu_new", Activation::GeluTanh},
      {"gelu_pytorch_tanh", Activation::GeluTanh}, {"gelu_fast", Activation::GeluTanh},
      {"silu", Activation::Silu},           {"swish", Activation::Silu},         {"relu", Activation::Relu},
      {"relu6", Activation::Relu6},         {"sigmoid", Activation::Sigmoid},    {"tanh", Activation::Tanh},
      {"softplus", Activation::Softplus},   {"relu2", Activation::Relu2},
  };
  for (const Entry& e : table)
    if (s == e.name) {
      *out = e.act;
      return true;
    }
  return false;
}

const char* activation_names() {
  return "gelu, gelu_tanh (gelu_new, gelu_pytorch_tanh, gelu_fast), silu (swish), relu, relu6, sigmoid, tanh, softplus, relu2";
}

void activation_f32(Activation act, const float* x, float* y, int64_t n) {
  auto fn = kernels().activation_f32[static_cast<int>(act)];
  parallel_for(0, n, kActivationGrain, [&](int64_t s, int64_t e) { fn(x + s, y + s, static_cast<size_t>(e - s)); });
}

int broadcast_shapes(const int64_t* a, int an, const int64_t* b, int bn, int64_t* out, int* on) {
  int n = std::max(an, bn);
  for (int i = 0; i < n; ++i) {  // i counts from the right
    int64_t da = i < an ? a[an - 1 - i] : 1;
    int64_t db = i < bn ? b[bn - 1 - i] : 1;
    if (da != db && da != 1 && db != 1) return i;
    out[n - 1 - i] = da == 1 ? db : da;
  }
  *on = n;
  return -1;
}

namespace {

// The operands' strides in the output's index space (0 along broadcast dims), with size-1 dims dropped and
// adjacent dims merged wherever both operands are contiguous across them. A bias add [M, K] + [K] becomes
// two dims {M: (K, 0), K: (1, 1)}; same shapes become one dim.
struct BroadcastPlan {
  int ndim = 0;
  int64_t shape[kMaxDims];
  int64_t sa[kMaxDims], sb[kMaxDims];
};

BroadcastPlan plan_broadcast(const int64_t* a, int an, const int64_t* b, int bn) {
  int64_t out[kMaxDims];
  int n = 0;
  broadcast_shapes(a, an, b, bn, out, &n);
  int64_t ca[kMaxDims], cb[kMaxDims];  // contiguous strides of a and b, aligned right to out
  int64_t acc_a = 1, acc_b = 1;
  for (int i = n - 1; i >= 0; --i) {
    int ia = i - (n - an), ib = i - (n - bn);
    int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    ca[i] = da == 1 ? 0 : acc_a;
    cb[i] = db == 1 ? 0 : acc_b;
    acc_a *= da;
    acc_b *= db;
  }
  BroadcastPlan p;
  for (int i = 0; i < n; ++i) {
    if (out[i] == 1) continue;
    if (p.ndim > 0) {
      int j = p.ndim - 1;
      if (p.sa[j] == ca[i] * out[i] && p.sb[j] == cb[i] * out[i]) {
        p.shape[j] *= out[i];
        p.sa[j] = ca[i];
        p.sb[j] = cb[i];
        continue;
      }
    }
    p.shape[p.ndim] = out[i];
    p.sa[p.ndim] = ca[i];
    p.sb[p.ndim] = cb[i];
    ++p.ndim;
  }
  if (p.ndim == 0) {  // a single element
    p.ndim = 1;
    p.shape[0] = 1;
    p.sa[0] = p.sb[0] = 1;
  }
  return p;
}

}  // namespace

void binary_f32(BinaryOp op, const float* a, const int64_t* a_shape, int a_ndim, const float* b, const int64_t* b_shape,
                int b_ndim, float* out) {
  BroadcastPlan p = plan_broadcast(a_shape, a_ndim, b_shape, b_ndim);
  const int last = p.ndim - 1;
  const int64_t inner = p.shape[last];
  // The innermost dim has strides 1 or 0 (a contiguous operand ends with stride 1; 0 where it broadcasts).
  const int form = p.sa[last] != 0 && p.sb[last] != 0 ? 0 : (p.sb[last] == 0 ? 1 : 2);
  auto fn = kernels().binary_f32[static_cast<int>(op)][form];
  int64_t rows = 1;
  for (int i = 0; i < last; ++i) rows *= p.shape[i];
  if (rows == 0 || inner == 0) return;
  if (rows == 1) {
    const int64_t ua = p.sa[last] ? 1 : 0, ub = p.sb[last] ? 1 : 0;
    parallel_for(0, inner, kElementwiseGrain, [&](int64_t s, int64_t e) {
      fn(a + s * ua, b + s * ub, out + s, static_cast<size_t>(e - s));
    });
    return;
  }
  const int64_t grain = std::max<int64_t>(1, kElementwiseGrain / inner);
  parallel_for(0, rows, grain, [&](int64_t s, int64_t e) {
    // Index of row s over the outer dims, then advanced like an odometer.
    int64_t idx[kMaxDims] = {};
    int64_t oa = 0, ob = 0, r = s;
    for (int i = last - 1; i >= 0; --i) {
      idx[i] = r % p.shape[i];
      r /= p.shape[i];
      oa += idx[i] * p.sa[i];
      ob += idx[i] * p.sb[i];
    }
    for (int64_t row = s; row < e; ++row) {
      fn(a + oa, b + ob, out + row * inner, static_cast<size_t>(inner));
      for (int i = last - 1; i >= 0; --i) {
        oa += p.sa[i];
        ob += p.sb[i];
        if (++idx[i] < p.shape[i]) break;
        oa -= p.sa[i] * p.shape[i];
        ob -= p.sb[i] * p.shape[i];
        idx[i] = 0;
      }
    }
  });
}

}  // namespace cpu
}  // namespace tf
