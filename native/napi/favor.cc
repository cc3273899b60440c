// favorAttention(q, k, v, projection, opts) and favorFeatures(x, projection, opts) (+Async): Performer FAVOR+,
// fp32 (native/cpu/favor/favor.h).
//
// q, k, v [B, H, N, D] (the same shape); projection [m, D] (m random features). opts (all optional): causal
// (false), kernel ('softmax' | 'relu'), eps (softmax kernel 1e-4, relu kernel_epsilon 1e-3), causalEps (1e-6),
// normalizeData (true: inputs scaled by D^-1/4). favorFeatures: x [B, H, N, D] -> φ(x) [B, H, N, m], with
// opts.isQuery (true: per-row stabiliser; false: per (batch, head) over all positions and features).
// favorAttention takes opts.out: an existing f32 [B, H, N, D] tensor written in place and returned; it must not
// share memory with q, k, v or the projection.
#include <cmath>
#include <string>

#include "../cpu/favor/favor.h"
#include "common.h"
#include "op_helpers.h"

namespace tf::napi {

static Napi::Object get_opts(Napi::Env env, Napi::Value v) {
  if (!is_absent(v) && (!v.IsObject() || v.IsArray())) throw_type(env, "opts must be an object");
  return is_absent(v) ? Napi::Object::New(env) : v.As<Napi::Object>();
}

// The projection [m, D] for head dim D, and the kernel options.
static void read_common(Napi::Env env, Napi::Value projv, Napi::Object opts, int64_t D, const TensorView& x,
                        const char* xname, cpu::FavorParams& p, TensorView& proj) {
  proj = get_tensor(env, projv, "projection", DType::F32);
  if (proj.ndim != 2)
    throw_range(env, "projection must have 2 dimensions [nbFeatures, D], got shape " + shape_string(proj));
  if (proj.shape[0] < 1) throw_range(env, "projection must have at least one row (feature), got shape " + shape_string(proj));
  if (proj.shape[1] != D)
    throw_range(env, "projection must have " + std::string(xname) + "'s head dim D = " + std::to_string(D) +
                         " columns, got shape " + shape_string(proj) + " (" + xname + " " + shape_string(x) + ")");
  p.M = proj.shape[0];
  p.proj = proj.ptr<float>();
  p.kernel = cpu::FavorKernel::Softmax;
  if (Napi::Value kv = opts.Get("kernel"); !kv.IsUndefined()) {
    std::string s = get_string(env, kv, "kernel");
    if (s == "relu")
      p.kernel = cpu::FavorKernel::Relu;
    else if (s != "softmax")
      throw_range(env, "kernel must be 'softmax' or 'relu', got '" + s + "'");
  }
  p.eps = p.kernel == cpu::FavorKernel::Softmax ? 1e-4f : 1e-3f;
  if (Napi::Value ev = opts.Get("eps"); !ev.IsUndefined()) p.eps = static_cast<float>(get_positive(env, ev, "eps"));
  p.normalize = get_bool(env, opts.Get("normalizeData"), "normalizeData", true);
}

template <bool Async>
static Napi::Value FavorAttention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object opts = get_opts(env, info[4]);
  TensorView q = get_tensor(env, info[0], "q", DType::F32);
  TensorView k = get_tensor(env, info[1], "k", DType::F32);
  TensorView v = get_tensor(env, info[2], "v", DType::F32);
  check_bhnd(env, q, "q");
  check_same_shape(env, q, "q", k, "k");
  check_same_shape(env, q, "q", v, "v");
  cpu::FavorParams p;
  p.B = q.shape[0], p.H = q.shape[1], p.N = q.shape[2], p.D = q.shape[3];
  TensorView proj;
  read_common(env, info[3], opts, p.D, q, "q", p, proj);
  p.causal = get_bool(env, opts.Get("causal"), "causal", false);
  if (Napi::Value ev = opts.Get("causalEps"); !ev.IsUndefined())
    p.causal_eps = static_cast<float>(get_positive(env, ev, "causalEps"));
  TensorView out;
  Napi::Value out_obj = opts.Get("out");
  out_obj = out_or_new(env, out_obj, q.shape.data(), 4, {q, k, v, proj}, &out);
  p.q = q.ptr<float>(), p.k = k.ptr<float>(), p.v = v.ptr<float>(), p.out = out.ptr<float>();
  auto work = [p] { cpu::favor_attention_f32(p); };
  return finish_op<Async>(env, "turboformer.favorAttention", {info[0], info[1], info[2], info[3], out_obj},
                          out_obj, work);
}

template <bool Async>
static Napi::Value FavorFeatures(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object opts = get_opts(env, info[2]);
  TensorView x = get_tensor(env, info[0], "x", DType::F32);
  check_bhnd(env, x, "x");
  cpu::FavorParams p;
  p.B = x.shape[0], p.H = x.shape[1], p.N = x.shape[2], p.D = x.shape[3];
  TensorView proj;
  read_common(env, info[1], opts, p.D, x, "x", p, proj);
  const bool is_query = get_bool(env, opts.Get("isQuery"), "isQuery", true);
  const int64_t shape[4] = {p.B, p.H, p.N, p.M};
  if (p.M > 0 && p.B * p.H * p.N > (int64_t{1} << 50) / p.M)
    throw_range(env, "the features of x " + shape_string(x) + " with " + std::to_string(p.M) + " rows are too large");
  NewTensor out = new_tensor(env, DType::F32, shape, 4);
  const float* xp = x.ptr<float>();
  float* yp = out.view.ptr<float>();
  auto work = [p, xp, yp, is_query] { cpu::favor_features_f32(p, xp, is_query, yp); };
  return finish_op<Async>(env, "turboformer.favorFeatures", {info[0], info[1], out.object}, out.object, work);
}

void register_favor(Napi::Env env, Napi::Object exports) {
  exports.Set("favorAttention", Napi::Function::New(env, FavorAttention<false>, "favorAttention"));
  exports.Set("favorAttentionAsync", Napi::Function::New(env, FavorAttention<true>, "favorAttentionAsync"));
  exports.Set("favorFeatures", Napi::Function::New(env, FavorFeatures<false>, "favorFeatures"));
  exports.Set("favorFeaturesAsync", Napi::Function::New(env, FavorFeatures<true>, "favorFeaturesAsync"));
}

}  // namespace tf::napi
