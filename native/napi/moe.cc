// Mixture of Experts (kernels in native/cpu/moe/moe.h), each with an *Async form:
//   moeRoute(logits, opts)                     -> {experts, weights, probSum, routedCounts, keptCounts}
//   moeDispatch(experts, numExperts)           -> {offsets, perm, inv}
//   moeGather(x, perm, topK)                   -> xg
//   moeExperts(xg, offsets, experts, opts?)    -> y
//   moeCombine(y, inv, weights, x?)            -> out
//   moe(x, routerWeight, experts, opts)        -> {out, routerLogits, experts, weights, probSum, routedCounts, keptCounts}
// An expert set crosses the boundary as {kind: 'swiglu', activation?, w1: [...], w3: [...], w2: [...]} or
// {kind: 'dense', activation?, wi: [...], wo: [...]}; each weight is an f32 tensor [out, in] or a quantized weight
// {format, shape, group, data} (lib/ops/quant.ts). Everything is checked here, before any kernel runs.
#include "../cpu/moe/moe.h"

#include <cmath>
#include <limits>
#include <memory>

#include "../cpu/gemm/gemm.h"
#include "common.h"
#include "op_helpers.h"

namespace tf::napi {
namespace {

using cpu::MoeExpertWeights;
using cpu::MoeLinear;

constexpr int64_t kMaxIndex = std::numeric_limits<int32_t>::max();

Napi::Object get_object(Napi::Env env, Napi::Value v, const std::string& name, const char* what) {
  if (!v.IsObject() || v.IsArray() || v.IsTypedArray() || v.IsFunction())
    throw_type(env, name + " must be an object (" + what + ")");
  return v.As<Napi::Object>();
}

// Rows and last dimension of a tensor [..., n].
int64_t rows_of(const TensorView& t) {
  int64_t r = 1;
  for (int i = 0; i < t.ndim - 1; ++i) r *= t.shape[i];
  return r;
}

// ---- routing options ----

struct RouteOpts {
  cpu::MoeRouteParams p;
  bool has_factor = false;
  double factor = 0;
};

RouteOpts get_route_opts(Napi::Env env, Napi::Value v, const std::string& name, int64_t num_experts) {
  Napi::Object o = get_object(env, v, name, "{kind, topK, normalize, capacity, capacityFactor, groupSize}");
  RouteOpts r;
  const std::string kind = get_string(env, o.Get("kind"), name + ".kind");
  if (kind == "mixtral")
    r.p.kind = cpu::MoeRouter::Mixtral;
  else if (kind == "switch")
    r.p.kind = cpu::MoeRouter::Switch;
  else
    throw_range(env, name + ".kind must be 'mixtral' or 'switch', got '" + kind + "'");
  const bool sw = r.p.kind == cpu::MoeRouter::Switch;
  Napi::Value kv = o.Get("topK");
  if (sw) {
    if (!is_absent(kv) && get_int(env, kv, name + ".topK", 1, kMaxIndex) != 1)
      throw_range(env, name + ".topK must be 1 for 'switch' routing");
    r.p.top_k = 1;
  } else {
    if (is_absent(kv)) throw_type(env, name + ".topK must be an integer (required for 'mixtral' routing)");
    r.p.top_k = get_int(env, kv, name + ".topK", 1, kMaxIndex);
  }
  if (num_experts >= 0 && r.p.top_k > num_experts)
    throw_range(env, name + ".topK = " + std::to_string(r.p.top_k) + " is more than the " + std::to_string(num_experts) +
                         " experts");
  r.p.normalize = get_bool(env, o.Get("normalize"), name + ".normalize", true);
  Napi::Value cv = o.Get("capacity"), fv = o.Get("capacityFactor"), gv = o.Get("groupSize");
  if (!sw && (!is_absent(cv) || !is_absent(fv) || !is_absent(gv)))
    throw_range(env, name + ".capacity, capacityFactor and groupSize apply to 'switch' routing only");
  if (!is_absent(cv) && !is_absent(fv)) throw_range(env, name + ": give capacity or capacityFactor, not both");
  if (!is_absent(cv)) r.p.capacity = get_int(env, cv, name + ".capacity", 0, kMaxIndex);
  if (!is_absent(fv)) {
    r.has_factor = true;
    r.factor = get_positive(env, fv, name + ".capacityFactor");
  }
  if (!is_absent(gv)) r.p.group = get_int(env, gv, name + ".groupSize", 1, kMaxIndex);
  return r;
}

// Completes the parameters for T tokens: the group must divide T; capacityFactor becomes a capacity.
void finish_route(Napi::Env env, RouteOpts& r, int64_t tokens, int64_t experts, const std::string& name) {
  r.p.tokens = tokens;
  r.p.experts = experts;
  if (r.p.group > 0 && tokens % r.p.group != 0)
    throw_range(env, name + ".groupSize = " + std::to_string(r.p.group) + " does not divide the " +
                         std::to_string(tokens) + " tokens");
  if (r.has_factor) {
    // Switch Transformers' expert capacity: floor(capacityFactor * tokens per group / experts) (a Python int() cast).
    const double g = static_cast<double>(r.p.group > 0 ? r.p.group : tokens);
    const double c = std::floor(r.factor * g / static_cast<double>(experts));
    r.p.capacity = static_cast<int64_t>(std::min(c, static_cast<double>(kMaxIndex)));
  }
}

// ---- expert weights ----

MoeLinear get_linear(Napi::Env env, Napi::Value v, const std::string& name, int64_t n, int64_t k,
                     std::vector<Napi::Value>& keep) {
  Napi::Object o = get_object(env, v, name, "an f32 tensor [out, in] or a quantized weight");
  MoeLinear L;
  if (o.Has("format")) {
    L.quant = true;
    const std::string fs = get_string(env, o.Get("format"), name + ".format");
    if (!cpu::quant_format_from_name(fs.c_str(), &L.q.format))
      throw_range(env, name + ".format must be 'q8_0', 'q4_0', 'int8' or 'int4', got '" + fs + "'");
    int64_t dims[kMaxDims];
    const int nd = get_shape(env, o.Get("shape"), name + ".shape", dims);
    if (nd != 2) throw_range(env, name + ".shape must be [out, in], got " + shape_string(dims, nd));
    L.q.n = dims[0];
    L.q.k = dims[1];
    if (L.q.format == cpu::QuantFormat::Int4) {
      Napi::Value g = o.Get("group");
      L.q.group = is_absent(g) ? 32 : get_int(env, g, name + ".group", 0, 1 << 20);
    }
    const int64_t need = cpu::quant_nbytes(L.q.format, L.q.n, L.q.k, L.q.group);
    if (need < 0) throw_range(env, name + ": in = " + std::to_string(L.q.k) + " does not fit the " + fs + " block/group");
    Napi::Value dv = o.Get("data");
    if (!dv.IsTypedArray() || dv.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
      throw_type(env, name + ".data must be a Uint8Array");
    Napi::Uint8Array data = dv.As<Napi::Uint8Array>();
    if (static_cast<int64_t>(data.ByteLength()) != need)
      throw_range(env, name + ".data has " + std::to_string(data.ByteLength()) + " bytes but a " + fs +
                           " weight of shape " + shape_string(dims, 2) + " has " + std::to_string(need));
    L.q.data = data.Data();
    L.n = L.q.n;
    L.k = L.q.k;
  } else {
    TensorView t = get_tensor(env, v, name, DType::F32);
    if (t.ndim != 2) throw_range(env, name + " must have shape [out, in], got " + shape_string(t));
    L.f32 = t.ptr<float>();
    L.n = t.shape[0];
    L.k = t.shape[1];
  }
  if (L.n != n || L.k != k)
    throw_range(env, name + " must have shape [" + std::to_string(n) + ", " + std::to_string(k) + "], got [" +
                         std::to_string(L.n) + ", " + std::to_string(L.k) + "]");
  keep.push_back(v);
  return L;
}

struct ExpertSet {
  cpu::MoeExpertsSpec spec;
  std::shared_ptr<std::vector<MoeExpertWeights>> weights;
};

// The expert set for inputs of d features; `name` is the argument's name.
ExpertSet get_experts(Napi::Env env, Napi::Value v, const std::string& name, int64_t d, std::vector<Napi::Value>& keep) {
  Napi::Object o = get_object(env, v, name, "{kind: 'swiglu', w1, w3, w2} or {kind: 'dense', wi, wo}");
  ExpertSet s;
  const std::string kind = get_string(env, o.Get("kind"), name + ".kind");
  const bool glu = kind == "swiglu";
  if (!glu && kind != "dense") throw_range(env, name + ".kind must be 'swiglu' or 'dense', got '" + kind + "'");
  s.spec.kind = glu ? cpu::MoeFfn::SwiGlu : cpu::MoeFfn::Dense;
  Napi::Value av = o.Get("activation");
  s.spec.act = glu ? cpu::Activation::Silu : cpu::Activation::Relu;
  if (!is_absent(av)) {
    const std::string a = get_string(env, av, name + ".activation");
    if (!cpu::activation_from_name(a, &s.spec.act))
      throw_range(env, name + ".activation must be one of " + std::string(cpu::activation_names()) + ", got '" + a + "'");
  }
  const char* first = glu ? "w1" : "wi";
  const char* last = glu ? "w2" : "wo";
  auto list = [&](const char* key) {
    Napi::Value lv = o.Get(key);
    if (!lv.IsArray()) throw_type(env, name + "." + key + " must be an array of weights, one per expert");
    return lv.As<Napi::Array>();
  };
  Napi::Array l1 = list(first), l2 = list(last);
  Napi::Array l3 = glu ? list("w3") : Napi::Array();
  const int64_t E = l1.Length();
  if (E < 1) throw_range(env, name + "." + first + " must hold at least one expert");
  if (static_cast<int64_t>(l2.Length()) != E || (glu && static_cast<int64_t>(l3.Length()) != E))
    throw_range(env, name + ": " + first + (glu ? ", w3" : "") + " and " + last +
                         " must hold the same number of experts, got " + std::to_string(E) + (glu ? ", " + std::to_string(l3.Length()) : "") +
                         " and " + std::to_string(l2.Length()));
  // ffn from the first expert's first weight
  Napi::Value f0 = l1.Get(0u);
  int64_t ffn = -1;
  if (f0.IsObject()) {
    Napi::Value sv = f0.As<Napi::Object>().Get("shape");
    if (sv.IsArray() && sv.As<Napi::Array>().Length() == 2) {
      Napi::Value n0 = sv.As<Napi::Array>().Get(0u);
      if (n0.IsNumber()) ffn = static_cast<int64_t>(n0.As<Napi::Number>().DoubleValue());
    }
  }
  if (ffn < 0) ffn = get_linear(env, f0, name + "." + first + "[0]", 0, d, keep).n;  // throws the right message
  auto w = std::make_shared<std::vector<MoeExpertWeights>>(static_cast<size_t>(E));
  for (int64_t e = 0; e < E; ++e) {
    const std::string ix = "[" + std::to_string(e) + "]";
    (*w)[e].w1 = get_linear(env, l1.Get(static_cast<uint32_t>(e)), name + "." + first + ix, ffn, d, keep);
    if (glu) (*w)[e].w3 = get_linear(env, l3.Get(static_cast<uint32_t>(e)), name + ".w3" + ix, ffn, d, keep);
    (*w)[e].w2 = get_linear(env, l2.Get(static_cast<uint32_t>(e)), name + "." + last + ix, d, ffn, keep);
  }
  s.spec.experts = E;
  s.spec.d = d;
  s.spec.ffn = ffn;
  s.weights = w;
  s.spec.w = w->data();
  return s;
}

cpu::MoeSchedule get_schedule(Napi::Env env, Napi::Value opts, const std::string& name) {
  if (is_absent(opts)) return cpu::MoeSchedule::Auto;
  Napi::Value v = get_object(env, opts, name, "{schedule}").Get("schedule");
  if (is_absent(v)) return cpu::MoeSchedule::Auto;
  const std::string s = get_string(env, v, name + ".schedule");
  if (s == "auto") return cpu::MoeSchedule::Auto;
  if (s == "sequential") return cpu::MoeSchedule::Sequential;
  if (s == "chunked") return cpu::MoeSchedule::Chunked;
  throw_range(env, name + ".schedule must be 'auto', 'sequential' or 'chunked', got '" + s + "'");
}

// Shape of a [..., k] result for a [..., n] input.
std::vector<int64_t> with_last(const TensorView& t, int64_t last) {
  std::vector<int64_t> s(t.shape.begin(), t.shape.begin() + t.ndim);
  s.back() = last;
  return s;
}

Napi::Object route_outputs(Napi::Env env, const TensorView& like, int64_t k, int64_t E, cpu::MoeRouteOut& ro) {
  const std::vector<int64_t> ks = with_last(like, k);
  const int64_t es[1] = {E};
  NewTensor ex = new_tensor(env, DType::I32, ks.data(), static_cast<int>(ks.size()));
  NewTensor wt = new_tensor(env, DType::F32, ks.data(), static_cast<int>(ks.size()));
  NewTensor ps = new_tensor(env, DType::F32, es, 1);
  NewTensor rc = new_tensor(env, DType::I32, es, 1);
  NewTensor kc = new_tensor(env, DType::I32, es, 1);
  ro.expert = ex.view.ptr<int32_t>();
  ro.weight = wt.view.ptr<float>();
  ro.prob_sum = ps.view.ptr<float>();
  ro.routed = rc.view.ptr<int32_t>();
  ro.kept = kc.view.ptr<int32_t>();
  Napi::Object r = Napi::Object::New(env);
  r.Set("experts", ex.object);
  r.Set("weights", wt.object);
  r.Set("probSum", ps.object);
  r.Set("routedCounts", rc.object);
  r.Set("keptCounts", kc.object);
  return r;
}

template <bool Async>
Napi::Value Route(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TensorView l = get_tensor(env, info[0], "logits", DType::F32);
  if (l.ndim < 1) throw_range(env, "logits must have shape [..., experts], got " + shape_string(l));
  const int64_t E = l.shape[l.ndim - 1], T = rows_of(l);
  if (E < 1) throw_range(env, "logits must have at least one expert (last dimension), got shape " + shape_string(l));
  RouteOpts r = get_route_opts(env, info[1], "opts", E);
  finish_route(env, r, T, E, "opts");
  if (T * r.p.top_k > kMaxIndex) throw_range(env, "logits: too many tokens for 32-bit indices");
  cpu::MoeRouteOut ro;
  Napi::Object result = route_outputs(env, l, r.p.top_k, E, ro);
  const float* lp = l.ptr<float>();
  const cpu::MoeRouteParams p = r.p;
  return finish_op<Async>(env, "turboformer.moeRoute", {info[0], result.Get("experts"), result.Get("weights"),
                          result.Get("probSum"), result.Get("routedCounts"), result.Get("keptCounts")}, result,
                          [=] { cpu::moe_route(p, lp, ro); });
}

template <bool Async>
Napi::Value Dispatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TensorView ex = get_tensor(env, info[0], "experts", DType::I32);
  if (ex.ndim < 1) throw_range(env, "experts must have shape [..., topK], got " + shape_string(ex));
  const int64_t E = get_int(env, info[1], "numExperts", 1, kMaxIndex - 1);
  const int64_t pairs = ex.numel();
  if (pairs > kMaxIndex) throw_range(env, "experts: too many pairs for 32-bit indices");
  const int32_t* ep = ex.ptr<int32_t>();
  int64_t kept = 0;
  for (int64_t i = 0; i < pairs; ++i) {
    if (ep[i] < -1 || ep[i] >= E)
      throw_range(env, "experts[" + std::to_string(i) + "] = " + std::to_string(ep[i]) + " is not an expert in [0, " +
                           std::to_string(E) + ") (or -1 for a dropped token)");
    kept += ep[i] >= 0;
  }
  const int64_t os[1] = {E + 1}, ps[1] = {kept};
  NewTensor off = new_tensor(env, DType::I32, os, 1);
  NewTensor perm = new_tensor(env, DType::I32, ps, 1);
  NewTensor inv = new_tensor(env, DType::I32, ex.shape.data(), ex.ndim);
  Napi::Object result = Napi::Object::New(env);
  result.Set("offsets", off.object);
  result.Set("perm", perm.object);
  result.Set("inv", inv.object);
  int32_t *o = off.view.ptr<int32_t>(), *pp = perm.view.ptr<int32_t>(), *ip = inv.view.ptr<int32_t>();
  return finish_op<Async>(env, "turboformer.moeDispatch", {info[0], off.object, perm.object, inv.object}, result,
                          [=] { cpu::moe_dispatch(ep, pairs, E, o, pp, ip); });
}

template <bool Async>
Napi::Value Gather(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TensorView x = get_tensor(env, info[0], "x", DType::F32);
  TensorView perm = get_tensor(env, info[1], "perm", DType::I32);
  if (x.ndim < 1) throw_range(env, "x must have shape [..., d], got " + shape_string(x));
  if (perm.ndim != 1) throw_range(env, "perm must have shape [pairs], got " + shape_string(perm));
  const int64_t k = get_int(env, info[2], "topK", 1, kMaxIndex);
  const int64_t T = rows_of(x), d = x.shape[x.ndim - 1], A = perm.shape[0];
  const int32_t* pp = perm.ptr<int32_t>();
  for (int64_t j = 0; j < A; ++j)
    if (pp[j] < 0 || pp[j] >= T * k)
      throw_range(env, "perm[" + std::to_string(j) + "] = " + std::to_string(pp[j]) + " is not a pair in [0, " +
                           std::to_string(T * k) + ")");
  const int64_t shape[2] = {A, d};
  NewTensor out = new_tensor(env, DType::F32, shape, 2);
  const float* xp = x.ptr<float>();
  float* yp = out.view.ptr<float>();
  return finish_op<Async>(env, "turboformer.moeGather", {info[0], info[1], out.object}, out.object,
                          [=] { cpu::moe_gather(xp, d, pp, A, k, yp); });
}

// offsets [E + 1]: non-decreasing from 0 to rows.
const int32_t* get_offsets(Napi::Env env, Napi::Value v, int64_t E, int64_t rows) {
  TensorView o = get_tensor(env, v, "offsets", DType::I32);
  if (o.ndim != 1 || o.shape[0] != E + 1)
    throw_range(env, "offsets must have shape [" + std::to_string(E + 1) + "] (experts + 1), got " + shape_string(o));
  const int32_t* p = o.ptr<int32_t>();
  if (p[0] != 0 || p[E] != rows)
    throw_range(env, "offsets must start at 0 and end at the " + std::to_string(rows) + " rows of xg, got " +
                         std::to_string(p[0]) + " and " + std::to_string(p[E]));
  for (int64_t e = 0; e < E; ++e)
    if (p[e + 1] < p[e]) throw_range(env, "offsets must be non-decreasing (offsets[" + std::to_string(e + 1) + "] < offsets[" + std::to_string(e) + "])");
  return p;
}

template <bool Async>
Napi::Value Experts(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TensorView xg = get_tensor(env, info[0], "xg", DType::F32);
  if (xg.ndim != 2) throw_range(env, "xg must have shape [rows, d], got " + shape_string(xg));
  std::vector<Napi::Value> keep = {info[0], info[1]};
  ExpertSet s = get_experts(env, info[2], "experts", xg.shape[1], keep);
  const int32_t* off = get_offsets(env, info[1], s.spec.experts, xg.shape[0]);
  const cpu::MoeSchedule sched = get_schedule(env, info[3], "opts");
  NewTensor out = new_tensor(env, DType::F32, xg.shape.data(), 2);
  keep.push_back(out.object);
  const float* xp = xg.ptr<float>();
  float* yp = out.view.ptr<float>();
  return finish_op<Async>(env, "turboformer.moeExperts", keep, out.object,
                          [=] { cpu::moe_experts(s.spec, xp, off, yp, sched); });
}

template <bool Async>
Napi::Value Combine(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TensorView y = get_tensor(env, info[0], "y", DType::F32);
  TensorView inv = get_tensor(env, info[1], "inv", DType::I32);
  TensorView w = get_tensor(env, info[2], "weights", DType::F32);
  if (y.ndim != 2) throw_range(env, "y must have shape [rows, d], got " + shape_string(y));
  if (inv.ndim < 1) throw_range(env, "inv must have shape [..., topK], got " + shape_string(inv));
  check_same_shape(env, inv, "inv", w, "weights");
  const int64_t A = y.shape[0], d = y.shape[1], k = inv.shape[inv.ndim - 1], T = rows_of(inv);
  const int32_t* ip = inv.ptr<int32_t>();
  for (int64_t i = 0; i < T * k; ++i)
    if (ip[i] < -1 || ip[i] >= A)
      throw_range(env, "inv[" + std::to_string(i) + "] = " + std::to_string(ip[i]) + " is not a row of y in [0, " +
                           std::to_string(A) + ") (or -1 for a dropped token)");
  const float* xp = nullptr;
  if (!is_absent(info[3])) {
    TensorView x = get_tensor(env, info[3], "x", DType::F32);
    if (x.ndim < 1 || rows_of(x) != T || x.shape[x.ndim - 1] != d)
      throw_range(env, "x must have " + std::to_string(T) + " rows of " + std::to_string(d) + " features, got shape " +
                           shape_string(x));
    xp = x.ptr<float>();
  }
  std::vector<int64_t> os = with_last(inv, d);
  NewTensor out = new_tensor(env, DType::F32, os.data(), static_cast<int>(os.size()));
  const float *yp = y.ptr<float>(), *wp = w.ptr<float>();
  float* op = out.view.ptr<float>();
  return finish_op<Async>(env, "turboformer.moeCombine", {info[0], info[1], info[2], info[3], out.object}, out.object,
                          [=] { cpu::moe_combine(yp, ip, wp, T, k, d, xp, op); });
}

template <bool Async>
Napi::Value Moe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TensorView x = get_tensor(env, info[0], "x", DType::F32);
  TensorView rw = get_tensor(env, info[1], "routerWeight", DType::F32);
  if (x.ndim < 1) throw_range(env, "x must have shape [..., d], got " + shape_string(x));
  const int64_t T = rows_of(x), d = x.shape[x.ndim - 1];
  if (rw.ndim != 2 || rw.shape[1] != d || rw.shape[0] < 1)
    throw_range(env, "routerWeight must have shape [experts, " + std::to_string(d) + "], got " + shape_string(rw));
  const int64_t E = rw.shape[0];
  std::vector<Napi::Value> keep = {info[0], info[1]};
  ExpertSet s = get_experts(env, info[2], "experts", d, keep);
  if (s.spec.experts != E)
    throw_range(env, "experts holds " + std::to_string(s.spec.experts) + " experts but routerWeight has " +
                         std::to_string(E) + " rows");
  RouteOpts r = get_route_opts(env, info[3], "opts", E);
  finish_route(env, r, T, E, "opts");
  const int64_t K = r.p.top_k;
  if (T * K > kMaxIndex) throw_range(env, "x: too many tokens for 32-bit indices");
  Napi::Object o = info[3].As<Napi::Object>();
  const float* bias = nullptr;
  Napi::Value bv = o.Get("routerBias");
  if (!is_absent(bv)) {
    TensorView b = get_tensor(env, bv, "opts.routerBias", DType::F32);
    if (b.ndim != 1 || b.shape[0] != E)
      throw_range(env, "opts.routerBias must have shape [" + std::to_string(E) + "], got " + shape_string(b));
    bias = b.ptr<float>();
    keep.push_back(bv);
  }
  const cpu::MoeSchedule sched = get_schedule(env, info[3], "opts");
  cpu::MoeRouteOut ro;
  Napi::Object result = route_outputs(env, x, K, E, ro);
  std::vector<int64_t> ls = with_last(x, E);
  NewTensor logits = new_tensor(env, DType::F32, ls.data(), static_cast<int>(ls.size()));
  NewTensor out = new_tensor(env, DType::F32, x.shape.data(), x.ndim);
  result.Set("out", out.object);
  result.Set("routerLogits", logits.object);
  for (const char* key : {"out", "routerLogits", "experts", "weights", "probSum", "routedCounts", "keptCounts"})
    keep.push_back(result.Get(key));
  const float *xp = x.ptr<float>(), *wr = rw.ptr<float>();
  float *lp = logits.view.ptr<float>(), *yp = out.view.ptr<float>();
  const cpu::MoeRouteParams p = r.p;
  return finish_op<Async>(env, "turboformer.moe", keep, result, [=] {
    if (T > 0) cpu::sgemm(false, true, T, E, d, 1.0f, xp, d, wr, d, 0.0f, lp, E);
    if (bias)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t e = 0; e < E; ++e) lp[t * E + e] += bias[e];
    cpu::moe_route(p, lp, ro);  // with no tokens it only zeroes the statistics
    if (T == 0) return;
    std::vector<int32_t> off(static_cast<size_t>(E + 1)), perm(static_cast<size_t>(T * K)), inv(static_cast<size_t>(T * K));
    cpu::moe_dispatch(ro.expert, T * K, E, off.data(), perm.data(), inv.data());
    const int64_t A = off[E];
    std::vector<float> xg(static_cast<size_t>(A * d)), yg(static_cast<size_t>(A * d));
    cpu::moe_gather(xp, d, perm.data(), A, K, xg.data());
    cpu::moe_experts(s.spec, xg.data(), off.data(), yg.data(), sched);
    cpu::moe_combine(yg.data(), inv.data(), ro.weight, T, K, d, xp, yp);
  });
}

}  // namespace

