// wkv(timeDecay, timeFirst, k, v, state?) (+Async): RWKV-4 WKV time mixing (native/cpu/wkv).
//   timeDecay, timeFirst: f32 [C] (raw parameters: w = -exp(timeDecay), u = timeFirst)
//   k, v: f32 [batch, T, C]
//   state: null/undefined (fresh: num = den = 0, max = -1e38) or {num, den, max}, each f32 [batch, C]; not
//          modified (the new state is returned in new tensors) unless opts.updateState
//   opts: {out: an existing f32 [batch, T, C] tensor to write the result into (null/undefined: a new one),
//          updateState: write the new state over `state` in place and return that same object}
// Returns {out: [batch, T, C], state: {num, den, max}} (the state after the last token).
// wkvStepPacked: lib's fast path of the form with updateState (below).
//
// tokenShift(x, mixes, opts?) (+Async): RWKV's token shift with its mixes (native/cpu/wkv: token_shift_f32).
//   x: f32 [batch, T, C]; mixes: an array of 1 to 8 f32 tensors of C values ([C], or [1, ..., 1, C] as Hugging Face
//   stores time_mix_key); opts: {state: f32 [batch, C], the token before x (null/undefined: zeros), out: an array of
//   existing f32 [batch, T, C] tensors, one per mix, updateState: write the new state over opts.state in place}.
// Returns {out: [one f32 [batch, T, C] per mix], state: f32 [batch, C] (x's last token)}.
#include <cstring>
#include <vector>

#include "../cpu/wkv/wkv.h"
#include "common.h"
#include "op_helpers.h"

