// attention(q, k, v, opts) (+Async): flash attention, fp32 (native/cpu/attention/flash.h).
//
// q [B, Hq, Nq, D], k and v [B, Hkv, Nk, D] (layout 'bhnd', the default) or [B, N, H, D] (layout 'bnhd'),
// read in place. opts (all optional): layout, causal, scale, keyPaddingMask [B, Nk] (u8/i8/i32/i64, nonzero =
// attend), bias (f32, broadcastable to [B, Hq, Nq, Nk]), window [left, right] (non-negative integers or
// Infinity), returnLse. Returns out (q's shape and layout), or {out, lse} with lse [B, Hq, Nq] when returnLse.
//
// blockSparseAttention(q, k, v, layout, opts) (+Async): the same math over a block layout
// (native/cpu/attention/blocksparse.h). layout: u8/i8/i32/i64 [Hl, Nq/block, Nk/block] with Hl = 1 (shared by
// all query heads) or Hq, or [Nq/block, Nk/block]; nonzero = block present. opts.block (integer 8..128) is
// required; Nq and Nk must be multiples of it. Other opts: layout ('bhnd'/'bnhd'), causal, scale,
// keyPaddingMask, returnLse, as for attention (no bias, no window).
#include <cmath>
#include <memory>
#include <vector>

#include "../cpu/attention/blocksparse.h"
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

// The common part of both ops: q, k, v shapes and strides, scale, causal, key padding mask, output and lse.
// `pre` prefixes the option names in messages ("" for attention, "opts." for blockSparseAttention, whose
// layout argument would otherwise share a name with opts.layout). The caller applies `causal` (p.right).
struct AttnArgs {
  FlashParams p;
  bool bnhd = false, causal = false;
  std::shared_ptr<std::vector<uint8_t>> keep = std::make_shared<std::vector<uint8_t>>();
  Napi::Value maskv, result, out_obj, lse_obj;
};

static AttnArgs get_attn_args(const Napi::CallbackInfo& info, Napi::Object opts, const std::string& pre) {
  Napi::Env env = info.Env();
  AttnArgs a;
  if (Napi::Value lv = opts.Get("layout"); !lv.IsUndefined()) {
    std::string s = get_string(env, lv, pre + "layout");
    if (s == "bnhd")
      a.bnhd = true;
    else if (s != "bhnd")
      throw_range(env, pre + "layout must be 'bhnd' ([B, H, N, D]) or 'bnhd' ([B, N, H, D]), got '" + s + "'");
  }
  const bool bnhd = a.bnhd;
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
  FlashParams& p = a.p;
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
  a.causal = get_bool(env, opts.Get("causal"), pre + "causal", false);
  p.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));
  if (Napi::Value sv = opts.Get("scale"); !sv.IsUndefined()) {
    if (!sv.IsNumber()) throw_type(env, pre + "scale must be a number");
    double s = sv.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(s)) throw_range(env, pre + "scale must be a finite number");
    p.scale = static_cast<float>(s);
  }
  const bool want_lse = get_bool(env, opts.Get("returnLse"), pre + "returnLse", false);
  a.maskv = opts.Get("keyPaddingMask");
  if (!is_absent(a.maskv)) {
    TensorView m = get_tensor(env, a.maskv, "keyPaddingMask");
    if (m.dtype != DType::U8 && m.dtype != DType::I8 && m.dtype != DType::I32 && m.dtype != DType::I64)
      throw_type(env, std::string("keyPaddingMask must have dtype u8, i8, i32 or i64 (nonzero = attend, 0 = padding), got ") +
                          dtype_name(m.dtype));
    if (m.ndim != 2 || m.shape[0] != B || m.shape[1] != Nk)
      throw_range(env, "keyPaddingMask must have shape [B, Nk] = [" + std::to_string(B) + ", " + std::to_string(Nk) +
                           "], got " + shape_string(m));
    const int64_t n = B * Nk;
    a.keep->resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      bool on = false;
      switch (m.dtype) {
        case DType::U8: on = m.ptr<uint8_t>()[i] != 0; break;
        case DType::I8: on = m.ptr<int8_t>()[i] != 0; break;
        case DType::I32: on = m.ptr<int32_t>()[i] != 0; break;
        default: on = m.ptr<int64_t>()[i] != 0; break;
      }
      (*a.keep)[static_cast<size_t>(i)] = on ? 1 : 0;
    }
  }
  NewTensor out = new_tensor(env, DType::F32, q.shape.data(), 4);
  a.result = a.out_obj = out.object;
  a.lse_obj = env.Undefined();
  if (want_lse) {
    const int64_t ls[3] = {B, Hq, Nq};
    NewTensor lse = new_tensor(env, DType::F32, ls, 3);
    p.lse = lse.view.ptr<float>();
    a.lse_obj = lse.object;
    Napi::Object r = Napi::Object::New(env);
    r.Set("out", out.object);
    r.Set("lse", lse.object);
    a.result = r;
  }
  p.q = q.ptr<float>();
  p.k = k.ptr<float>();
  p.v = v.ptr<float>();
  p.out = out.view.ptr<float>();
  if (!a.keep->empty()) p.key_keep = a.keep->data();
  return a;
}

