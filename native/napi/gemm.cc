// matmul(a, b, opts?) / matmulAsync: C = alpha * op(a) @ op(b) + beta * out, numpy-style batch broadcast.
// linear(x, weight, bias?) / linearAsync: x @ weight^T + bias with the Hugging Face weight layout [out, in].
// packLinear(weight) -> {data, kernel}: the weight packed once for the active GEMM kernel;
// linearPacked(x, data, kernel, outFeatures, inFeatures, bias?) / linearPackedAsync: linear() with a packed weight.
// peakProbe(iters?, threads?) / bandwidthProbe(megabytes?, threads?, passes?): the machine's FMA peak and
// memory read bandwidth, measured with the active level's code, for benchmarks.
#include "../cpu/gemm/gemm.h"

#include <cmath>
#include <cstring>
#include <memory>

#include "../core/dispatch.h"
#include "../core/threadpool.h"
#include "common.h"
#include "op_helpers.h"

namespace tf::napi {
namespace {

std::string shape_str(const int64_t* d, int n) {
  std::string s = "[";
  for (int i = 0; i < n; ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + "]";
}
std::string shape_str(const TensorView& t) { return shape_str(t.shape.data(), t.ndim); }

std::string kind_of(Napi::Value v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsBoolean()) return "a boolean";
  if (v.IsNumber()) return "a number";
  if (v.IsString()) return "a string";
  if (v.IsArray()) return "an array";
  if (v.IsFunction()) return "a function";
  if (v.IsObject()) return "an object";
  return "a value of another type";
}

bool opt_bool(Napi::Env env, Napi::Object o, const char* key, const std::string& name, bool dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return dflt;
  if (!v.IsBoolean()) throw_type(env, name + " must be a boolean, got " + kind_of(v));
  return v.As<Napi::Boolean>().Value();
}

float opt_float(Napi::Env env, Napi::Object o, const char* key, const std::string& name, float dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return dflt;
  if (!v.IsNumber()) throw_type(env, name + " must be a number, got " + kind_of(v));
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::fabs(d) > 3.4028234663852886e38)
    throw_range(env, name + " must be a finite number in the float32 range, got " + std::to_string(d));
  return static_cast<float>(d);
}

// One matmul call, resolved to plain pointers and strides on the JS thread; run() needs no N-API.
struct MatmulPlan {
  bool ta = false, tb = false;
  int64_t m = 0, n = 0, k = 0;
  float alpha = 1.0f, beta = 0.0f;
  const float* a = nullptr;
  const float* b = nullptr;
  float* c = nullptr;
  int64_t lda = 0, ldb = 0, ldc = 0;
  // Batch dimensions after merging: outer ones are looped here, the innermost goes to sgemm_batched.
  int nouter = 0;
  int64_t osize[kMaxDims] = {}, osa[kMaxDims] = {}, osb[kMaxDims] = {}, osc[kMaxDims] = {};
  int64_t count = 1, sa = 0, sb = 0, sc = 0;
  bool empty = false;