namespace tf::napi {

static TensorView vector_arg(Napi::Env env, TensorView t, const char* name, int64_t C) {
  if (t.ndim != 1 || t.shape[0] != C)
    throw_range(env, std::string(name) + " must have shape [" + std::to_string(C) + "] (the channels of k), got " +
                         shape_string(t));
  return t;
}

// k, v, timeDecay, timeFirst as the object form and the packed form read them (get(i, name): argument i of the
// packed form's order k, v, timeDecay, timeFirst), checked in this order.
struct WkvInputs {
  TensorView k, v, decay, first;
};
template <class Get>
static WkvInputs wkv_inputs(Napi::Env env, Get get) {
  WkvInputs in;
  in.k = get(0, "k");
  if (in.k.ndim != 3) throw_range(env, "k must have shape [batch, T, C], got " + shape_string(in.k));
  in.v = get(1, "v");
  check_same_shape(env, in.k, "k", in.v, "v");
  const int64_t C = in.k.shape[2];
  in.decay = vector_arg(env, get(2, "timeDecay"), "timeDecay", C);
  in.first = vector_arg(env, get(3, "timeFirst"), "timeFirst", C);
  return in;
}

// The state updated in place: num, den, max (get(i, name): i = 0, 1, 2) of [batch, C], sharing no memory with an
// input or each other.
template <class Get>
static void wkv_state_in_place(Napi::Env env, const WkvInputs& in, Get get, TensorView (&st)[3]) {
  const int64_t batch = in.k.shape[0], C = in.k.shape[2];
  static const char* const names[3] = {"state.num", "state.den", "state.max"};
  for (int i = 0; i < 3; ++i) {
    const std::string name = names[i];
    st[i] = get(i, names[i]);
    if (st[i].ndim != 2 || st[i].shape[0] != batch || st[i].shape[1] != C)
      throw_range(env, name + " must have shape [" + std::to_string(batch) + ", " + std::to_string(C) +
                           "] ([batch, C] of k), got " + shape_string(st[i]));
    for (const TensorView* x : {&in.decay, &in.first, &in.k, &in.v})
      if (overlaps(st[i], *x)) throw_range(env, name + " (updated in place) must not share memory with an input");
    for (int j = 0; j < i; ++j)
      if (overlaps(st[i], st[j])) throw_range(env, "state.num, state.den and state.max must not share memory when updated in place");
  }
}

// The state validated like the copying path's, then updated where it lies: no new state tensors, no copies.
template <bool Async>
static Napi::Value WkvInPlace(Napi::Env env, const Napi::CallbackInfo& info, const WkvInputs& in, Napi::Object opts) {
  const TensorView &decay = in.decay, &first = in.first, &k = in.k, &v = in.v;
  const int64_t batch = k.shape[0], T = k.shape[1], C = k.shape[2];
  if (is_absent(info[4])) throw_range(env, "opts.updateState needs a state to update");
  if (!info[4].IsObject() || info[4].IsArray())
    throw_type(env, "state must be an object {num, den, max} (or null/undefined for a fresh state)");
  Napi::Object s = info[4].As<Napi::Object>();
  static const char* const keys[3] = {"num", "den", "max"};
  Napi::Value sv[3];
  TensorView st[3];
  wkv_state_in_place(env, in, [&](int i, const char* name) {
    sv[i] = s.Get(keys[i]);
    return get_tensor(env, sv[i], name, DType::F32);
  }, st);
  TensorView outv;
  Napi::Value out_obj = opts.Get("out");
  out_obj = out_or_new(env, out_obj, k.shape.data(), 3, {decay, first, k, v, st[0], st[1], st[2]}, &outv);
  Napi::Object result = Napi::Object::New(env);
  result.Set("out", out_obj);
  result.Set("state", s);
  float *o = outv.ptr<float>(), *pn = st[0].ptr<float>(), *pd = st[1].ptr<float>(), *pm = st[2].ptr<float>();
  const float *pw = decay.ptr<float>(), *pu = first.ptr<float>(), *pk = k.ptr<float>(), *pv = v.ptr<float>();
  auto work = [=] { cpu::wkv_f32(pw, pu, pk, pv, o, batch, T, C, pn, pd, pm); };
  return finish_op<Async>(env, "turboformer.wkv", {info[0], info[1], info[2], info[3], out_obj, sv[0], sv[1], sv[2]},
                          result, work);
}

// wkvStepPacked(records, k, v, timeDecay, timeFirst, num, den, max, out): lib's fast path of the sync form with
// updateState (a state given, opts {updateState: true, out?}), in the packed form of common.h (the data arrays in
// this order; out undefined or null when absent). The checks, their order and their messages are the object form's.
// Returns out (the given data array, or a new tensor).
static Napi::Value WkvStepPacked(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const PackedTensors p(env, info[0], 8);
  auto get = [&](int i, const char* name) { return p.get(static_cast<size_t>(i), info[1 + i], name, DType::F32); };
  const WkvInputs in = wkv_inputs(env, get);
  TensorView st[3];
  wkv_state_in_place(env, in, [&](int i, const char* name) { return get(4 + i, name); }, st);
  TensorView outv;
  Napi::Value out_obj = info[8];
  if (!is_absent(out_obj)) {
    outv = get(7, "opts.out");
    check_out(env, outv, in.k.shape.data(), 3, {in.decay, in.first, in.k, in.v, st[0], st[1], st[2]});
  } else {
    NewTensor out = new_tensor(env, DType::F32, in.k.shape.data(), 3);
    outv = out.view;
    out_obj = out.object;
  }
  cpu::wkv_f32(in.decay.ptr<float>(), in.first.ptr<float>(), in.k.ptr<float>(), in.v.ptr<float>(), outv.ptr<float>(),
               in.k.shape[0], in.k.shape[1], in.k.shape[2], st[0].ptr<float>(), st[1].ptr<float>(), st[2].ptr<float>());
  return out_obj;
}

template <bool Async>
static Napi::Value Wkv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  static constexpr int kArg[4] = {2, 3, 0, 1};  // k, v, timeDecay, timeFirst among the arguments
  const WkvInputs in =
      wkv_inputs(env, [&](int i, const char* name) { return get_tensor(env, info[kArg[i]], name, DType::F32); });
  const TensorView &k = in.k, &v = in.v, &decay = in.decay, &first = in.first;
  const int64_t batch = k.shape[0], T = k.shape[1], C = k.shape[2];

  Napi::Object opts;
  if (!is_absent(info[5])) {
    if (!info[5].IsObject() || info[5].IsArray()) throw_type(env, "opts must be an object {out, updateState}");
    opts = info[5].As<Napi::Object>();
  }
  const bool update = !opts.IsEmpty() && get_bool(env, opts.Get("updateState"), "opts.updateState", false);
  if (update) return WkvInPlace<Async>(env, info, in, opts);