void register_moe(Napi::Env env, Napi::Object exports) {
  exports.Set("moeRoute", Napi::Function::New(env, Route<false>, "moeRoute"));
  exports.Set("moeRouteAsync", Napi::Function::New(env, Route<true>, "moeRouteAsync"));
  exports.Set("moeDispatch", Napi::Function::New(env, Dispatch<false>, "moeDispatch"));
  exports.Set("moeDispatchAsync", Napi::Function::New(env, Dispatch<true>, "moeDispatchAsync"));
  exports.Set("moeGather", Napi::Function::New(env, Gather<false>, "moeGather"));
  exports.Set("moeGatherAsync", Napi::Function::New(env, Gather<true>, "moeGatherAsync"));
  exports.Set("moeExperts", Napi::Function::New(env, Experts<false>, "moeExperts"));
  exports.Set("moeExpertsAsync", Napi::Function::New(env, Experts<true>, "moeExpertsAsync"));
  exports.Set("moeCombine", Napi::Function::New(env, Combine<false>, "moeCombine"));
  exports.Set("moeCombineAsync", Napi::Function::New(env, Combine<true>, "moeCombineAsync"));
  exports.Set("moe", Napi::Function::New(env, Moe<false>, "moe"));
  exports.Set("moeAsync", Napi::Function::New(env, Moe<true>, "moeAsync"));
}

}  // namespace tf::napi