  void run() const {
    if (empty) return;
    int64_t idx[kMaxDims] = {};
    for (;;) {
      int64_t oa = 0, ob = 0, oc = 0;
      for (int d = 0; d < nouter; ++d) {
        oa += idx[d] * osa[d];
        ob += idx[d] * osb[d];
        oc += idx[d] * osc[d];
      }
      cpu::sgemm_batched(ta, tb, m, n, k, alpha, a + oa, lda, sa, b + ob, ldb, sb, beta, c + oc, ldc, sc, count);
      int d = nouter - 1;
      while (d >= 0 && ++idx[d] == osize[d]) idx[d--] = 0;
      if (d < 0) return;
    }
  }
};

struct MatmulArgs {
  MatmulPlan plan;
  Napi::Value out_value;  // the caller's out tensor, or a new one
};

MatmulArgs prepare_matmul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TensorView a = get_tensor(env, info[0], "a", DType::F32);
  TensorView b = get_tensor(env, info[1], "b", DType::F32);
  MatmulPlan p;
  Napi::Value outv = env.Undefined();
  Napi::Value ov = info[2];
  if (!ov.IsUndefined() && !ov.IsNull()) {
    if (!ov.IsObject() || ov.IsArray() || ov.IsFunction())
      throw_type(env, "opts must be an object ({transA, transB, alpha, beta, out}), got " + kind_of(ov));
    Napi::Object o = ov.As<Napi::Object>();
    p.ta = opt_bool(env, o, "transA", "opts.transA", false);
    p.tb = opt_bool(env, o, "transB", "opts.transB", false);
    p.alpha = opt_float(env, o, "alpha", "opts.alpha", 1.0f);
    p.beta = opt_float(env, o, "beta", "opts.beta", 0.0f);
    Napi::Value v = o.Get("out");
    if (!v.IsUndefined() && !v.IsNull()) outv = v;
  }
  if (a.ndim < 2)
    throw_range(env, std::string("a must have at least 2 dimensions (") + (p.ta ? "[..., K, M]" : "[..., M, K]") +
                         "), got shape " + shape_str(a));
  if (b.ndim < 2)
    throw_range(env, std::string("b must have at least 2 dimensions (") + (p.tb ? "[..., N, K]" : "[..., K, N]") +
                         "), got shape " + shape_str(b));
  const int64_t ar = a.shape[a.ndim - 2], ac = a.shape[a.ndim - 1];
  const int64_t br = b.shape[b.ndim - 2], bc = b.shape[b.ndim - 1];
  p.m = p.ta ? ac : ar;
  p.k = p.ta ? ar : ac;
  const int64_t kb = p.tb ? bc : br;
  p.n = p.tb ? br : bc;
  if (kb != p.k)
    throw_range(env, "b does not match a: op(a) is " + std::to_string(p.m) + " x " + std::to_string(p.k) +
                         " (K = " + std::to_string(p.k) + ") but op(b) is " + std::to_string(kb) + " x " +
                         std::to_string(p.n) + " (K = " + std::to_string(kb) + "); a.shape " + shape_str(a) +
                         ", b.shape " + shape_str(b) + ", transA " + (p.ta ? "true" : "false") + ", transB " +
                         (p.tb ? "true" : "false"));
  p.lda = ac;
  p.ldb = bc;
  p.ldc = p.n;

  // Broadcast the batch dimensions (aligned on the right; equal, or 1 in one of them).
  const int na = a.ndim - 2, nb = b.ndim - 2;
  const int nd = std::max(na, nb);
  int64_t shape[kMaxDims], sa[kMaxDims], sb[kMaxDims], sc[kMaxDims];
  for (int d = 0; d < nd; ++d) {
    const int ia = d - (nd - na), ib = d - (nd - nb);
    const int64_t da = ia >= 0 ? a.shape[ia] : 1, db = ib >= 0 ? b.shape[ib] : 1;
    if (da != db && da != 1 && db != 1)
      throw_range(env, "a and b have batch dimensions that do not broadcast: a.shape " + shape_str(a) + ", b.shape " +
                           shape_str(b) + " (" + std::to_string(da) + " vs " + std::to_string(db) + ")");
    shape[d] = da == 1 ? db : da;  // (0 against 1 is 0)
    sa[d] = (ia >= 0 && da != 1) ? a.strides[ia] : 0;
    sb[d] = (ib >= 0 && db != 1) ? b.strides[ib] : 0;
  }
  int64_t out_shape[kMaxDims];
  double total = static_cast<double>(p.m) * static_cast<double>(p.n);
  for (int d = 0; d < nd; ++d) {
    out_shape[d] = shape[d];
    total *= static_cast<double>(shape[d]);
  }
  out_shape[nd] = p.m;
  out_shape[nd + 1] = p.n;
  if (total * 4.0 > 9007199254740991.0)
    throw_range(env, "a and b: the result of shape " + shape_str(out_shape, nd + 2) + " is too large");
  {
    int64_t s = p.m * p.n;
    for (int d = nd - 1; d >= 0; --d) {
      sc[d] = s;
      s *= shape[d];
    }
  }

