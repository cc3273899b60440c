// linformerAttention(q, k, v, projK, projV, opts) (+Async): Linformer attention, fp32
// (native/cpu/linformer/linformer.h).
//
// q [B, H, Nq, D]; k, v [B, Hkv, Nk, D] with H a multiple of Hkv (Hkv = 1: one key/value head); projK [n_max, kp]
// with n_max >= Nk (its first Nk rows are used); projV the same shape, or null/undefined to share projK.
// opts (optional): scale (default D^-1/2), out (an existing f32 [B, H, Nq, D] tensor written in place and returned;
// it must not share memory with any input). Returns [B, H, Nq, D].
#include <cmath>
#include <string>

#include "../cpu/linformer/linformer.h"
#include "common.h"
#include "op_helpers.h"

namespace tf::napi {

static constexpr int64_t kLinformerMaxHeadDim = 256;  // the flash kernel's limit

template <bool Async>
static Napi::Value LinformerAttention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Value optv = info[5];
  if (!is_absent(optv) && (!optv.IsObject() || optv.IsArray())) throw_type(env, "opts must be an object");
  Napi::Object opts = is_absent(optv) ? Napi::Object::New(env) : optv.As<Napi::Object>();
  TensorView q = get_tensor(env, info[0], "q", DType::F32);
  TensorView k = get_tensor(env, info[1], "k", DType::F32);
  TensorView v = get_tensor(env, info[2], "v", DType::F32);
  for (auto [t, n] : {std::pair<const TensorView*, const char*>{&q, "q"}, {&k, "k"}, {&v, "v"}})
    if (t->ndim != 4) throw_range(env, std::string(n) + " must have 4 dimensions [B, H, N, D], got shape " + shape_string(*t));
  check_same_shape(env, k, "k", v, "v");
  cpu::LinformerParams p;
  p.B = q.shape[0], p.H = q.shape[1], p.Nq = q.shape[2], p.D = q.shape[3];
  p.Hkv = k.shape[1], p.Nk = k.shape[2];
  if (k.shape[0] != p.B)
    throw_range(env, "k and v must have q's batch size " + std::to_string(p.B) + ", got shape " + shape_string(k));
  if (k.shape[3] != p.D)
    throw_range(env, "k and v must have q's head dim D = " + std::to_string(p.D) + ", got shape " + shape_string(k));
  if (p.D < 1 || p.D > kLinformerMaxHeadDim)
    throw_range(env, "q's head dim D must be in [1, " + std::to_string(kLinformerMaxHeadDim) + "], got " + std::to_string(p.D));
  if (p.Hkv == 0 ? p.H != 0 : p.H % p.Hkv != 0)
    throw_range(env, "q's heads (" + std::to_string(p.H) + ") must be a multiple of k's and v's heads (" +
                         std::to_string(p.Hkv) + ")");
  TensorView pk = get_tensor(env, info[3], "projK", DType::F32), pv;
  if (pk.ndim != 2) throw_range(env, "projK must have 2 dimensions [maxSeqLen, k], got shape " + shape_string(pk));
  if (pk.shape[1] < 1) throw_range(env, "projK must project to at least one position, got shape " + shape_string(pk));
  if (pk.shape[0] < p.Nk)
    throw_range(env, "projK has " + std::to_string(pk.shape[0]) + " rows (the maximum sequence length), shorter than k's length " +
                         std::to_string(p.Nk));
  p.Kp = pk.shape[1];
  p.proj_k = pk.ptr<float>();
  if (!is_absent(info[4])) {
    pv = get_tensor(env, info[4], "projV", DType::F32);
    check_same_shape(env, pk, "projK", pv, "projV");
    p.proj_v = pv.ptr<float>();
  }
  if (p.B * p.Hkv > (int64_t{1} << 40) / (p.Kp * p.D)) throw_range(env, "k's heads times projK's columns are too large");
  p.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(p.D)));
  if (Napi::Value sv = opts.Get("scale"); !sv.IsUndefined()) {
    if (!sv.IsNumber()) throw_type(env, "scale must be a number");
    double s = sv.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(s)) throw_range(env, "scale must be finite");
    p.scale = static_cast<float>(s);
  }
  TensorView out;
  Napi::Value out_obj = opts.Get("out");
  out_obj = out_or_new(env, out_obj, q.shape.data(), 4, {q, k, v, pk, pv}, &out);
  p.q = q.ptr<float>(), p.k = k.ptr<float>(), p.v = v.ptr<float>(), p.out = out.ptr<float>();
  auto work = [p] { cpu::linformer_attention_f32(p); };
  return finish_op<Async>(env, "turboformer.linformerAttention",
                          {info[0], info[1], info[2], info[3], info[4], out_obj}, out_obj, work);
}

void register_linformer(Napi::Env env, Napi::Object exports) {
  exports.Set("linformerAttention", Napi::Function::New(env, LinformerAttention<false>, "linformerAttention"));
  exports.Set("linformerAttentionAsync", Napi::Function::New(env, LinformerAttention<true>, "linformerAttentionAsync"));
}

}  // namespace tf::napi
