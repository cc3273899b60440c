// attention(q, k, v, opts) (+Async): flash attention, fp32 (native/cpu/attention/flash.h).
//
// q [B, Hq, Nq, D], k and v [B, Hkv, Nk, D] (layout 'bhnd', the default) or [B, N, H, D] (layout 'bnhd'),
// read in place (strided keys and values read by several work items are repacked once: flash.h flash_pack_kv). opts (all optional): layout, causal, scale, keyPaddingMask [B, Nk] (u8/i8/i32/i64, nonzero =
// attend), bias (f32, broadcastable to [B, Hq, Nq, Nk]), window [left, right] (non-negative integers or
// Infinity), returnLse. Returns out (q's shape and layout), or {out, lse} with lse [B, Hq, Nq] when returnLse.
//
// blockSparseAttention(q, k, v, layout, opts) (+Async): the same math over a block layout
// (native/cpu/attention/blocksparse.h). layout: u8/i8/i32/i64 [Hl, Nq/block, Nk/block] with Hl = 1 (shared by
// all query heads) or Hq, or [Nq/block, Nk/block]; nonzero = block present. opts.block (integer 8..128) is
// required; Nq and Nk must be multiples of it. Other opts: layout ('bhnd'/'bnhd'), causal, scale,
// keyPaddingMask, returnLse, as for attention (no bias, no window).
//
// Every op of this file (these two, longformerAttention, bigbirdAttention) takes opts.out: an existing f32 tensor of q's shape (the
// result's) written in place and returned (the `out` of {out, lse}); it must not share memory with any input.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <type_traits>
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
  TensorView out;  // opts.out when given, else the fresh output
};

// opts.out must not share memory with the inputs the common part does not see (bias, layout, tables, projections).
static void check_out_disjoint(Napi::Env env, const TensorView& out, std::initializer_list<TensorView> inputs) {
  for (const TensorView& in : inputs)
    if (overlaps(out, in)) throw_range(env, "opts.out must not share memory with an input");
}