  TensorView c;
  if (!outv.IsUndefined()) {
    c = get_tensor(env, outv, "opts.out", DType::F32);
    bool same = c.ndim == nd + 2;
    for (int d = 0; same && d < nd + 2; ++d) same = c.shape[d] == out_shape[d];
    if (!same)
      throw_range(env, "opts.out has shape " + shape_str(c) + " but the result has shape " + shape_str(out_shape, nd + 2));
    if (overlaps(c, a)) throw_range(env, "opts.out must not share memory with a");
    if (overlaps(c, b)) throw_range(env, "opts.out must not share memory with b");
  } else {
    NewTensor t = new_tensor(env, DType::F32, out_shape, nd + 2);
    c = t.view;
    outv = t.object;
    p.beta = 0.0f;  // a fresh result starts at zero
  }
  p.a = a.ptr<float>();
  p.b = b.ptr<float>();
  p.c = c.ptr<float>();

  // Merge batch dimensions, innermost first: drop size-1 ones, fold a dimension into the one inside it when
  // all three operands step through both evenly.
  int64_t ms[kMaxDims], ma[kMaxDims], mb[kMaxDims], mc[kMaxDims];
  int nm = 0;  // merged dims, stored innermost first
  for (int d = nd - 1; d >= 0; --d) {
    if (shape[d] == 1) continue;
    if (nm > 0) {
      const int q = nm - 1;
      if (sa[d] == ma[q] * ms[q] && sb[d] == mb[q] * ms[q] && sc[d] == mc[q] * ms[q]) {
        ms[q] *= shape[d];
        continue;
      }
    }
    ms[nm] = shape[d];
    ma[nm] = sa[d];
    mb[nm] = sb[d];
    mc[nm] = sc[d];
    ++nm;
  }
  if (nm > 0) {
    p.count = ms[0];
    p.sa = ma[0];
    p.sb = mb[0];
    p.sc = mc[0];
  }
  p.nouter = nm > 0 ? nm - 1 : 0;
  for (int i = 0; i < p.nouter; ++i) {  // outer dims, outermost first
    const int q = nm - 1 - i;
    p.osize[i] = ms[q];
    p.osa[i] = ma[q];
    p.osb[i] = mb[q];
    p.osc[i] = mc[q];
  }
  for (int d = 0; d < nd; ++d)
    if (shape[d] == 0) p.empty = true;  // an empty batch: nothing to compute
  return {p, outv};
}

template <bool Async>
Napi::Value Matmul(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MatmulArgs args = prepare_matmul(info);
  const MatmulPlan plan = args.plan;
  if constexpr (!Async) {
    plan.run();
    return args.out_value;
  } else {
    auto ref = std::make_shared<Napi::Reference<Napi::Value>>(Napi::Persistent(args.out_value));
    return run_async(env, "turboformer.matmul", {info[0], info[1], args.out_value}, [plan] { plan.run(); },
                     [ref](Napi::Env) { return ref->Value(); });
  }
}

struct LinearPlan {
  int64_t m = 0, n = 0, k = 0;
  const float* x = nullptr;
  const float* w = nullptr;  // [n, k], or packed by cpu::sgemm_pack_b_all when `packed`
  bool packed = false;
  const float* bias = nullptr;
  float* y = nullptr;

  void run() const {
    if (m == 0 || n == 0) return;
    if (bias)
      for (int64_t i = 0; i < m; ++i) std::memcpy(y + i * n, bias, sizeof(float) * n);
    const float beta = bias ? 1.0f : 0.0f;
    if (packed) cpu::sgemm_prepacked(m, n, k, 1.0f, x, k, w, beta, y, n);
    else cpu::sgemm(false, true, m, n, k, 1.0f, x, k, w, k, beta, y, n);
  }
};

