// retention(q, k, v, decay, opts?) (+Async): RetNet retention (native/cpu/retention), torchscale's three forms.
//   q, k: f32 [batch, heads, T, dk]; v: f32 [batch, T, heads*dv]; decay: f32 [heads] (log decay per head)
//   opts: {form: 'parallel' (default) | 'recurrent' | 'chunkwise', chunkSize (chunkwise; T must be a multiple),
//          state: {kv [batch, heads, dv, dk], scale [heads]} (recurrent only; not modified unless updateState),
//          updateState (recurrent with state: write the new state over opts.state, in place, and return it),
//          out: an existing f32 [batch, T, heads, dv] tensor to write the result into}
// Returns {out [batch, T, heads, dv], state: {kv, scale} (recurrent) | null}.
// retentionStepPacked: lib's fast path of the recurrent form with updateState (below).
#include "../cpu/retention/retention.h"
#include "common.h"
#include "op_helpers.h"

namespace tf::napi {

// q, k, v, decay as the object form and the packed form read them (get(i, name): argument i as a tensor), checked in
// this order.
struct RetentionInputs {
  TensorView q, k, v, decay;
  int64_t batch = 0, heads = 0, T = 0, dk = 0, dv = 0;
};
template <class Get>
static RetentionInputs retention_inputs(Napi::Env env, Get get) {
  RetentionInputs r;
  TensorView& q = r.q;
  q = get(0, "q");
  if (q.ndim != 4) throw_range(env, "q must have shape [batch, heads, T, dk], got " + shape_string(q));
  r.k = get(1, "k");
  check_same_shape(env, q, "q", r.k, "k");
  const int64_t batch = q.shape[0], heads = q.shape[1], T = q.shape[2];
  r.batch = batch, r.heads = heads, r.T = T, r.dk = q.shape[3];
  TensorView& v = r.v;
  v = get(2, "v");
  if (v.ndim != 3 || v.shape[0] != batch || v.shape[1] != T || heads == 0 || v.shape[2] % heads != 0)
    throw_range(env, "v must have shape [" + std::to_string(batch) + ", " + std::to_string(T) +
                         ", heads * dv] ([batch, T, heads * dv] with heads = " + std::to_string(heads) + "), got " +
                         shape_string(v));
  r.dv = v.shape[2] / heads;
  r.decay = get(3, "decay");
  if (r.decay.ndim != 1 || r.decay.shape[0] != heads)
    throw_range(env, "decay must have shape [" + std::to_string(heads) + "] (one log decay per head), got " + shape_string(r.decay));
  return r;
}

// The recurrent state's kv shape.
static void check_kv(Napi::Env env, const RetentionInputs& in, const TensorView& kv) {
  if (kv.ndim != 4 || kv.shape[0] != in.batch || kv.shape[1] != in.heads || kv.shape[2] != in.dv || kv.shape[3] != in.dk)
    throw_range(env, "opts.state.kv must have shape [" + std::to_string(in.batch) + ", " + std::to_string(in.heads) + ", " +
                         std::to_string(in.dv) + ", " + std::to_string(in.dk) + "] ([batch, heads, dv, dk]), got " + shape_string(kv));
}

// The state's scale shape, and (updated in place) that the state shares no memory with an input or itself.
static void check_scale(Napi::Env env, const RetentionInputs& in, const TensorView& kv, const TensorView& sc, bool update) {
  if (sc.ndim != 1 || sc.shape[0] != in.heads)
    throw_range(env, "opts.state.scale must have shape [" + std::to_string(in.heads) + "] ([heads]), got " + shape_string(sc));
  if (update) {
    for (const TensorView* x : {&in.q, &in.k, &in.v, &in.decay})
      if (overlaps(kv, *x) || overlaps(sc, *x)) throw_range(env, "opts.state must not share memory with an input when updated in place");
    if (overlaps(kv, sc)) throw_range(env, "opts.state.kv and opts.state.scale must not share memory when updated in place");
  }
}

template <bool Async>
static Napi::Value Retention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const RetentionInputs in =
      retention_inputs(env, [&](int i, const char* name) { return get_tensor(env, info[i], name, DType::F32); });
  const TensorView &q = in.q, &k = in.k, &v = in.v, &decay = in.decay;
  const int64_t batch = in.batch, heads = in.heads, T = in.T, dk = in.dk, dv = in.dv;
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
    check_kv(env, in, kv);
    TensorView sc = get_tensor(env, so.Get("scale"), "opts.state.scale", DType::F32);
    check_scale(env, in, kv, sc, update);
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
  out_obj = out_or_new(env, out_obj, oshape, 4, {q, k, v, decay}, &outv);
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

// retentionStepPacked(records, q, k, v, decay, kv, scale, out): lib's fast path of the sync recurrent form with
// updateState (generation: opts {form: 'recurrent', state: {kv, scale}, updateState: true, out?}), in the packed form
// of common.h (the data arrays in this order; out undefined or null when absent). The checks, their order and their
// messages are the object form's. Returns out (the given data array, or a new tensor).
static Napi::Value RetentionStepPacked(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const PackedTensors p(env, info[0], 7);
  auto get = [&](int i, const char* name) { return p.get(static_cast<size_t>(i), info[1 + i], name, DType::F32); };
  const RetentionInputs in = retention_inputs(env, get);
  const TensorView kv = get(4, "opts.state.kv");
  check_kv(env, in, kv);
  const TensorView sc = get(5, "opts.state.scale");
  check_scale(env, in, kv, sc, true);
  const int64_t oshape[4] = {in.batch, in.T, in.heads, in.dv};
  TensorView outv;
  Napi::Value out_obj = info[7];
  if (!is_absent(out_obj)) {
    outv = get(6, "opts.out");
    check_out(env, outv, oshape, 4, {in.q, in.k, in.v, in.decay});
  } else {
    NewTensor out = new_tensor(env, DType::F32, oshape, 4);
    outv = out.view;
    out_obj = out.object;
  }
  if (overlaps(outv, kv) || overlaps(outv, sc)) throw_range(env, "opts.out must not share memory with opts.state");
  cpu::RetentionArgs a;
  a.form = cpu::RetentionForm::Recurrent;
  a.kv_in = kv.ptr<float>();
  a.scale_in = sc.ptr<float>();
  a.kv_out = kv.ptr<float>();
  a.scale_out = sc.ptr<float>();
  a.q = in.q.ptr<float>();
  a.k = in.k.ptr<float>();
  a.v = in.v.ptr<float>();
  a.decay = in.decay.ptr<float>();
  a.out = outv.ptr<float>();
  a.batch = in.batch;
  a.heads = in.heads;
  a.T = in.T;
  a.dk = in.dk;
  a.dv = in.dv;
  cpu::retention_f32(a);
  return out_obj;
}

void register_retention(Napi::Env env, Napi::Object exports) {
  exports.Set("retention", Napi::Function::New(env, Retention<false>, "retention"));
  exports.Set("retentionAsync", Napi::Function::New(env, Retention<true>, "retentionAsync"));
  exports.Set("retentionStepPacked", Napi::Function::New(env, RetentionStepPacked, "retentionStepPacked"));
}

}  // namespace tf::napi
