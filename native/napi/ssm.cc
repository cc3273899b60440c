// Mamba state-space ops (native/cpu/ssm), each with an *Async form:
//   selectiveScan(u, delta, A, B, C, opts?) -> {out [batch, dim, L], lastState [batch, dim, N] | null}
//     u, delta: f32 [batch, dim, L]; A: [dim, N]; B, C: [dim, N] (time-invariant), [batch, N, L] or
//     [batch, G, N, L] (grouped: dim % G == 0); opts: {D [dim], z [batch, dim, L], deltaBias [dim],
//     deltaSoftplus, returnLastState, state [batch, dim, N] (initial state; not modified)}
//   selectiveScanStep(state, u, delta, A, B, C, opts?) -> out [batch, dim]; state [batch, dim, N] is updated in
//     place; u, delta, z: [batch, dim]; B, C: [batch, N] or [batch, G, N]; opts: {D, z, deltaBias, deltaSoftplus}
//   causalConv1d(x, weight, bias?, opts?) -> {out [batch, dim, L], state [batch, dim, k-1]} (opts.updateState: the
//     new state written over opts.state, which is returned; causalConv1dStepPacked: lib's fast path of that form)
//   all three also take opts.out: an existing f32 tensor of the result's shape to write into (it must not share
//   memory with an input, nor with the step's state)
//     x: [batch, dim, L]; weight: [dim, k] or [dim, 1, k]; bias: [dim] or null; opts: {activation: 'silu' |
//     null, state [batch, dim, k-1] (the previous k-1 inputs; not modified unless updateState), updateState}
#include <cstring>

#include "../cpu/ssm/ssm.h"
#include "common.h"
#include "op_helpers.h"

