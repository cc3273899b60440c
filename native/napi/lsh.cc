// lshAttention(qk, v, rotations, opts) and localAttention(q, k, v, opts) (+Async): Reformer attention, fp32
// (native/cpu/attention/lsh.h), with the semantics of Hugging Face's LSHSelfAttention and LocalSelfAttention.
//
// lshAttention: qk, v [B, H, N, D]; rotations f32 [H, D, numHashes, Σ factors / 2] (upstream's random_rotations),
// or null when numBuckets is 1 or N <= chunkLength (no hashing). opts: numBuckets (a count, even or 1, or an
// array of even factors; required when N > chunkLength), numHashes (1), chunkLength (64), numChunksBefore (1),
// numChunksAfter (0), causal (false), attentionMask [B, N] (u8/i8/i32/i64, nonzero = attend), returnBuckets
// (false). Returns {out [B, H, N, D], buckets [B, H, numHashes, N] i32 or null}.
// localAttention: q, k, v [B, H, N, D]; opts: chunkLength (64), numChunksBefore (1), numChunksAfter (0), causal,
// attentionMask. Returns out [B, H, N, D].
// N must be a multiple of chunkLength when it is longer (upstream reshapes the sequence into chunks).
// Both take opts.out: an existing f32 [B, H, N, D] tensor written in place and returned (as `out` of lshAttention's
// result); it must not share memory with any input (rotations and attentionMask included).
#include <memory>
#include <string>
#include <vector>

#include "../cpu/attention/lsh.h"
#include "common.h"
#include "op_helpers.h"

namespace tf::napi {

static constexpr int64_t kLshMaxHeadDim = 256;

static Napi::Object lsh_opts(Napi::Env env, Napi::Value v) {
  if (!is_absent(v) && (!v.IsObject() || v.IsArray())) throw_type(env, "opts must be an object");
  return is_absent(v) ? Napi::Object::New(env) : v.As<Napi::Object>();
}

static int64_t opt_int(Napi::Env env, Napi::Object opts, const char* name, int64_t fallback, int64_t lo, int64_t hi) {
  Napi::Value v = opts.Get(name);
  if (v.IsUndefined()) return fallback;
  return get_int(env, v, name, lo, hi);
}

// Chunking options shared by both ops; checks that N is a multiple of the chunk length when longer.
struct ChunkOpts {
  int64_t chunk = 64, before = 1, after = 0;
  bool causal = false;
};
static ChunkOpts read_chunking(Napi::Env env, Napi::Object opts, int64_t N) {
  ChunkOpts c;
  c.chunk = opt_int(env, opts, "chunkLength", 64, 1, int64_t{1} << 30);
  c.before = opt_int(env, opts, "numChunksBefore", 1, 0, 1024);
  c.after = opt_int(env, opts, "numChunksAfter", 0, 0, 1024);
  c.causal = get_bool(env, opts.Get("causal"), "causal", false);
  if (N > c.chunk && N % c.chunk != 0)
    throw_range(env, "the sequence length N = " + std::to_string(N) + " must be a multiple of chunkLength = " +
                         std::to_string(c.chunk) + " (or at most chunkLength); pad the sequence first");
  return c;
}

// attentionMask [B, N] -> keep bytes (empty when absent).
static std::shared_ptr<std::vector<uint8_t>> read_keep(Napi::Env env, Napi::Value mv, int64_t B, int64_t N) {
  auto keep = std::make_shared<std::vector<uint8_t>>();
  if (!is_absent(mv)) *keep = read_mask(env, mv, "attentionMask", B, N, "nonzero = attend, 0 = padding");
  return keep;
}

// The output: opts.out (checked: x's shape, no memory shared with `inputs` nor the attentionMask) or a fresh tensor.
static Napi::Value get_out(Napi::Env env, Napi::Object opts, const TensorView& x, std::initializer_list<TensorView> inputs,
                           TensorView* out) {
  Napi::Value ov = opts.Get("out");
  Napi::Value result = out_or_new(env, ov, x.shape.data(), 4, inputs, out);
  if (!is_absent(ov)) {
    Napi::Value mv = opts.Get("attentionMask");
    if (!is_absent(mv) && overlaps(*out, get_tensor(env, mv, "attentionMask")))
      throw_range(env, "opts.out must not share memory with an input");
  }
  return result;
}

// numBuckets: a count (even, or 1) or an array of even factors.
static std::vector<int64_t> read_buckets(Napi::Env env, Napi::Value v) {
  std::vector<int64_t> f;
  constexpr int64_t kMax = int64_t{1} << 24;
  if (v.IsNumber()) {
    const int64_t n = get_int(env, v, "numBuckets", 1, kMax);
    if (n != 1 && n % 2 != 0) throw_range(env, "numBuckets must be even (or 1), got " + std::to_string(n));
    f.push_back(n);
    return f;
  }
  if (!v.IsArray()) throw_type(env, "numBuckets must be a positive integer or an array of even integers");
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() < 1 || a.Length() > 8) throw_range(env, "numBuckets must have 1 to 8 factors, got " + std::to_string(a.Length()));
  int64_t prod = 1;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    const std::string name = "numBuckets[" + std::to_string(i) + "]";
    const int64_t n = get_int(env, a.Get(i), name, 2, kMax);
    if (n % 2 != 0) throw_range(env, name + " must be even, got " + std::to_string(n));
    prod *= n;
    if (prod > kMax) throw_range(env, "numBuckets: the product of the factors must be at most 2^24");
    f.push_back(n);
  }
  return f;
}