template <bool Async>
static Napi::Value Attention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Value optv = info[3];
  if (!is_absent(optv) && (!optv.IsObject() || optv.IsArray())) throw_type(env, "opts must be an object");
  Napi::Object opts = is_absent(optv) ? Napi::Object::New(env) : optv.As<Napi::Object>();
  // the options only attention has are checked first, then the common ones (which also make the outputs)
  int64_t left = kFlashUnbounded, right = kFlashUnbounded;
  if (Napi::Value wv = opts.Get("window"); !is_absent(wv)) {
    if (!wv.IsArray() || wv.As<Napi::Array>().Length() != 2)
      throw_type(env, "window must be an array [left, right] of two non-negative integers (or Infinity)");
    Napi::Array w = wv.As<Napi::Array>();
    left = get_window_side(env, w.Get(0u), "window[0]");
    right = get_window_side(env, w.Get(1u), "window[1]");
  }
  Napi::Value biasv = opts.Get("bias");
  TensorView bt;
  if (!is_absent(biasv)) bt = get_tensor(env, biasv, "bias", DType::F32);
  AttnArgs a = get_attn_args(info, opts, "");
  FlashParams& p = a.p;
  const int64_t B = p.B, Hq = p.Hq, Nq = p.Nq, Nk = p.Nk;
  p.left = left;
  p.right = a.causal ? std::min<int64_t>(right, 0) : right;
  if (!is_absent(biasv)) {
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
  // Empty inputs: q or k with a zero dim have a null data pointer; nothing is read then, but out and lse
  // (zeros / -inf for rows with no key) are still written.
  auto keep = a.keep;
  auto work = [p, keep] {
    if (p.Nk == 0 || p.Hkv == 0) {
      const int64_t n = p.B * p.Hq * p.Nq;
      if (p.out && p.D) std::fill(p.out, p.out + n * p.D, 0.0f);
      if (p.lse) std::fill(p.lse, p.lse + n, -INFINITY);
      return;
    }
    cpu::flash_attention_f32(p);
  };
  return finish_op<Async>(env, "turboformer.attention", {info[0], info[1], info[2], a.maskv, biasv, a.out_obj, a.lse_obj},
                          a.result, work);
}

