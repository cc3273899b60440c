// retention(q, k, v, decay, opts?) (+Async): RetNet retention (native/cpu/retention), torchscale's three forms.
//   q, k: f32 [batch, heads, T, dk]; v: f32 [batch, T, heads*dv]; decay: f32 [heads] (log decay per head)
//   opts: {form: 'parallel' (default) | 'recurrent' | 'chunkwise', chunkSize (chunkwise; T must be a multiple),
//          state: {kv [batch, heads, dv, dk], scale [heads]} (recurrent only; not modified unless updateState),
//          updateState (recurrent with state: write the new state over opts.state, in place, and return it),
//          out: an existing f32 [batch, T, heads, dv] tensor to write the result into}
// Returns {out [batch, T, heads, dv], state: {kv, scale} (recurrent) | null}.
#include "../cpu/retention/retention.h"
#include "common.h"
#include "op_helpers.h"

namespace tf::napi {

template <bool Async>
static Napi::Value Retention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TensorView q = get_tensor(env, info[0], "q", DType::F32);
  if (q.ndim != 4) throw_range(env, "q must have shape [batch, heads, T, dk], got " + shape_string(q));
  TensorView k = get_tensor(env, info[1], "k", DType::F32);
  check_same_shape(env, q, "q", k, "k");
  const int64_t batch = q.shape[0], heads = q.shape[1], T = q.shape[2], dk = q.shape[3];
  TensorView v = get_tensor(env, info[2], "v", DType::F32);
  if (v.ndim != 3 || v.shape[0] != batch || v.shape[1] != T || heads == 0 || v.shape[2] % heads != 0)
    throw_range(env, "v must have shape [" + std::to_string(batch) + ", " + std::to_string(T) +
                         ", heads * dv] ([batch, T, heads * dv] with heads = " + std::to_string(heads) + "), got " +
                         shape_string(v));
  const int64_t dv = v.shape[2] / heads;
  TensorView decay = get_tensor(env, info[3], "decay", DType::F32);
  if (decay.ndim != 1 || decay.shape[0] != heads)
    throw_range(env, "decay must have shape [" + std::to_string(heads) + "] (one log decay per head), got " + shape_string(decay));
  Napi::Object o = Napi::Object::New(env);
  if (!is_absent(info[4])) {
    if (!info[4].IsObject() || info[4].IsArray()) throw_type(env, "opts must be an object");
    o = info[4].As<Napi::Object>();
  }
  cpu::RetentionArgs a;
  std::string form = "parallel";
  if (!is_absent(o.Get("form"))) form = get_string(env, o.Get("form"), "opts.form");
  if (form == "parallel")
    a.form = cpu::RetentionForm::Parallel;
  else if (form == "recurrent")
    a.form = cpu::RetentionForm::Recurrent;
  else if (form == "chunkwise")
    a.form = cpu::RetentionForm::Chunkwise;
  else
    throw_range(env, "opts.form must be 'parallel', 'recurrent' or 'chunkwise', got '" + form + "'");
  if (a.form == cpu::RetentionForm::Chunkwise) {
    if (is_absent(o.Get("chunkSize"))) throw_type(env, "opts.chunkSize is required for the chunkwise form");
    a.chunk = get_int(env, o.Get("chunkSize"), "opts.chunkSize", 1, 1 << 16);
    if (T % a.chunk != 0)
      throw_range(env, "the chunkwise form needs T a multiple of opts.chunkSize (as upstream: pad at the end), got T = " +
                           std::to_string(T) + " and chunkSize " + std::to_string(a.chunk));
  }
  std::vector<Napi::Value> keep = {info[0], info[1], info[2], info[3]};
  const bool update = get_bool(env, o.Get("updateState"), "opts.updateState", false);
  Napi::Value st = o.Get("state");
  if (update && (a.form != cpu::RetentionForm::Recurrent || is_absent(st)))
    throw_range(env, "opts.updateState needs the recurrent form and an opts.state to update");
  TensorView kv_view, scale_view;
  if (!is_absent(st)) {
    if (a.form != cpu::RetentionForm::Recurrent) throw_range(env, "opts.state is accepted by the recurrent form only");
    if (!st.IsObject() || st.IsArray()) throw_type(env, "opts.state must be an object {kv, scale}");
    Napi::Object so = st.As<Napi::Object>();
    TensorView kv = get_tensor(env, so.Get("kv"), "opts.state.kv", DType::F32);
    if (kv.ndim != 4 || kv.shape[0] != batch || kv.shape[1] != heads || kv.shape[2] != dv || kv.shape[3] != dk)
      throw_range(env, "opts.state.kv must have shape [" + std::to_string(batch) + ", " + std::to_string(heads) + ", " +
                           std::to_string(dv) + ", " + std::to_string(dk) + "] ([batch, heads, dv, dk]), got " + shape_string(kv));
    TensorView sc = get_tensor(env, so.Get("scale"), "opts.state.scale", DType::F32);
    if (sc.ndim != 1 || sc.shape[0] != heads)
      throw_range(env, "opts.state.scale must have shape [" + std::to_string(heads) + "] ([heads]), got " + shape_string(sc));
    if (update) {
      for (const TensorView* in : {&q, &k, &v, &decay})
        if (overlaps(kv, *in) || overlaps(sc, *in)) throw_range(env, "opts.state must not share memory with an input when updated in place");
      if (overlaps(kv, sc)) throw_range(env, "opts.state.kv and opts.state.scale must not share memory when updated in place");
    }
    a.kv_in = kv.ptr<float>();
    a.scale_in = sc.ptr<float>();
    kv_view = kv;
    scale_view = sc;
    keep.push_back(so.Get("kv"));
    keep.push_back(so.Get("scale"));
  }
  const int64_t oshape[4] = {batch, T, heads, dv};
  TensorView outv;
  Napi::Value out_obj = o.Get("out");
  if (!optional_out(env, out_obj, oshape, 4, {q, k, v, decay}, &outv)) {
    NewTensor out = new_tensor(env, DType::F32, oshape, 4);
    outv = out.view;
    out_obj = out.object;
  }
  if (a.kv_in && (overlaps(outv, kv_view) || overlaps(outv, scale_view)))
    throw_range(env, "opts.out must not share memory with opts.state");
  keep.push_back(out_obj);
  Napi::Object result = Napi::Object::New(env);
  result.Set("out", out_obj);
  if (update) {
    a.kv_out = const_cast<float*>(a.kv_in);
    a.scale_out = const_cast<float*>(a.scale_in);
    result.Set("state", st);
  } else if (a.form == cpu::RetentionForm::Recurrent) {
    const int64_t kvshape[4] = {batch, heads, dv, dk};
    NewTensor kv = new_tensor(env, DType::F32, kvshape, 4);
    NewTensor sc = new_tensor(env, DType::F32, &heads, 1);
    a.kv_out = kv.view.ptr<float>();
    a.scale_out = sc.view.ptr<float>();
    keep.push_back(kv.object);
    keep.push_back(sc.object);
    Napi::Object state = Napi::Object::New(env);
    state.Set("kv", kv.object);
    state.Set("scale", sc.object);
    result.Set("state", state);
  } else {
    result.Set("state", env.Null());
  }
  a.q = q.ptr<float>();
  a.k = k.ptr<float>();
  a.v = v.ptr<float>();
  a.decay = decay.ptr<float>();
  a.out = outv.ptr<float>();
  a.batch = batch;
  a.heads = heads;
  a.T = T;
  a.dk = dk;
  a.dv = dv;
  return finish_op<Async>(env, "turboformer.retention", keep, result, [a] { cpu::retention_f32(a); });
}

void register_retention(Napi::Env env, Napi::Object exports) {
  exports.Set("retention", Napi::Function::New(env, Retention<false>, "retention"));
  exports.Set("retentionAsync", Napi::Function::New(env, Retention<true>, "retentionAsync"));
}

}  // namespace tf::napi
