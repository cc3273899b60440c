// attention(q, k, v, opts) (+Async): flash attention, fp32 (native/cpu/attention/flash.h).
//
// q [B, Hq, Nq, D], k and v [B, Hkv, Nk, D] (layout 'bhnd', the default) or [B, N, H, D] (layout 'bnhd'),
// read in place. opts (all optional): layout, causal, scale, keyPaddingMask [B, Nk] (u8/i8/i32/i64, nonzero =
// attend), bias (f32, broadcastable to [B, Hq, Nq, Nk]), window [left, right] (non-negative integers or
// Infinity), returnLse. Returns out (q's shape and layout), or {out, lse} with lse [B, Hq, Nq] when returnLse.
#include <cmath>
#include <memory>
#include <vector>

#include "../cpu/attention/flash.h"
#include "common.h"
#include "op_helpers.h"

namespace tf::napi {

static constexpr int64_t kMaxHeadDim = 256;

// One side of the window: a non-negative integer, or Infinity (no limit).
static int64_t get_window_side(Napi::Env env, Napi::Value v, const std::string& name) {
  if (!v.IsNumber()) throw_type(env, name + " must be a non-negative integer or Infinity");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d == INFINITY) return kFlashUnbounded;
  if (std::isnan(d) || d != std::floor(d)) throw_type(env, name + " must be a non-negative integer or Infinity");
  if (d < 0) throw_range(env, name + " must be a non-negative integer or Infinity, got " + std::to_string(static_cast<int64_t>(d)));
  return d >= static_cast<double>(kFlashUnbounded) ? kFlashUnbounded : static_cast<int64_t>(d);
}