  const int64_t sshape[2] = {batch, C};
  NewTensor num = new_tensor(env, DType::F32, sshape, 2), den = new_tensor(env, DType::F32, sshape, 2),
            mx = new_tensor(env, DType::F32, sshape, 2);
  const size_t sbytes = static_cast<size_t>(batch * C) * sizeof(float);
  if (is_absent(info[4])) {
    std::memset(num.view.data, 0, sbytes);
    std::memset(den.view.data, 0, sbytes);
    float* m = mx.view.ptr<float>();
    for (int64_t i = 0; i < batch * C; ++i) m[i] = cpu::kWkvInitialMax;
  } else {
    if (!info[4].IsObject() || info[4].IsArray())
      throw_type(env, "state must be an object {num, den, max} (or null/undefined for a fresh state)");
    Napi::Object s = info[4].As<Napi::Object>();
    const char* names[3] = {"num", "den", "max"};
    NewTensor* dst[3] = {&num, &den, &mx};
    for (int i = 0; i < 3; ++i) {
      const std::string name = std::string("state.") + names[i];
      TensorView t = get_tensor(env, s.Get(names[i]), name, DType::F32);
      if (t.ndim != 2 || t.shape[0] != batch || t.shape[1] != C)
        throw_range(env, name + " must have shape [" + std::to_string(batch) + ", " + std::to_string(C) +
                             "] ([batch, C] of k), got " + shape_string(t));
      std::memcpy(dst[i]->view.data, t.data, sbytes);
    }
  }
  TensorView outv;
  Napi::Value out_obj = opts.IsEmpty() ? env.Undefined() : opts.Get("out");
  out_obj = out_or_new(env, out_obj, k.shape.data(), 3, {decay, first, k, v}, &outv);
  Napi::Object state = Napi::Object::New(env);
  state.Set("num", num.object);
  state.Set("den", den.object);
  state.Set("max", mx.object);
  Napi::Object result = Napi::Object::New(env);
  result.Set("out", out_obj);
  result.Set("state", state);
  float *o = outv.ptr<float>(), *pn = num.view.ptr<float>(), *pd = den.view.ptr<float>(), *pm = mx.view.ptr<float>();
  auto work = [=] {
    cpu::wkv_f32(decay.ptr<float>(), first.ptr<float>(), k.ptr<float>(), v.ptr<float>(), o, batch, T, C, pn, pd, pm);
  };
  return finish_op<Async>(env, "turboformer.wkv",
                          {info[0], info[1], info[2], info[3], out_obj, num.object, den.object, mx.object}, result,
                          work);
}

// A mix of tokenShift: C values, shape [C] or [1, ..., 1, C]
static TensorView mix_arg(Napi::Env env, Napi::Value v, const std::string& name, int64_t C) {
  TensorView t = get_tensor(env, v, name, DType::F32);
  bool ok = t.ndim >= 1 && t.shape[t.ndim - 1] == C;
  for (int d = 0; ok && d + 1 < t.ndim; ++d) ok = t.shape[d] == 1;
  if (!ok)
    throw_range(env, name + " must have shape [C] or [1, ..., 1, C] with C = " + std::to_string(C) +
                         " (the channels of x), got " + shape_string(t));
  return t;
}

