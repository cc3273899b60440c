// wkv(timeDecay, timeFirst, k, v, state?) (+Async): RWKV-4 WKV time mixing (native/cpu/wkv).
//   timeDecay, timeFirst: f32 [C] (raw parameters: w = -exp(timeDecay), u = timeFirst)
//   k, v: f32 [batch, T, C]
//   state: null/undefined (fresh: num = den = 0, max = -1e38) or {num, den, max}, each f32 [batch, C]; not
//          modified (the new state is returned in new tensors) unless opts.updateState
//   opts: {out: an existing f32 [batch, T, C] tensor to write the result into (null/undefined: a new one),
//          updateState: write the new state over `state` in place and return that same object}
// Returns {out: [batch, T, C], state: {num, den, max}} (the state after the last token).
#include <cstring>

#include "../cpu/wkv/wkv.h"
#include "common.h"
#include "op_helpers.h"

namespace tf::napi {

static TensorView vector_arg(Napi::Env env, Napi::Value v, const char* name, int64_t C) {
  TensorView t = get_tensor(env, v, name, DType::F32);
  if (t.ndim != 1 || t.shape[0] != C)
    throw_range(env, std::string(name) + " must have shape [" + std::to_string(C) + "] (the channels of k), got " +
                         shape_string(t));
  return t;
}

// The state validated like the copying path's, then updated where it lies: no new state tensors, no copies.
template <bool Async>
static Napi::Value WkvInPlace(Napi::Env env, const Napi::CallbackInfo& info, const TensorView& decay,
                              const TensorView& first, const TensorView& k, const TensorView& v, Napi::Object opts) {
  const int64_t batch = k.shape[0], T = k.shape[1], C = k.shape[2];
  if (is_absent(info[4])) throw_range(env, "opts.updateState needs a state to update");
  if (!info[4].IsObject() || info[4].IsArray())
    throw_type(env, "state must be an object {num, den, max} (or null/undefined for a fresh state)");
  Napi::Object s = info[4].As<Napi::Object>();
  const char* names[3] = {"num", "den", "max"};
  TensorView st[3];
  for (int i = 0; i < 3; ++i) {
    const std::string name = std::string("state.") + names[i];
    st[i] = get_tensor(env, s.Get(names[i]), name, DType::F32);
    if (st[i].ndim != 2 || st[i].shape[0] != batch || st[i].shape[1] != C)
      throw_range(env, name + " must have shape [" + std::to_string(batch) + ", " + std::to_string(C) +
                           "] ([batch, C] of k), got " + shape_string(st[i]));
    for (const TensorView* in : {&decay, &first, &k, &v})
      if (overlaps(st[i], *in)) throw_range(env, name + " (updated in place) must not share memory with an input");
    for (int j = 0; j < i; ++j)
      if (overlaps(st[i], st[j])) throw_range(env, "state.num, state.den and state.max must not share memory when updated in place");
  }
  TensorView outv;
  Napi::Value out_obj = opts.Get("out");
  if (!optional_out(env, out_obj, k.shape.data(), 3, {decay, first, k, v, st[0], st[1], st[2]}, &outv)) {
    NewTensor out = new_tensor(env, DType::F32, k.shape.data(), 3);
    outv = out.view;
    out_obj = out.object;
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("out", out_obj);
  result.Set("state", s);
  float *o = outv.ptr<float>(), *pn = st[0].ptr<float>(), *pd = st[1].ptr<float>(), *pm = st[2].ptr<float>();
  const float *pw = decay.ptr<float>(), *pu = first.ptr<float>(), *pk = k.ptr<float>(), *pv = v.ptr<float>();
  auto work = [=] { cpu::wkv_f32(pw, pu, pk, pv, o, batch, T, C, pn, pd, pm); };
  return finish_op<Async>(env, "turboformer.wkv",
                          {info[0], info[1], info[2], info[3], out_obj, s.Get("num"), s.Get("den"), s.Get("max")},
                          result, work);
}

template <bool Async>
static Napi::Value Wkv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TensorView k = get_tensor(env, info[2], "k", DType::F32);
  if (k.ndim != 3) throw_range(env, "k must have shape [batch, T, C], got " + shape_string(k));
  TensorView v = get_tensor(env, info[3], "v", DType::F32);
  check_same_shape(env, k, "k", v, "v");
  const int64_t batch = k.shape[0], T = k.shape[1], C = k.shape[2];
  TensorView decay = vector_arg(env, info[0], "timeDecay", C);
  TensorView first = vector_arg(env, info[1], "timeFirst", C);

  Napi::Object opts;
  if (!is_absent(info[5])) {
    if (!info[5].IsObject() || info[5].IsArray()) throw_type(env, "opts must be an object {out, updateState}");
    opts = info[5].As<Napi::Object>();
  }
  const bool update = !opts.IsEmpty() && get_bool(env, opts.Get("updateState"), "opts.updateState", false);
  if (update) return WkvInPlace<Async>(env, info, decay, first, k, v, opts);

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
  if (!optional_out(env, out_obj, k.shape.data(), 3, {decay, first, k, v}, &outv)) {
    NewTensor out = new_tensor(env, DType::F32, k.shape.data(), 3);
    outv = out.view;
    out_obj = out.object;
  }
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

void register_wkv(Napi::Env env, Napi::Object exports) {
  exports.Set("wkv", Napi::Function::New(env, Wkv<false>, "wkv"));
  exports.Set("wkvAsync", Napi::Function::New(env, Wkv<true>, "wkvAsync"));
}

}  // namespace tf::napi