// The linear ops with an ordinary weight (Packed = false: info = x, weight, bias) or a packed one
// (Packed = true: info = x, data, kernel, outFeatures, inFeatures, bias).
template <bool Async, bool Packed>
Napi::Value Linear(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TensorView x = get_tensor(env, info[0], "x", DType::F32);
  if (x.ndim < 1) throw_range(env, "x must have at least 1 dimension ([..., in]), got shape " + shape_str(x));
  LinearPlan p;
  int64_t n = 0, k = 0;
  if constexpr (Packed) {
    TensorView d = get_tensor(env, info[1], "weight.data", DType::F32);
    const std::string kernel = get_string(env, info[2], "weight.kernel");
    n = get_int(env, info[3], "weight.outFeatures", 0, int64_t{1} << 40);
    k = get_int(env, info[4], "weight.inFeatures", 0, int64_t{1} << 40);
    if (x.shape[x.ndim - 1] != k)
      throw_range(env, "x has " + std::to_string(x.shape[x.ndim - 1]) + " features (last dimension of x.shape " +
                           shape_str(x) + ") but the packed weight [out, in] = [" + std::to_string(n) + ", " +
                           std::to_string(k) + "] expects " + std::to_string(k));
    if (kernel != cpu::sgemm_kernel_name())
      throw_range(env, "weight was packed for the GEMM kernel '" + kernel + "' but the active one is '" +
                           cpu::sgemm_kernel_name() + "' (the ISA level changed): pack it again with packLinear()");
    // (a real packed weight has fewer than 2^53 floats: larger products cannot match its length)
    const bool fits = (static_cast<double>(n) + 64.0) * static_cast<double>(k) < 9.0e15;
    const int64_t want = fits ? cpu::sgemm_packed_b_floats(k, n) : -1;
    if (d.ndim != 1 || d.shape[0] != want)
      throw_range(env, "weight.data holds " + std::to_string(d.numel()) + " floats, not the " + std::to_string(want) +
                           " of a packed [" + std::to_string(n) + ", " + std::to_string(k) + "] weight");
    p.w = d.ptr<float>();
    p.packed = true;
  } else {
    TensorView w = get_tensor(env, info[1], "weight", DType::F32);
    if (w.ndim != 2) throw_range(env, "weight must have 2 dimensions ([out, in]), got shape " + shape_str(w));
    n = w.shape[0];
    k = w.shape[1];
    if (x.shape[x.ndim - 1] != k)
      throw_range(env, "x has " + std::to_string(x.shape[x.ndim - 1]) + " features (last dimension of x.shape " +
                           shape_str(x) + ") but weight [out, in] = " + shape_str(w) + " expects " + std::to_string(k));
    p.w = w.ptr<float>();
  }
  Napi::Value bv = info[Packed ? 5 : 2];
  TensorView bias;
  bool has_bias = !bv.IsUndefined() && !bv.IsNull();
  if (has_bias) {
    bias = get_tensor(env, bv, "bias", DType::F32);
    if (bias.ndim != 1 || bias.shape[0] != n)
      throw_range(env, "bias must have shape [out] = [" + std::to_string(n) + "], got " + shape_str(bias));
    p.bias = bias.ptr<float>();
  }
  int64_t out_shape[kMaxDims];
  int64_t m = 1;
  for (int d = 0; d < x.ndim - 1; ++d) {
    out_shape[d] = x.shape[d];
    m *= x.shape[d];  // bounded: x's element count (or, with in == 0, its leading dims) was checked
  }
  out_shape[x.ndim - 1] = n;
  NewTensor out = new_tensor(env, DType::F32, out_shape, x.ndim);
  p.m = m;
  p.n = n;
  p.k = k;
  p.x = x.ptr<float>();
  p.y = out.view.ptr<float>();
  if constexpr (!Async) {
    p.run();
    return out.object;
  } else {
    auto ref = std::make_shared<Napi::ObjectReference>(Napi::Persistent(out.object));
    std::vector<Napi::Value> keep{info[0], info[1], out.object};
    if (has_bias) keep.push_back(bv);
    return run_async(env, "turboformer.linear", keep, [p] { p.run(); }, [ref](Napi::Env) { return ref->Value(); });
  }
}