template <bool Async>
static Napi::Value BlockSparseAttention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Value optv = info[4];
  if (!optv.IsObject() || optv.IsArray()) throw_type(env, "opts must be an object with at least opts.block");
  Napi::Object opts = optv.As<Napi::Object>();
  // layout and block are checked before the outputs are made
  TensorView lt = get_tensor(env, info[3], "layout");
  if (lt.dtype != DType::U8 && lt.dtype != DType::I8 && lt.dtype != DType::I32 && lt.dtype != DType::I64)
    throw_type(env, std::string("layout must have dtype u8, i8, i32 or i64 (nonzero = block present), got ") +
                        dtype_name(lt.dtype));
  Napi::Value blockv = opts.Get("block");
  if (blockv.IsUndefined()) throw_type(env, "opts.block (the block size, an integer in [8, 128]) is required");
  const int64_t block = get_int(env, blockv, "opts.block", kBlockSparseMinBlock, kBlockSparseMaxBlock);
  AttnArgs a = get_attn_args(info, opts, "opts.");
  BlockSparseParams bp;
  bp.f = a.p;
  if (a.causal) bp.f.right = 0;
  bp.block = block;
  const FlashParams& p = bp.f;
  if (p.Nq % block != 0)
    throw_range(env, "q's sequence length Nq = " + std::to_string(p.Nq) + " must be a multiple of opts.block = " +
                         std::to_string(block) + " (pad it)");
  if (p.Nk % block != 0)
    throw_range(env, "k's and v's sequence length Nk = " + std::to_string(p.Nk) + " must be a multiple of opts.block = " +
                         std::to_string(block) + " (pad it)");
  const int64_t nqb = p.Nq / block, nkb = p.Nk / block;
  int64_t lh = 1;
  if (lt.ndim == 3 && (lt.shape[0] == 1 || lt.shape[0] == p.Hq) && lt.shape[1] == nqb && lt.shape[2] == nkb)
    lh = lt.shape[0];
  else if (!(lt.ndim == 2 && lt.shape[0] == nqb && lt.shape[1] == nkb))
    throw_range(env, "layout must have shape [H, Nq/block, Nk/block] = [" + std::to_string(p.Hq) + ", " +
                         std::to_string(nqb) + ", " + std::to_string(nkb) + "] (or [1, " + std::to_string(nqb) + ", " +
                         std::to_string(nkb) + "] shared by all heads), got " + shape_string(lt));
  // per-row lists of present key blocks, read once on the JS thread
  auto row_start = std::make_shared<std::vector<int64_t>>(static_cast<size_t>(lh * nqb + 1), 0);
  auto cols = std::make_shared<std::vector<int32_t>>();
  for (int64_t r = 0; r < lh * nqb; ++r) {
    for (int64_t c = 0; c < nkb; ++c) {
      const int64_t i = r * nkb + c;
      bool on = false;
      switch (lt.dtype) {
        case DType::U8: on = lt.ptr<uint8_t>()[i] != 0; break;
        case DType::I8: on = lt.ptr<int8_t>()[i] != 0; break;
        case DType::I32: on = lt.ptr<int32_t>()[i] != 0; break;
        default: on = lt.ptr<int64_t>()[i] != 0; break;
      }
      if (on) cols->push_back(static_cast<int32_t>(c));
    }
    (*row_start)[static_cast<size_t>(r + 1)] = static_cast<int64_t>(cols->size());
  }
  bp.layout_heads = lh;
  bp.row_start = row_start->data();
  bp.cols = cols->data();
  auto keep = a.keep;
  auto work = [bp, keep, row_start, cols] {
    const FlashParams& f = bp.f;
    if (f.Nk == 0 || f.Hkv == 0 || f.Nq == 0) {
      const int64_t n = f.B * f.Hq * f.Nq;
      if (f.out && f.D) std::fill(f.out, f.out + n * f.D, 0.0f);
      if (f.lse) std::fill(f.lse, f.lse + n, -INFINITY);
      return;
    }
    cpu::block_sparse_attention_f32(bp);
  };
  return finish_op<Async>(env, "turboformer.blockSparseAttention",
                          {info[0], info[1], info[2], info[3], a.maskv, a.out_obj, a.lse_obj}, a.result, work);
}

void register_attention(Napi::Env env, Napi::Object exports) {
  exports.Set("attention", Napi::Function::New(env, Attention<false>, "attention"));
  exports.Set("attentionAsync", Napi::Function::New(env, Attention<true>, "attentionAsync"));
  exports.Set("blockSparseAttention", Napi::Function::New(env, BlockSparseAttention<false>, "blockSparseAttention"));
  exports.Set("blockSparseAttentionAsync",
              Napi::Function::New(env, BlockSparseAttention<true>, "blockSparseAttentionAsync"));
}

}  // namespace tf::napi