template <bool Async>
static Napi::Value LshAttention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object opts = lsh_opts(env, info[3]);
  TensorView qk = get_tensor(env, info[0], "qk", DType::F32);
  TensorView v = get_tensor(env, info[1], "v", DType::F32);
  check_bhnd(env, qk, "qk", kLshMaxHeadDim);
  check_same_shape(env, qk, "qk", v, "v");
  cpu::LshParams p;
  p.B = qk.shape[0], p.H = qk.shape[1], p.N = qk.shape[2], p.D = qk.shape[3];
  const ChunkOpts c = read_chunking(env, opts, p.N);
  p.chunk = c.chunk, p.before = c.before, p.after = c.after, p.causal = c.causal;
  p.hashes = opt_int(env, opts, "numHashes", 1, 1, 1024);
  if (p.N > 0 && p.hashes * p.N > (int64_t{1} << 31) - 1)
    throw_range(env, "numHashes × N must be below 2^31, got " + std::to_string(p.hashes) + " × " + std::to_string(p.N));
  if (p.B * p.H > 0 && p.hashes * p.N * p.D > (int64_t{1} << 40) / (p.B * p.H))
    throw_range(env, "qk " + shape_string(qk) + " with " + std::to_string(p.hashes) + " hashes is too large");
  const bool hashing = !cpu::lsh_is_standard(p.N, p.chunk);
  Napi::Value nbv = opts.Get("numBuckets");
  if (nbv.IsUndefined()) {
    if (hashing) throw_type(env, "numBuckets is required when N > chunkLength (a count, or an array of even factors)");
    if (!is_absent(info[2])) throw_type(env, "numBuckets is required with rotations");
  } else {
    p.factors = read_buckets(env, nbv);
  }
  int64_t rs2 = 0, nb = 1;
  for (int64_t f : p.factors) rs2 += f / 2, nb *= f;
  if (p.hashes * (nb + 1) > (int64_t{1} << 31) - 1)
    throw_range(env, "numHashes × (numBuckets + 1) must be below 2^31 (the bucket numbers are int32), got " +
                         std::to_string(p.hashes) + " × " + std::to_string(nb + 1));
  TensorView rot;
  if (!is_absent(info[2])) {
    rot = get_tensor(env, info[2], "rotations", DType::F32);
    const int64_t want[4] = {p.H, p.D, p.hashes, rs2};
    bool ok = rot.ndim == 4;
    for (int i = 0; ok && i < 4; ++i) ok = rot.shape[i] == want[i];
    if (!ok)
      throw_range(env, "rotations must have shape [H, D, numHashes, numBuckets/2] = " + shape_string(want, 4) + ", got " +
                           shape_string(rot));
    p.rotations = rot.ptr<float>();
  } else if (hashing && rs2 > 0) {
    throw_type(env, "rotations are required when N > chunkLength and numBuckets > 1 (a tensor [H, D, numHashes, numBuckets/2])");
  }
  auto keep = read_keep(env, opts.Get("attentionMask"), p.B, p.N);
  const bool want_buckets = get_bool(env, opts.Get("returnBuckets"), "returnBuckets", false);
  TensorView out;
  Napi::Value out_obj = get_out(env, opts, qk, {qk, v, rot}, &out);
  Napi::Object result = Napi::Object::New(env);
  result.Set("out", out_obj);
  result.Set("buckets", env.Null());
  Napi::Value bucket_obj = env.Null();
  if (want_buckets && hashing) {
    const int64_t bs[4] = {p.B, p.H, p.hashes, p.N};
    NewTensor bk = new_tensor(env, DType::I32, bs, 4);
    p.buckets = bk.view.ptr<int32_t>();
    result.Set("buckets", bk.object);
    bucket_obj = bk.object;
  }
  p.qk = qk.ptr<float>(), p.v = v.ptr<float>(), p.out = out.ptr<float>();
  if (!keep->empty()) p.keep = keep->data();
  auto work = [p, keep] { cpu::lsh_attention_f32(p); };
  return finish_op<Async>(env, "turboformer.lshAttention", {info[0], info[1], info[2], opts.Get("attentionMask"), out_obj, bucket_obj},
                          result, work);
}