namespace tf::napi {

static std::string dims_string(std::initializer_list<int64_t> d) {
  std::vector<int64_t> v(d);
  return shape_string(v.data(), static_cast<int>(v.size()));
}

static Napi::Object options(Napi::Env env, Napi::Value v) {
  if (is_absent(v)) return Napi::Object::New(env);
  if (!v.IsObject() || v.IsArray()) throw_type(env, "opts must be an object");
  return v.As<Napi::Object>();
}

// An option's exact shape.
static void check_opt_shape(Napi::Env env, const TensorView& t, const std::string& name, std::initializer_list<int64_t> want,
                            const char* what) {
  std::vector<int64_t> w(want);
  bool ok = t.ndim == static_cast<int>(w.size());
  for (size_t i = 0; ok && i < w.size(); ++i) ok = t.shape[i] == w[i];
  if (!ok) throw_range(env, name + " must have shape " + shape_string(w.data(), static_cast<int>(w.size())) + " (" + what + "), got " + shape_string(t));
}

// An optional f32 tensor option of an exact shape.
static const float* opt_tensor(Napi::Env env, Napi::Object o, const char* key, std::initializer_list<int64_t> want,
                               const char* what, std::vector<Napi::Value>& keep) {
  Napi::Value v = o.Get(key);
  if (is_absent(v)) return nullptr;
  const std::string name = std::string("opts.") + key;
  TensorView t = get_tensor(env, v, name, DType::F32);
  check_opt_shape(env, t, name, want, what);
  keep.push_back(v);
  return t.ptr<float>();
}

// B or C of the full scan: returns the group count (0: time-invariant).
static int64_t scan_operand(Napi::Env env, const TensorView& t, const char* name, int64_t batch, int64_t dim, int64_t N,
                            int64_t L) {
  const std::string n(name);
  if (t.ndim == 2) {
    if (t.shape[0] != dim || t.shape[1] != N)
      throw_range(env, n + " of 2 dimensions is time-invariant and must have shape " + dims_string({dim, N}) + " ([dim, N]), got " + shape_string(t));
    return 0;
  }
  if (t.ndim == 3) {
    if (t.shape[0] != batch || t.shape[1] != N || t.shape[2] != L)
      throw_range(env, n + " of 3 dimensions must have shape " + dims_string({batch, N, L}) + " ([batch, N, L]), got " + shape_string(t));
    return 1;
  }
  if (t.ndim == 4) {
    const int64_t G = t.shape[1];
    if (t.shape[0] != batch || G < 1 || t.shape[2] != N || t.shape[3] != L)
      throw_range(env, n + " of 4 dimensions must have shape [" + std::to_string(batch) + ", G, " + std::to_string(N) + ", " +
                           std::to_string(L) + "] ([batch, G, N, L]), got " + shape_string(t));
    if (dim % G != 0)
      throw_range(env, n + " has " + std::to_string(G) + " groups, which must divide dim = " + std::to_string(dim));
    return G;
  }
  throw_range(env, n + " must have shape [dim, N], [batch, N, L] or [batch, G, N, L], got " + shape_string(t));
}

// B or C of the step: [batch, N] or [batch, G, N]; returns G.
static int64_t step_operand(Napi::Env env, const TensorView& t, const char* name, int64_t batch, int64_t dim, int64_t N) {
  const std::string n(name);
  if (t.ndim == 2 && t.shape[0] == batch && t.shape[1] == N) return 1;
  if (t.ndim == 3 && t.shape[0] == batch && t.shape[1] >= 1 && t.shape[2] == N) {
    if (dim % t.shape[1] != 0)
      throw_range(env, n + " has " + std::to_string(t.shape[1]) + " groups, which must divide dim = " + std::to_string(dim));
    return t.shape[1];
  }
  throw_range(env, n + " must have shape " + dims_string({batch, N}) + " ([batch, N]) or [" + std::to_string(batch) +
                       ", G, " + std::to_string(N) + "] ([batch, G, N]), got " + shape_string(t));
}

// A [dim, N]; returns N.
static int64_t check_a(Napi::Env env, const TensorView& A, int64_t dim) {
  if (A.ndim != 2 || A.shape[0] != dim)
    throw_range(env, "A must have shape [" + std::to_string(dim) + ", N] ([dim, N]), got " + shape_string(A));
  const int64_t N = A.shape[1];
  if (N < 1 || N > 4096) throw_range(env, "A's state dimension N must be in [1, 4096], got " + std::to_string(N));
  return N;
}

template <bool Async>
static Napi::Value SelectiveScan(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TensorView u = get_tensor(env, info[0], "u", DType::F32);
  if (u.ndim != 3) throw_range(env, "u must have shape [batch, dim, L], got " + shape_string(u));
  TensorView delta = get_tensor(env, info[1], "delta", DType::F32);
  check_same_shape(env, u, "u", delta, "delta");
  const int64_t batch = u.shape[0], dim = u.shape[1], L = u.shape[2];
  TensorView A = get_tensor(env, info[2], "A", DType::F32);
  const int64_t N = check_a(env, A, dim);
  TensorView B = get_tensor(env, info[3], "B", DType::F32);
  TensorView C = get_tensor(env, info[4], "C", DType::F32);
  cpu::SelectiveScanArgs a;
  a.b_groups = scan_operand(env, B, "B", batch, dim, N, L);
  a.c_groups = scan_operand(env, C, "C", batch, dim, N, L);
  Napi::Object o = options(env, info[5]);
  std::vector<Napi::Value> keep = {info[0], info[1], info[2], info[3], info[4]};
  a.D = opt_tensor(env, o, "D", {dim}, "[dim]", keep);
  a.z = opt_tensor(env, o, "z", {batch, dim, L}, "[batch, dim, L], like u", keep);
  a.delta_bias = opt_tensor(env, o, "deltaBias", {dim}, "[dim]", keep);
  a.state_in = opt_tensor(env, o, "state", {batch, dim, N}, "[batch, dim, N]", keep);
  a.delta_softplus = get_bool(env, o.Get("deltaSoftplus"), "opts.deltaSoftplus", false);
  const bool ret_state = get_bool(env, o.Get("returnLastState"), "opts.returnLastState", false);
  TensorView outv;
  Napi::Value out_obj = o.Get("out");
  out_obj = out_or_new(env, out_obj, u.shape.data(), 3, {u, delta, A, B, C}, &outv);
  keep.push_back(out_obj);
  Napi::Object result = Napi::Object::New(env);
  result.Set("out", out_obj);
  if (ret_state) {
    const int64_t s[3] = {batch, dim, N};
    NewTensor st = new_tensor(env, DType::F32, s, 3);
    a.last_state = st.view.ptr<float>();
    keep.push_back(st.object);
    result.Set("lastState", st.object);
  } else {
    result.Set("lastState", env.Null());
  }
  a.u = u.ptr<float>();
  a.delta = delta.ptr<float>();
  a.A = A.ptr<float>();
  a.B = B.ptr<float>();
  a.C = C.ptr<float>();
  a.out = outv.ptr<float>();
  a.batch = batch;
  a.dim = dim;
  a.L = L;
  a.N = N;
  return finish_op<Async>(env, "turboformer.selectiveScan", keep, result, [a] { cpu::selective_scan_f32(a); });
}

// The step's tensors in the order of the packed form's records (and of its arguments after the records).
enum StepSlot { kState, kU, kDelta, kA, kB, kC, kD, kZ, kDeltaBias, kOut, kStepSlots };

// An op's tensor arguments as the raw binding takes them: slots below `first_opt` are the call's arguments in order,
// the others keys of the opts object (argument `opts_at`), read (and checked) when first needed, each once, in the
// order the checks need them.
template <int Slots>
struct ObjectArgs {
  ObjectArgs(Napi::Env e, const Napi::CallbackInfo& i, int opts_at, int first_opt, const char* const (&k)[Slots])
      : env(e), info(i), opts_index(opts_at), first_opt_slot(first_opt), keys(k) {}
  Napi::Env env;
  const Napi::CallbackInfo& info;
  int opts_index, first_opt_slot;
  const char* const (&keys)[Slots];
  Napi::Object o;
  bool have_opts = false;
  Napi::Value vals[Slots];
  bool got[Slots] = {};
  Napi::Object opts() {
    if (!have_opts) o = options(env, info[opts_index]), have_opts = true;
    return o;
  }
  Napi::Value value(int i) {
    if (!got[i]) vals[i] = i < first_opt_slot ? info[i] : opts().Get(keys[i]), got[i] = true;
    return vals[i];
  }
  TensorView tensor(int i, const std::string& name) { return get_tensor(env, value(i), name, DType::F32); }
};

// The packed form of the same (lib's fast path): info[0] the records, info[1 + slot] the data of each slot, then the
// op's other arguments from info[1 + Slots].
template <int Slots>
struct PackedArgs {
  const Napi::CallbackInfo& info;
  PackedTensors packed;
  Napi::Value value(int i) { return info[1 + i]; }
  TensorView tensor(int i, const std::string& name) { return packed.get(i, value(i), name, DType::F32); }
  Napi::Value extra(int i) { return info[1 + Slots + i]; }
};

static constexpr const char* kStepKeys[kStepSlots] = {"", "", "", "", "", "", "D", "z", "deltaBias", "out"};
struct StepObjects : ObjectArgs<kStepSlots> {
  StepObjects(Napi::Env e, const Napi::CallbackInfo& i) : ObjectArgs(e, i, 6, kD, kStepKeys) {}
  Napi::Value softplus() { return opts().Get("deltaSoftplus"); }
};
// info[11]: deltaSoftplus
struct StepPacked : PackedArgs<kStepSlots> {
  Napi::Value softplus() { return extra(0); }
};

// An optional f32 [..] of the step (D, z, deltaBias): null when absent; the shape checked as opt_tensor does. Async:
// the value joins `keep`.
template <bool Async, class Args>
static const float* step_option(Napi::Env env, Args& args, int slot, const char* key, std::initializer_list<int64_t> want,
                                const char* what, std::vector<Napi::Value>& keep) {
  Napi::Value v = args.value(slot);
  if (is_absent(v)) return nullptr;
  const std::string name = std::string("opts.") + key;
  TensorView t = args.tensor(slot, name);
  check_opt_shape(env, t, name, want, what);
  keep.push_back(v);
  return t.ptr<float>();
}

template <bool Async, class Args>
static Napi::Value selective_scan_step(Napi::Env env, Args& args) {
  TensorView u = args.tensor(kU, "u");
  if (u.ndim != 2) throw_range(env, "u must have shape [batch, dim] (one token), got " + shape_string(u));
  TensorView delta = args.tensor(kDelta, "delta");
  check_same_shape(env, u, "u", delta, "delta");
  const int64_t batch = u.shape[0], dim = u.shape[1];
  TensorView A = args.tensor(kA, "A");
  const int64_t N = check_a(env, A, dim);
  TensorView state = args.tensor(kState, "state");
  if (state.ndim != 3 || state.shape[0] != batch || state.shape[1] != dim || state.shape[2] != N)
    throw_range(env, "state must have shape " + dims_string({batch, dim, N}) + " ([batch, dim, N]), got " + shape_string(state));
  TensorView B = args.tensor(kB, "B");
  TensorView C = args.tensor(kC, "C");
  for (const TensorView* in : {&u, &delta, &A, &B, &C})
    if (overlaps(state, *in)) throw_range(env, "state (updated in place) must not share memory with an input");
  cpu::SelectiveScanArgs a;
  a.b_groups = step_operand(env, B, "B", batch, dim, N);
  a.c_groups = step_operand(env, C, "C", batch, dim, N);
  // the arguments the async form keeps alive while it runs (the sync form needs none)
  std::vector<Napi::Value> keep;
  if constexpr (Async) keep = {args.value(kState), args.value(kU), args.value(kDelta), args.value(kA), args.value(kB), args.value(kC)};
  a.D = step_option<Async>(env, args, kD, "D", {dim}, "[dim]", keep);
  a.z = step_option<Async>(env, args, kZ, "z", {batch, dim}, "[batch, dim], like u", keep);
  a.delta_bias = step_option<Async>(env, args, kDeltaBias, "deltaBias", {dim}, "[dim]", keep);
  a.delta_softplus = get_bool(env, args.softplus(), "opts.deltaSoftplus", false);
  TensorView outv;
  Napi::Value out_obj = args.value(kOut);
  if (!is_absent(out_obj)) {
    outv = args.tensor(kOut, "opts.out");
    check_out(env, outv, u.shape.data(), 2, {u, delta, A, B, C, state});
  } else {
    NewTensor out = new_tensor(env, DType::F32, u.shape.data(), 2);
    outv = out.view;
    out_obj = out.object;
  }
  a.u = u.ptr<float>();
  a.delta = delta.ptr<float>();
  a.A = A.ptr<float>();
  a.B = B.ptr<float>();
  a.C = C.ptr<float>();
  a.state_in = state.ptr<float>();
  a.last_state = state.ptr<float>();
  a.out = outv.ptr<float>();
  a.batch = batch;
  a.dim = dim;
  a.L = 1;
  a.N = N;
  if constexpr (!Async) {  // the per-token path: the kernel right here, without finish_op's copies (a std::function
                           // holding the ~150-byte arguments and the keep vector: heap allocations per call)
    cpu::selective_scan_f32(a);
    return out_obj;
  } else {
    keep.push_back(out_obj);
    return finish_op<Async>(env, "turboformer.selectiveScanStep", keep, out_obj, [a] { cpu::selective_scan_f32(a); });
  }
}

template <bool Async>
static Napi::Value SelectiveScanStep(const Napi::CallbackInfo& info) {
  StepObjects args{info.Env(), info};
  return selective_scan_step<Async>(info.Env(), args);
}

// selectiveScanStepPacked(records, state, u, delta, A, B, C, D, z, deltaBias, out, deltaSoftplus): lib's fast path of
// the sync step (the data arrays, in StepSlot order; absent options undefined or null). Returns out's data when out
// is given, else a new tensor.
static Napi::Value SelectiveScanStepPacked(const Napi::CallbackInfo& info) {
  StepPacked args{{info, PackedTensors(info.Env(), info[0], kStepSlots)}};
  return selective_scan_step<false>(info.Env(), args);
}

// causalConv1d's tensors in the order of the packed form's records (and of its data arguments after them).
enum ConvSlot { kCx, kCw, kCbias, kCstate, kCout, kConvSlots };

// causalConv1d's arguments: x, weight, bias, then opts {state, out, activation, updateState}.
static constexpr const char* kConvKeys[kConvSlots] = {"", "", "", "state", "out"};
struct ConvObjects : ObjectArgs<kConvSlots> {
  ConvObjects(Napi::Env e, const Napi::CallbackInfo& i) : ObjectArgs(e, i, 3, kCstate, kConvKeys) {}
  Napi::Value activation() { return opts().Get("activation"); }
  bool update_state() { return get_bool(env, opts().Get("updateState"), "opts.updateState", false); }
};
// The packed form (lib's fast path of the step that updates its state in place): info[6] opts.activation.
struct ConvPacked : PackedArgs<kConvSlots> {
  Napi::Value activation() { return extra(0); }
  bool update_state() { return true; }
};

// Both forms: the checks in this order with the same messages. The object form returns {out, state}; the packed
// form returns out (the given data array, or a new tensor).
template <bool Async, bool Packed, class Args>
static Napi::Value causal_conv1d(Napi::Env env, Args& args) {
  TensorView x = args.tensor(kCx, "x");
  if (x.ndim != 3) throw_range(env, "x must have shape [batch, dim, L], got " + shape_string(x));
  const int64_t batch = x.shape[0], dim = x.shape[1], L = x.shape[2];
  TensorView w = args.tensor(kCw, "weight");
  const bool w_ok = (w.ndim == 2 && w.shape[0] == dim) || (w.ndim == 3 && w.shape[0] == dim && w.shape[1] == 1);
  if (!w_ok) throw_range(env, "weight must have shape [" + std::to_string(dim) + ", k] or [" + std::to_string(dim) + ", 1, k], got " + shape_string(w));
  const int64_t k = w.shape[w.ndim - 1];
  if (k < 1 || k > 1024) throw_range(env, "weight's kernel size k must be in [1, 1024], got " + std::to_string(k));
  TensorView bv;
  const float* bias = nullptr;
  if (!is_absent(args.value(kCbias))) {
    bv = args.tensor(kCbias, "bias");
    if (bv.ndim != 1 || bv.shape[0] != dim) throw_range(env, "bias must have shape [" + std::to_string(dim) + "] ([dim]), got " + shape_string(bv));
    bias = bv.ptr<float>();
  }
  const bool update = args.update_state();
  TensorView sv;
  const float* state_in = nullptr;
  Napi::Value state_obj = args.value(kCstate);
  if (!is_absent(state_obj)) {
    sv = args.tensor(kCstate, "opts.state");
    check_opt_shape(env, sv, "opts.state", {batch, dim, k - 1}, "[batch, dim, k - 1]");
    state_in = sv.ptr<float>();
  } else if (update) {
    throw_range(env, "opts.updateState needs opts.state to update");
  }
  if (update)
    for (const TensorView* in : {&x, &w, &bv})
      if (overlaps(sv, *in)) throw_range(env, "opts.state (updated in place) must not share memory with an input");
  bool silu = false;
  Napi::Value act = args.activation();
  if (!is_absent(act)) {
    const std::string a = get_string(env, act, "opts.activation");
    if (a == "silu" || a == "swish")
      silu = true;
    else if (a != "none" && a != "identity")
      throw_range(env, "opts.activation must be 'silu', 'swish', 'none' or null, got '" + a + "'");
  }
  TensorView outv;
  Napi::Value out_obj = args.value(kCout);
  if (!is_absent(out_obj)) {
    outv = args.tensor(kCout, "opts.out");
    check_out(env, outv, x.shape.data(), 3, {x, w, bv, sv});
  } else {
    NewTensor t = new_tensor(env, DType::F32, x.shape.data(), 3);
    outv = t.view;
    out_obj = t.object;
  }
  float* state_out = nullptr;
  Napi::Value new_state;
  if (update) {
    state_out = sv.ptr<float>();
  } else if constexpr (!Packed) {
    const int64_t sshape[3] = {batch, dim, k - 1};
    NewTensor st = new_tensor(env, DType::F32, sshape, 3);  // written in full by the kernel (every row's k - 1 values)
    state_out = st.view.ptr<float>();
    new_state = st.object;
  }
  const float* xp = x.ptr<float>();
  const float* wp = w.ptr<float>();
  float* op = outv.ptr<float>();
  if constexpr (Packed) {
    cpu::causal_conv1d_f32(xp, wp, bias, state_in, silu, op, state_out, batch, dim, L, k);
    return out_obj;
  } else {
    Napi::Object result = Napi::Object::New(env);
    result.Set("out", out_obj);
    result.Set("state", update ? state_obj : new_state);
    std::vector<Napi::Value> keep = {args.value(kCx), args.value(kCw), args.value(kCbias), out_obj,
                                     update ? state_obj : new_state};
    if (!update && !is_absent(state_obj)) keep.push_back(state_obj);
    auto work = [=] { cpu::causal_conv1d_f32(xp, wp, bias, state_in, silu, op, state_out, batch, dim, L, k); };
    return finish_op<Async>(env, "turboformer.causalConv1d", keep, result, work);
  }
}

template <bool Async>
static Napi::Value CausalConv1d(const Napi::CallbackInfo& info) {
  ConvObjects args{info.Env(), info};
  return causal_conv1d<Async, false>(info.Env(), args);
}

// causalConv1dStepPacked(records, x, weight, bias, state, out, activation): lib's fast path of the sync form that
// updates opts.state in place (the data arrays in ConvSlot order; bias and out undefined or null when absent).
static Napi::Value CausalConv1dStepPacked(const Napi::CallbackInfo& info) {
  ConvPacked args{{info, PackedTensors(info.Env(), info[0], kConvSlots)}};
  return causal_conv1d<false, true>(info.Env(), args);
}

// expProbe(passes?): throughput of the active level's fastest vectorized exp (e^x as 2^(x log2e): the scan's and WKV's
// form), one thread, L1-resident data.
static Napi::Value ExpProbe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t passes = info[0].IsUndefined() ? 20000 : get_int(env, info[0], "passes", 1, 100000000);
  constexpr int64_t n = 1024;
  const double seconds = cpu::exp_probe_f32(n, passes);
  const double exps = static_cast<double>(n) * static_cast<double>(passes);
  Napi::Object o = Napi::Object::New(env);
  o.Set("exps", exps);
  o.Set("seconds", seconds);
  o.Set("gexps", seconds > 0 ? exps / seconds * 1e-9 : 0.0);
  return o;
}

void register_ssm(Napi::Env env, Napi::Object exports) {
  exports.Set("expProbe", Napi::Function::New(env, ExpProbe, "expProbe"));
  exports.Set("selectiveScan", Napi::Function::New(env, SelectiveScan<false>, "selectiveScan"));
  exports.Set("selectiveScanAsync", Napi::Function::New(env, SelectiveScan<true>, "selectiveScanAsync"));
  exports.Set("selectiveScanStep", Napi::Function::New(env, SelectiveScanStep<false>, "selectiveScanStep"));
  exports.Set("selectiveScanStepAsync", Napi::Function::New(env, SelectiveScanStep<true>, "selectiveScanStepAsync"));
  exports.Set("selectiveScanStepPacked", Napi::Function::New(env, SelectiveScanStepPacked, "selectiveScanStepPacked"));
  exports.Set("causalConv1d", Napi::Function::New(env, CausalConv1d<false>, "causalConv1d"));
  exports.Set("causalConv1dAsync", Napi::Function::New(env, CausalConv1d<true>, "causalConv1dAsync"));
  exports.Set("causalConv1dStepPacked", Napi::Function::New(env, CausalConv1dStepPacked, "causalConv1dStepPacked"));
}

}  // namespace tf::napi