static AttnArgs get_attn_args(const Napi::CallbackInfo& info, Napi::Object opts, const std::string& pre,
                              const std::string& mask_name = "keyPaddingMask") {
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
  a.maskv = opts.Get(mask_name);
  TensorView mt;
  if (!is_absent(a.maskv)) {
    *a.keep = read_mask(env, a.maskv, mask_name, B, Nk, "nonzero = attend, 0 = padding", "[B, Nk]");
    mt = get_tensor(env, a.maskv, mask_name);
  }
  a.out_obj = opts.Get("out");
  a.out_obj = out_or_new(env, a.out_obj, q.shape.data(), 4, {q, k, v, mt}, &a.out);
  a.result = a.out_obj;
  a.lse_obj = env.Undefined();
  if (want_lse) {
    const int64_t ls[3] = {B, Hq, Nq};
    NewTensor lse = new_tensor(env, DType::F32, ls, 3);
    p.lse = lse.view.ptr<float>();
    a.lse_obj = lse.object;
    Napi::Object r = Napi::Object::New(env);
    r.Set("out", a.out_obj);
    r.Set("lse", lse.object);
    a.result = r;
  }
  p.q = q.ptr<float>();
  p.k = k.ptr<float>();
  p.v = v.ptr<float>();
  p.out = a.out.ptr<float>();
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
    check_out_disjoint(env, a.out, {bt});
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
  check_out_disjoint(env, a.out, {lt});
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
  // one tight loop per dtype (the scan is part of every call: nb² entries per layout head)
  // Layouts are mostly zeros: entries of one byte are skipped 8 at a time while their 64-bit word is zero (a block-16
  // layout at N 4096 has 65536 entries per head; one branch per entry took ~2.5% of such a call).
  auto scan = [&](auto* data) {
    using T = std::remove_cv_t<std::remove_pointer_t<decltype(data)>>;
    for (int64_t r = 0; r < lh * nqb; ++r) {
      const T* row = data + r * nkb;
      int64_t c = 0;
      while (c < nkb) {
        if constexpr (sizeof(T) == 1) {
          uint64_t word;
          if (c + 8 <= nkb && (std::memcpy(&word, row + c, 8), word == 0)) {
            c += 8;
            continue;
          }
        }
        if (row[c] != 0) cols->push_back(static_cast<int32_t>(c));
        ++c;
      }
      (*row_start)[static_cast<size_t>(r + 1)] = static_cast<int64_t>(cols->size());
    }
  };
  switch (lt.dtype) {
    case DType::U8: scan(lt.ptr<uint8_t>()); break;
    case DType::I8: scan(lt.ptr<int8_t>()); break;
    case DType::I32: scan(lt.ptr<int32_t>()); break;
    default: scan(lt.ptr<int64_t>()); break;
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

// Options that the exact-attention ops do not take (they would change upstream's math).
static void reject_opts(Napi::Env env, Napi::Object opts, const char* op, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (!is_absent(opts.Get(n)))
      throw_type(env, std::string("opts.") + n + " is not an option of " + op + " (it would change upstream's math)");
}

// Zeroes the output rows of padded queries (both upstreams multiply or fill them with zeros).
static void zero_padded_rows(const FlashParams& p, const std::vector<uint8_t>& qkeep) {
  if (qkeep.empty()) return;
  for (int64_t b = 0; b < p.B; ++b)
    for (int64_t i = 0; i < p.Nq; ++i)
      if (!qkeep[static_cast<size_t>(b * p.Nq + i)])
        for (int64_t h = 0; h < p.Hq; ++h)
          std::fill_n(p.out + b * p.o_sb + h * p.o_sh + i * p.o_sn, p.D, 0.0f);
}

// Query rows per block row of Longformer's band (the key blocks of a row cover its rows' windows).
static constexpr int64_t kLongformerBlock = 64;

template <bool Async>
static Napi::Value LongformerAttention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Value optv = info[3];
  if (!optv.IsObject() || optv.IsArray()) throw_type(env, "opts must be an object with at least opts.window");
  Napi::Object opts = optv.As<Napi::Object>();
  reject_opts(env, opts, "longformerAttention", {"causal", "returnLse", "keyPaddingMask", "bias"});
  Napi::Value wv = opts.Get("window");
  if (wv.IsUndefined()) throw_type(env, "opts.window (the attention window, a positive even integer) is required");
  const int64_t window = get_int(env, wv, "opts.window", 2, int64_t{1} << 40);
  if (window % 2 != 0) throw_range(env, "opts.window must be even (upstream's attention_window), got " + std::to_string(window));
  AttnArgs a = get_attn_args(info, opts, "opts.", "attentionMask");
  const FlashParams& p = a.p;
  if (p.Nq != p.Nk)
    throw_range(env, "q and k must have the same sequence length (self-attention), got Nq = " + std::to_string(p.Nq) +
                         " and Nk = " + std::to_string(p.Nk));
  const int64_t B = p.B, N = p.Nq, D = p.D;
  std::vector<uint8_t> pad = a.keep->empty() ? std::vector<uint8_t>(static_cast<size_t>(B * N), 1) : *a.keep;
  // global tokens: upstream merges the masks (attention_mask · (global + 1)), so a padded token is never global
  Napi::Value gmv = opts.Get("globalAttentionMask");
  std::vector<uint8_t> glob(static_cast<size_t>(B * N), 0);
  if (!is_absent(gmv)) {
    glob = read_mask(env, gmv, "opts.globalAttentionMask", B, N, "nonzero = global token");
    check_out_disjoint(env, a.out, {get_tensor(env, gmv, "opts.globalAttentionMask")});
  }
  auto gstart = std::make_shared<std::vector<int64_t>>(static_cast<size_t>(B + 1), 0);
  auto gkeys = std::make_shared<std::vector<int32_t>>();
  int64_t gmax = 0;
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t i = 0; i < N; ++i)
      if (glob[static_cast<size_t>(b * N + i)] && pad[static_cast<size_t>(b * N + i)]) gkeys->push_back(static_cast<int32_t>(i));
    (*gstart)[static_cast<size_t>(b + 1)] = static_cast<int64_t>(gkeys->size());
    gmax = std::max(gmax, (*gstart)[static_cast<size_t>(b + 1)] - (*gstart)[static_cast<size_t>(b)]);
  }
  // the global projections, needed when some token is global
  const char* gnames[3] = {"globalQ", "globalK", "globalV"};
  Napi::Value gv[3];
  TensorView gt[3];
  const TensorView* like[3] = {nullptr, nullptr, nullptr};
  TensorView qv = get_tensor(env, info[0], "q", DType::F32), kv = get_tensor(env, info[1], "k", DType::F32);
  like[0] = &qv, like[1] = &kv, like[2] = &kv;
  for (int i = 0; i < 3; ++i) {
    gv[i] = opts.Get(gnames[i]);
    if (is_absent(gv[i])) {
      if (gmax > 0)
        throw_type(env, std::string("opts.") + gnames[i] +
                            " is required when some token is global (the query_global / key_global / value_global projections)");
      continue;
    }
    gt[i] = get_tensor(env, gv[i], std::string("opts.") + gnames[i], DType::F32);
    bool same = gt[i].ndim == like[i]->ndim;
    for (int d = 0; same && d < gt[i].ndim; ++d) same = gt[i].shape[d] == like[i]->shape[d];
    if (!same)
      throw_range(env, std::string("opts.") + gnames[i] + " must have the shape of " + (i == 0 ? "q " : "k ") +
                           shape_string(*like[i]) + ", got " + shape_string(gt[i]));
    check_out_disjoint(env, a.out, {gt[i]});
  }
  // the local band: block rows of kLongformerBlock queries, each with the key blocks that cover its windows; the
  // window (w/2 each side) masks per query; padded and global keys are left out of the band (upstream adds
  // finfo.min to their band scores, which underflows to exactly zero), global keys are added once as extra keys
  BlockSparseParams bp;
  bp.f = p;
  const int64_t w = window / 2;
  bp.f.left = bp.f.right = w;
  const int64_t blk = std::max<int64_t>(1, std::min(kLongformerBlock, N));
  bp.block = blk;
  const int64_t nqb = (N + blk - 1) / blk;
  auto row_start = std::make_shared<std::vector<int64_t>>(static_cast<size_t>(nqb + 1), 0);
  auto cols = std::make_shared<std::vector<int32_t>>();
  for (int64_t r = 0; r < nqb; ++r) {
    const int64_t lo = std::max<int64_t>(0, r * blk - w) / blk;
    const int64_t hi = (std::min(N, (r + 1) * blk) - 1 + std::min(w, N)) / blk;
    for (int64_t c = lo; c <= std::min(hi, nqb - 1); ++c) cols->push_back(static_cast<int32_t>(c));
    (*row_start)[static_cast<size_t>(r + 1)] = static_cast<int64_t>(cols->size());
  }
  bp.row_start = row_start->data();
  bp.cols = cols->data();
  auto local_keep = std::make_shared<std::vector<uint8_t>>(static_cast<size_t>(B * N));
  for (size_t i = 0; i < local_keep->size(); ++i) (*local_keep)[i] = pad[i] && !glob[i];
  bp.f.key_keep = local_keep->data();
  if (gmax > 0) {
    bp.extra_start = gstart->data();
    bp.extra_keys = gkeys->data();
  }
  // the global rows: the global query against every unpadded key with the global key and value projections
  FlashParams fg;
  auto pad_keep = std::make_shared<std::vector<uint8_t>>(pad);
  if (gmax > 0) {
    fg = p;
    fg.q = gt[0].ptr<float>();
    fg.k = gt[1].ptr<float>();
    fg.v = gt[2].ptr<float>();
    fg.Nq = gmax;
    fg.q_sb = p.Hq * gmax * D, fg.q_sh = gmax * D, fg.q_sn = D;  // packed [B, H, G, D] (set in the work)
    fg.o_sb = fg.q_sb, fg.o_sh = fg.q_sh, fg.o_sn = D;
    fg.key_keep = pad_keep->data();
    fg.lse = nullptr;
  }
  std::vector<uint8_t> qkeep = a.keep->empty() ? std::vector<uint8_t>() : *a.keep;
  auto work = [bp, fg, gmax, gstart, gkeys, row_start, cols, local_keep, pad_keep, qkeep] {
    const FlashParams& f = bp.f;
    if (f.B == 0 || f.Nq == 0 || f.Hq == 0 || f.D == 0) return;
    cpu::block_sparse_attention_f32(bp);
    if (gmax > 0) {
      const int64_t n = f.B * f.Hq * gmax * f.D;
      std::vector<float> qg(static_cast<size_t>(n), 0.0f), og(static_cast<size_t>(n));
      FlashParams g = fg;
      const float* gq = g.q;
      for (int64_t b = 0; b < f.B; ++b)
        for (int64_t s = (*gstart)[b]; s < (*gstart)[b + 1]; ++s)
          for (int64_t h = 0; h < f.Hq; ++h)
            std::copy_n(gq + b * f.q_sb + h * f.q_sh + (*gkeys)[s] * f.q_sn, f.D,
                        qg.data() + ((b * f.Hq + h) * gmax + (s - (*gstart)[b])) * f.D);
      g.q = qg.data();
      g.out = og.data();
      cpu::flash_attention_f32(g);
      for (int64_t b = 0; b < f.B; ++b)
        for (int64_t s = (*gstart)[b]; s < (*gstart)[b + 1]; ++s)
          for (int64_t h = 0; h < f.Hq; ++h)
            std::copy_n(og.data() + ((b * f.Hq + h) * gmax + (s - (*gstart)[b])) * f.D, f.D,
                        f.out + b * f.o_sb + h * f.o_sh + (*gkeys)[s] * f.o_sn);
    }
    zero_padded_rows(f, qkeep);
  };
  return finish_op<Async>(env, "turboformer.longformerAttention",
                          {info[0], info[1], info[2], a.maskv, gmv, gv[0], gv[1], gv[2], a.out_obj}, a.result, work);
}