template <bool Async>
static Napi::Value Attention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Value optv = info[3];
  if (!is_absent(optv) && (!optv.IsObject() || optv.IsArray())) throw_type(env, "opts must be an object");
  Napi::Object opts = is_absent(optv) ? Napi::Object::New(env) : optv.As<Napi::Object>();

  bool bnhd = false;
  if (Napi::Value lv = opts.Get("layout"); !lv.IsUndefined()) {
    std::string s = get_string(env, lv, "layout");
    if (s == "bnhd")
      bnhd = true;
    else if (s != "bhnd")
      throw_range(env, "layout must be 'bhnd' ([B, H, N, D]) or 'bnhd' ([B, N, H, D]), got '" + s + "'");
  }
  const char* form = bnhd ? "[B, N, H, D] (layout 'bnhd')" : "[B, H, N, D] (layout 'bhnd')";

  TensorView q = get_tensor(env, info[0], "q", DType::F32);
  TensorView k = get_tensor(env, info[1], "k", DType::F32);
  TensorView v = get_tensor(env, info[2], "v", DType::F32);
  for (auto [t, n] : {std::pair<const TensorView*, const char*>{&q, "q"}, {&k, "k"}, {&v, "v"}})
    if (t->ndim != 4)
      throw_range(env, std::string(n) + " must have 4 dimensions " + form + ", got shape " + shape_string(*t));
  check_same_shape(env, k, "k", v, "v");
  const int hd = bnhd ? 2 : 1, nd = bnhd ? 1 : 2;
  const int64_t B = q.shape[0], Hq = q.shape[hd], Nq = q.shape[nd], D = q.shape[3];
  const int64_t Hkv = k.shape[hd], Nk = k.shape[nd];
  if (k.shape[0] != B)
    throw_range(env, "k and v must have q's batch size " + std::to_string(B) + ", got shape " + shape_string(k));
  if (k.shape[3] != D)
    throw_range(env, "k and v must have q's head dim D = " + std::to_string(D) + ", got " + std::to_string(k.shape[3]) +
                         " (q " + shape_string(q) + ", k " + shape_string(k) + ")");
  if (D < 1 || D > kMaxHeadDim)
    throw_range(env, "q's head dim D must be in [1, " + std::to_string(kMaxHeadDim) + "], got " + std::to_string(D));
  if (Hkv == 0 ? Hq != 0 : Hq % Hkv != 0)
    throw_range(env, "q's heads (" + std::to_string(Hq) + ") must be a multiple of k's and v's heads (" +
                         std::to_string(Hkv) + ")");

  FlashParams p;
  p.B = B, p.Hq = Hq, p.Hkv = Hkv, p.Nq = Nq, p.Nk = Nk, p.D = D;
  auto strides = [&](int64_t H, int64_t N, int64_t& sb, int64_t& sh, int64_t& sn) {
    sb = H * N * D;
    sh = bnhd ? D : N * D;
    sn = bnhd ? H * D : D;
  };
  strides(Hq, Nq, p.q_sb, p.q_sh, p.q_sn);
  strides(Hkv, Nk, p.k_sb, p.k_sh, p.k_sn);
  strides(Hkv, Nk, p.v_sb, p.v_sh, p.v_sn);
  strides(Hq, Nq, p.o_sb, p.o_sh, p.o_sn);

  const bool causal = get_bool(env, opts.Get("causal"), "causal", false);
  p.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));
  if (Napi::Value sv = opts.Get("scale"); !sv.IsUndefined()) {
    if (!sv.IsNumber()) throw_type(env, "scale must be a number");
    double s = sv.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(s)) throw_range(env, "scale must be a finite number");
    p.scale = static_cast<float>(s);
  }
  if (Napi::Value wv = opts.Get("window"); !is_absent(wv)) {
    if (!wv.IsArray() || wv.As<Napi::Array>().Length() != 2)
      throw_type(env, "window must be an array [left, right] of two non-negative integers (or Infinity)");
    Napi::Array w = wv.As<Napi::Array>();
    p.left = get_window_side(env, w.Get(0u), "window[0]");
    p.right = get_window_side(env, w.Get(1u), "window[1]");
  }
  if (causal) p.right = std::min<int64_t>(p.right, 0);
  const bool want_lse = get_bool(env, opts.Get("returnLse"), "returnLse", false);

  Napi::Value maskv = opts.Get("keyPaddingMask");
  auto keep = std::make_shared<std::vector<uint8_t>>();
  if (!is_absent(maskv)) {
    TensorView m = get_tensor(env, maskv, "keyPaddingMask");
    if (m.dtype != DType::U8 && m.dtype != DType::I8 && m.dtype != DType::I32 && m.dtype != DType::I64)
      throw_type(env, std::string("keyPaddingMask must have dtype u8, i8, i32 or i64 (nonzero = attend, 0 = padding), got ") +
                          dtype_name(m.dtype));
    if (m.ndim != 2 || m.shape[0] != B || m.shape[1] != Nk)
      throw_range(env, "keyPaddingMask must have shape [B, Nk] = [" + std::to_string(B) + ", " + std::to_string(Nk) +
                           "], got " + shape_string(m));
    // Read once on the JS thread into bytes ([B, Nk]: linear in the length, never Nq × Nk).
    const int64_t n = B * Nk;
    keep->resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      bool on = false;
      switch (m.dtype) {
        case DType::U8: on = m.ptr<uint8_t>()[i] != 0; break;
        case DType::I8: on = m.ptr<int8_t>()[i] != 0; break;
        case DType::I32: on = m.ptr<int32_t>()[i] != 0; break;
        default: on = m.ptr<int64_t>()[i] != 0; break;
      }
      (*keep)[static_cast<size_t>(i)] = on ? 1 : 0;
    }
  }

  Napi::Value biasv = opts.Get("bias");
  if (!is_absent(biasv)) {
    TensorView bt = get_tensor(env, biasv, "bias", DType::F32);
    const int64_t full[4] = {B, Hq, Nq, Nk};
    if (bt.ndim > 4)
      throw_range(env, "bias of shape " + shape_string(bt) + " does not broadcast to [B, Hq, Nq, Nk] = " +
                           shape_string(full, 4) + " (more than 4 dimensions)");
    int64_t st[4] = {0, 0, 0, 0};
    int64_t acc = 1;
    for (int i = 3; i >= 0; --i) {
      const int ib = i - (4 - bt.ndim);
      const int64_t d = ib >= 0 ? bt.shape[ib] : 1;
      if (d != 1 && d != full[i])
        throw_range(env, "bias of shape " + shape_string(bt) + " does not broadcast to [B, Hq, Nq, Nk] = " +
                             shape_string(full, 4) + " (axis -" + std::to_string(4 - i) + ": " + std::to_string(d) +
                             " vs " + std::to_string(full[i]) + ")");
      st[i] = d == 1 ? 0 : acc;
      acc *= d;
    }
    p.bias = bt.ptr<float>();
    p.bias_sb = st[0], p.bias_sh = st[1], p.bias_sq = st[2], p.bias_sk = st[3];
  }

  NewTensor out = new_tensor(env, DType::F32, q.shape.data(), 4);
  Napi::Value result = out.object;
  Napi::Value lse_obj = env.Undefined();
  if (want_lse) {
    const int64_t ls[3] = {B, Hq, Nq};
    NewTensor lse = new_tensor(env, DType::F32, ls, 3);
    p.lse = lse.view.ptr<float>();
    lse_obj = lse.object;
    Napi::Object r = Napi::Object::New(env);
    r.Set("out", out.object);
    r.Set("lse", lse.object);
    result = r;
  }
  p.q = q.ptr<float>();
  p.k = k.ptr<float>();
  p.v = v.ptr<float>();
  p.out = out.view.ptr<float>();
  if (!keep->empty()) p.key_keep = keep->data();
  // Empty inputs: q or k with a zero dim have a null data pointer; nothing is read then, but out and lse
  // (zeros / -inf for rows with no key) are still written.
  auto work = [p, keep] {
    if (p.Nk == 0 || p.Hkv == 0) {
      const int64_t n = p.B * p.Hq * p.Nq;
      if (p.out && p.D) std::fill(p.out, p.out + n * p.D, 0.0f);
      if (p.lse) std::fill(p.lse, p.lse + n, -INFINITY);
      return;
    }
    cpu::flash_attention_f32(p);
  };
  return finish_op<Async>(env, "turboformer.attention", {info[0], info[1], info[2], maskv, biasv, out.object, lse_obj},
                          result, work);
}

void register_attention(Napi::Env env, Napi::Object exports) {
  exports.Set("attention", Napi::Function::New(env, Attention<false>, "attention"));
  exports.Set("attentionAsync", Napi::Function::New(env, Attention<true>, "attentionAsync"));
}

}  // namespace tf::napi