template <bool Async>
static Napi::Value TokenShift(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const TensorView x = get_tensor(env, info[0], "x", DType::F32);
  if (x.ndim != 3) throw_range(env, "x must have shape [batch, T, C], got " + shape_string(x));
  const int64_t batch = x.shape[0], T = x.shape[1], C = x.shape[2];
  if (!info[1].IsArray()) throw_type(env, "mixes must be an array of f32 tensors of C values (1 to 8 of them)");
  Napi::Array marr = info[1].As<Napi::Array>();
  const uint32_t n = marr.Length();
  if (n < 1 || n > static_cast<uint32_t>(cpu::kTokenShiftMaxMixes))
    throw_range(env, "mixes must hold 1 to " + std::to_string(cpu::kTokenShiftMaxMixes) + " tensors, got " +
                         std::to_string(n));
  std::vector<Napi::Value> keep{info[0]};
  std::vector<TensorView> mixes(n);
  for (uint32_t i = 0; i < n; ++i) {
    Napi::Value m = marr.Get(i);
    mixes[i] = mix_arg(env, m, "mixes[" + std::to_string(i) + "]", C);
    keep.push_back(m);
  }
  Napi::Object opts;
  if (!is_absent(info[2])) {
    if (!info[2].IsObject() || info[2].IsArray()) throw_type(env, "opts must be an object {state, out, updateState}");
    opts = info[2].As<Napi::Object>();
  }
  const int64_t sshape[2] = {batch, C};
  Napi::Value state_obj = opts.IsEmpty() ? env.Undefined() : opts.Get("state");
  TensorView state;
  const bool has_state = !is_absent(state_obj);
  if (has_state) {
    state = get_tensor(env, state_obj, "opts.state", DType::F32);
    if (state.ndim != 2 || state.shape[0] != batch || state.shape[1] != C)
      throw_range(env, "opts.state must have shape " + shape_string(sshape, 2) + " ([batch, C] of x), got " +
                           shape_string(state));
    keep.push_back(state_obj);
  }
  const bool update = !opts.IsEmpty() && get_bool(env, opts.Get("updateState"), "opts.updateState", false);
  if (update) {
    if (!has_state) throw_range(env, "opts.updateState needs opts.state to update");
    if (overlaps(state, x)) throw_range(env, "opts.state (updated in place) must not share memory with x");
    for (uint32_t i = 0; i < n; ++i)
      if (overlaps(state, mixes[i])) throw_range(env, "opts.state (updated in place) must not share memory with a mix");
  }
  // the outputs: given (each checked against the inputs and the other outputs) or new
  Napi::Value out_arg = opts.IsEmpty() ? env.Undefined() : opts.Get("out");
  const bool given = !is_absent(out_arg);
  if (given && (!out_arg.IsArray() || out_arg.As<Napi::Array>().Length() != n))
    throw_type(env, "opts.out must be an array of " + std::to_string(n) + " f32 tensors (one per mix), or null");
  Napi::Array outs_js = Napi::Array::New(env, n);
  std::vector<TensorView> outs(n);
  for (uint32_t i = 0; i < n; ++i) {
    const std::string name = "opts.out[" + std::to_string(i) + "]";
    Napi::Value o;
    if (given) {
      o = out_arg.As<Napi::Array>().Get(i);
      outs[i] = get_tensor(env, o, name, DType::F32);
      bool ok = outs[i].ndim == 3;
      for (int d = 0; ok && d < 3; ++d) ok = outs[i].shape[d] == x.shape[d];
      if (!ok) throw_range(env, name + " must have shape " + shape_string(x) + " (x's), got " + shape_string(outs[i]));
      bool shared = overlaps(outs[i], x) || (has_state && overlaps(outs[i], state));
      for (uint32_t j = 0; j < n; ++j) shared = shared || overlaps(outs[i], mixes[j]);
      if (shared) throw_range(env, name + " must not share memory with an input");
      for (uint32_t j = 0; j < i; ++j)
        if (overlaps(outs[i], outs[j]))
          throw_range(env, name + " and opts.out[" + std::to_string(j) + "] must not share memory");
    } else {
      NewTensor t = new_tensor(env, DType::F32, x.shape.data(), 3);
      outs[i] = t.view;
      o = t.object;
    }
    outs_js.Set(i, o);
    keep.push_back(o);
  }
  Napi::Value new_state = state_obj;
  TensorView sout = state;
  if (!update) {
    NewTensor t = new_tensor(env, DType::F32, sshape, 2);
    new_state = t.object;
    sout = t.view;
    keep.push_back(new_state);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("out", outs_js);
  result.Set("state", new_state);
  std::vector<const float*> mp(n);
  std::vector<float*> op(n);
  for (uint32_t i = 0; i < n; ++i) {
    mp[i] = mixes[i].ptr<float>();
    op[i] = outs[i].ptr<float>();
  }
  const float *px = x.ptr<float>(), *ps = has_state ? state.ptr<float>() : nullptr;
  float* pso = sout.ptr<float>();
  auto work = [=] {
    cpu::token_shift_f32(px, ps, mp.data(), static_cast<int>(n), op.data(), batch, T, C, pso);
  };
  return finish_op<Async>(env, "turboformer.tokenShift", keep, result, work);
}

void register_wkv(Napi::Env env, Napi::Object exports) {
  exports.Set("wkv", Napi::Function::New(env, Wkv<false>, "wkv"));
  exports.Set("wkvAsync", Napi::Function::New(env, Wkv<true>, "wkvAsync"));
  exports.Set("wkvStepPacked", Napi::Function::New(env, WkvStepPacked, "wkvStepPacked"));
  exports.Set("tokenShift", Napi::Function::New(env, TokenShift<false>, "tokenShift"));
  exports.Set("tokenShiftAsync", Napi::Function::New(env, TokenShift<true>, "tokenShiftAsync"));
}

}  // namespace tf::napi