template <bool Async>
static Napi::Value LocalAttention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object opts = lsh_opts(env, info[3]);
  TensorView q = get_tensor(env, info[0], "q", DType::F32);
  TensorView k = get_tensor(env, info[1], "k", DType::F32);
  TensorView v = get_tensor(env, info[2], "v", DType::F32);
  check_bhnd(env, q, "q", kLshMaxHeadDim);
  check_same_shape(env, q, "q", k, "k");
  check_same_shape(env, q, "q", v, "v");
  cpu::LocalParams p;
  p.B = q.shape[0], p.H = q.shape[1], p.N = q.shape[2], p.D = q.shape[3];
  const ChunkOpts c = read_chunking(env, opts, p.N);
  p.chunk = c.chunk, p.before = c.before, p.after = c.after, p.causal = c.causal;
  auto keep = read_keep(env, opts.Get("attentionMask"), p.B, p.N);
  TensorView out;
  Napi::Value out_obj = get_out(env, opts, q, {q, k, v}, &out);
  p.q = q.ptr<float>(), p.k = k.ptr<float>(), p.v = v.ptr<float>(), p.out = out.ptr<float>();
  if (!keep->empty()) p.keep = keep->data();
  auto work = [p, keep] { cpu::local_attention_f32(p); };
  return finish_op<Async>(env, "turboformer.localAttention", {info[0], info[1], info[2], opts.Get("attentionMask"), out_obj},
                          out_obj, work);
}

void register_lsh(Napi::Env env, Napi::Object exports) {
  exports.Set("lshAttention", Napi::Function::New(env, LshAttention<false>, "lshAttention"));
  exports.Set("lshAttentionAsync", Napi::Function::New(env, LshAttention<true>, "lshAttentionAsync"));
  exports.Set("localAttention", Napi::Function::New(env, LocalAttention<false>, "localAttention"));
  exports.Set("localAttentionAsync", Napi::Function::New(env, LocalAttention<true>, "localAttentionAsync"));
}

}  // namespace tf::napi