template <bool Async>
static Napi::Value BigBirdAttention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Value optv = info[3];
  if (!optv.IsObject() || optv.IsArray()) throw_type(env, "opts must be an object with at least opts.block");
  Napi::Object opts = optv.As<Napi::Object>();
  reject_opts(env, opts, "bigbirdAttention", {"causal", "returnLse", "keyPaddingMask", "bias", "window"});
  Napi::Value blockv = opts.Get("block");
  if (blockv.IsUndefined()) throw_type(env, "opts.block (the block size, an integer in [1, 128]) is required");
  const int64_t block = get_int(env, blockv, "opts.block", 1, kBlockSparseMaxBlock);
  Napi::Value tv = opts.Get("randomTable"), rv = opts.Get("numRandomBlocks");
  int64_t r = -1;
  if (!is_absent(rv)) r = get_int(env, rv, "opts.numRandomBlocks", 0, int64_t{1} << 20);
  TensorView tt;
  const bool has_table = !is_absent(tv);
  if (has_table) {
    tt = get_tensor(env, tv, "opts.randomTable");
    if (tt.dtype != DType::I32 && tt.dtype != DType::I64)
      throw_type(env, std::string("opts.randomTable must have dtype i32 or i64, got ") + dtype_name(tt.dtype));
  }
  AttnArgs a = get_attn_args(info, opts, "opts.", "attentionMask");
  if (has_table) check_out_disjoint(env, a.out, {tt});
  const FlashParams& p = a.p;
  if (p.Nq != p.Nk)
    throw_range(env, "q and k must have the same sequence length (self-attention), got Nq = " + std::to_string(p.Nq) +
                         " and Nk = " + std::to_string(p.Nk));
  const int64_t N = p.Nq, H = p.Hq;
  if (N % block != 0)
    throw_range(env, "the sequence length N = " + std::to_string(N) + " must be a multiple of opts.block = " +
                         std::to_string(block) + " (pad it, as BigBirdModel does)");
  const int64_t nb = N / block;
  if (nb < 4)
    throw_range(env, "bigbirdAttention needs at least 4 blocks (N / opts.block), got " + std::to_string(nb) +
                         " (upstream falls back to full attention for short sequences: use attention())");
  if (has_table) {
    if (r < 0) r = tt.ndim == 3 ? tt.shape[2] : -1;
    if (tt.ndim != 3 || tt.shape[0] != H || tt.shape[1] != nb - 2 || tt.shape[2] != r)
      throw_range(env, "opts.randomTable must have shape [H, N/block - 2, numRandomBlocks] = [" + std::to_string(H) + ", " +
                           std::to_string(nb - 2) + ", " + (r < 0 ? std::string("r") : std::to_string(r)) + "], got " +
                           shape_string(tt));
  }
  if (r < 0) r = 3;  // upstream's default num_random_blocks
  // each head's key blocks per block row, as upstream gathers them (repeats kept), sorted
  auto row_start = std::make_shared<std::vector<int64_t>>(static_cast<size_t>(H * nb + 1), 0);
  auto cols = std::make_shared<std::vector<int32_t>>();
  std::vector<int32_t> row;
  for (int64_t h = 0; h < H; ++h) {
    for (int64_t qb = 0; qb < nb; ++qb) {
      row.clear();
      if (qb == 0 || qb == nb - 1) {
        for (int64_t c = 0; c < nb; ++c) row.push_back(static_cast<int32_t>(c));
      } else {
        if (qb == 1) row.insert(row.end(), {0, 1, 2, static_cast<int32_t>(nb - 1)});
        else if (qb == nb - 2) row.insert(row.end(), {0, static_cast<int32_t>(nb - 3), static_cast<int32_t>(nb - 2), static_cast<int32_t>(nb - 1)});
        else row.insert(row.end(), {0, static_cast<int32_t>(qb - 1), static_cast<int32_t>(qb), static_cast<int32_t>(qb + 1), static_cast<int32_t>(nb - 1)});
        for (int64_t k = 0; k < r; ++k) {
          int64_t c = 0;  // eval mode: upstream's all-zero table
          if (has_table) {
            const int64_t i = (h * (nb - 2) + qb - 1) * r + k;
            c = tt.dtype == DType::I32 ? tt.ptr<int32_t>()[i] : tt.ptr<int64_t>()[i];
            if (c < 0 || c >= nb)
              throw_range(env, "opts.randomTable[" + std::to_string(h) + "][" + std::to_string(qb - 1) + "][" + std::to_string(k) +
                                   "] = " + std::to_string(c) + " is not a key block in [0, " + std::to_string(nb) + ")");
          }
          row.push_back(static_cast<int32_t>(c));
        }
      }
      std::sort(row.begin(), row.end());
      cols->insert(cols->end(), row.begin(), row.end());
      (*row_start)[static_cast<size_t>(h * nb + qb + 1)] = static_cast<int64_t>(cols->size());
    }
  }
  BlockSparseParams bp;
  bp.f = p;
  bp.block = block;
  bp.layout_heads = H;
  bp.row_start = row_start->data();
  bp.cols = cols->data();
  std::vector<uint8_t> qkeep = a.keep->empty() ? std::vector<uint8_t>() : *a.keep;
  auto keep = a.keep;
  auto work = [bp, keep, row_start, cols, qkeep] {
    const FlashParams& f = bp.f;
    if (f.B == 0 || f.Hq == 0 || f.D == 0) return;
    cpu::block_sparse_attention_f32(bp);
    zero_padded_rows(f, qkeep);
  };
  return finish_op<Async>(env, "turboformer.bigbirdAttention", {info[0], info[1], info[2], a.maskv, tv, a.out_obj},
                          a.result, work);
}

void register_attention(Napi::Env env, Napi::Object exports) {
  exports.Set("attention", Napi::Function::New(env, Attention<false>, "attention"));
  exports.Set("attentionAsync", Napi::Function::New(env, Attention<true>, "attentionAsync"));
  exports.Set("blockSparseAttention", Napi::Function::New(env, BlockSparseAttention<false>, "blockSparseAttention"));
  exports.Set("blockSparseAttentionAsync",
              Napi::Function::New(env, BlockSparseAttention<true>, "blockSparseAttentionAsync"));
  exports.Set("longformerAttention", Napi::Function::New(env, LongformerAttention<false>, "longformerAttention"));
  exports.Set("longformerAttentionAsync", Napi::Function::New(env, LongformerAttention<true>, "longformerAttentionAsync"));
  exports.Set("bigbirdAttention", Napi::Function::New(env, BigBirdAttention<false>, "bigbirdAttention"));
  exports.Set("bigbirdAttentionAsync", Napi::Function::New(env, BigBirdAttention<true>, "bigbirdAttentionAsync"));
}

}  // namespace tf::napi