// packLinear(weight [out, in]) -> {data: f32 [floats], kernel}: sync only (a one-time cost at load).
Napi::Value PackLinear(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TensorView w = get_tensor(env, info[0], "weight", DType::F32);
  if (w.ndim != 2) throw_range(env, "weight must have 2 dimensions ([out, in]), got shape " + shape_str(w));
  const int64_t n = w.shape[0], k = w.shape[1];
  const int64_t floats = cpu::sgemm_packed_b_floats(k, n);
  NewTensor data = new_tensor(env, DType::F32, &floats, 1);
  if (floats > 0) cpu::sgemm_pack_b_all(true, k, n, w.ptr<float>(), k, data.view.ptr<float>());
  Napi::Object o = Napi::Object::New(env);
  o.Set("data", data.object);
  o.Set("kernel", cpu::sgemm_kernel_name());
  return o;
}

Napi::Value PeakProbe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t iters = info[0].IsUndefined() ? 20000000 : get_int(env, info[0], "iters", 1, 1000000000);
  int threads = info[1].IsUndefined() ? num_threads() : static_cast<int>(get_int(env, info[1], "threads", 1, 1024));
  double seconds = 0.0;
  double flops = cpu::sgemm_peak_probe(iters, threads, &seconds);
  Napi::Object o = Napi::Object::New(env);
  o.Set("flops", flops);
  o.Set("seconds", seconds);
  o.Set("gflops", seconds > 0 ? flops / seconds * 1e-9 : 0.0);
  o.Set("threads", threads);
  o.Set("isa", isa_name(active_isa()));
  o.Set("kernel", cpu::sgemm_kernel_name());
  return o;
}

Napi::Value BandwidthProbe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t mb = info[0].IsUndefined() ? 256 : get_int(env, info[0], "megabytes", 1, 16384);
  int threads = info[1].IsUndefined() ? num_threads() : static_cast<int>(get_int(env, info[1], "threads", 1, 1024));
  int passes = info[2].IsUndefined() ? 3 : static_cast<int>(get_int(env, info[2], "passes", 1, 1000));
  double seconds = 0.0;
  double bytes;
  try {
    bytes = cpu::sgemm_read_probe(mb << 20, passes, threads, &seconds);
  } catch (const std::bad_alloc&) {
    throw_range(env, "bandwidthProbe: cannot allocate " + std::to_string(mb) + " MiB");
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("bytes", bytes);
  o.Set("seconds", seconds);
  o.Set("gbps", seconds > 0 ? bytes / seconds * 1e-9 : 0.0);
  o.Set("threads", threads);
  return o;
}

}  // namespace

void register_gemm(Napi::Env env, Napi::Object exports) {
  exports.Set("matmul", Napi::Function::New(env, Matmul<false>, "matmul"));
  exports.Set("matmulAsync", Napi::Function::New(env, Matmul<true>, "matmulAsync"));
  exports.Set("linear", Napi::Function::New(env, Linear<false, false>, "linear"));
  exports.Set("linearAsync", Napi::Function::New(env, Linear<true, false>, "linearAsync"));
  exports.Set("packLinear", Napi::Function::New(env, PackLinear, "packLinear"));
  exports.Set("linearPacked", Napi::Function::New(env, Linear<false, true>, "linearPacked"));
  exports.Set("linearPackedAsync", Napi::Function::New(env, Linear<true, true>, "linearPackedAsync"));
  exports.Set("peakProbe", Napi::Function::New(env, PeakProbe, "peakProbe"));
  exports.Set("bandwidthProbe", Napi::Function::New(env, BandwidthProbe, "bandwidthProbe"));
}

}  // namespace tf::napi
