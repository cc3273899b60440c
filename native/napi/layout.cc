// Layout ops on tensors of any dtype (+Async forms): permute(x, axes); concat(tensors, axis);
// split(x, sizes, axis) -> tensors; embedding(ids, table) -> rows of table gathered at ids (i32 or i64).
#include "../cpu/layout/layout.h"

#include <stdexcept>

#include "common.h"
#include "op_helpers.h"

namespace tf::napi {

template <bool Async>
static Napi::Value Permute(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TensorView x = get_tensor(env, info[0], "x");
  if (!info[1].IsArray()) throw_type(env, "axes must be an array of integers");
  Napi::Array arr = info[1].As<Napi::Array>();
  const int nd = x.ndim;
  if (static_cast<int64_t>(arr.Length()) != nd)
    throw_range(env, "axes must list each of the " + std::to_string(nd) + " axes of x once, got " +
                         std::to_string(arr.Length()) + " axes");
  int perm[kMaxDims];
  bool seen[kMaxDims] = {};
  int64_t shape[kMaxDims];
  for (int i = 0; i < nd; ++i) {
    int a = get_axis(env, arr.Get(static_cast<uint32_t>(i)), "axes[" + std::to_string(i) + "]", nd, "x");
    if (seen[a]) throw_range(env, "axes must be a permutation of the axes of x: axis " + std::to_string(a) + " appears twice");
    seen[a] = true;
    perm[i] = a;
    shape[i] = x.shape[a];
  }
  NewTensor out = new_tensor(env, x.dtype, shape, nd);
  TensorView y = out.view;
  std::array<int, kMaxDims> p{};
  for (int i = 0; i < nd; ++i) p[i] = perm[i];
  auto work = [x, y, p] { cpu::permute(x.data, y.data, dtype_size(x.dtype), x.shape.data(), x.ndim, p.data()); };
  return finish_op<Async>(env, "turboformer.permute", {info[0], out.object}, out.object, work);
}

template <bool Async>
static Napi::Value Concat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) throw_type(env, "tensors must be an array of tensors");
  Napi::Array arr = info[0].As<Napi::Array>();
  const uint32_t count = arr.Length();
  if (count == 0) throw_range(env, "tensors must hold at least one tensor");
  std::vector<TensorView> ts;
  std::vector<Napi::Value> keep;
  for (uint32_t i = 0; i < count; ++i) {
    Napi::Value v = arr.Get(i);
    ts.push_back(get_tensor(env, v, "tensors[" + std::to_string(i) + "]"));
    keep.push_back(v);
  }
  const TensorView& t0 = ts[0];
  if (t0.ndim == 0) throw_range(env, "tensors[0] is a scalar; concat needs tensors with at least 1 dimension");
  const int axis = get_axis(env, info[1], "axis", t0.ndim, "tensors[0]");
  int64_t total = 0;
  std::vector<int64_t> extents(count);
  std::vector<const void*> srcs(count);
  for (uint32_t i = 0; i < count; ++i) {
    const TensorView& t = ts[i];
    const std::string nm = "tensors[" + std::to_string(i) + "]";
    if (t.dtype != t0.dtype)
      throw_type(env, nm + " has dtype " + dtype_name(t.dtype) + " but tensors[0] has " + dtype_name(t0.dtype));
    bool same = t.ndim == t0.ndim;
    for (int d = 0; same && d < t.ndim; ++d) same = d == axis || t.shape[d] == t0.shape[d];
    if (!same)
      throw_range(env, nm + " has shape " + shape_string(t) + ", which differs from tensors[0] (" + shape_string(t0) +
                           ") outside axis " + std::to_string(axis));
    extents[i] = t.shape[axis];
    srcs[i] = t.data;
    total += t.shape[axis];
    if (total > (int64_t{1} << 53)) throw_range(env, "the concatenated axis is too long (more than 2^53 entries)");
  }
  int64_t shape[kMaxDims];
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < t0.ndim; ++d) {
    shape[d] = d == axis ? total : t0.shape[d];
    if (d < axis) outer *= t0.shape[d];
    if (d > axis) inner *= t0.shape[d];
  }
  NewTensor out = new_tensor(env, t0.dtype, shape, t0.ndim);
  keep.push_back(out.object);
  void* dst = out.view.data;
  const size_t es = dtype_size(t0.dtype);
  auto work = [srcs, extents, dst, es, outer, inner] {
    cpu::concat(srcs.data(), extents.data(), static_cast<int>(srcs.size()), dst, es, outer, inner);
  };
  return finish_op<Async>(env, "turboformer.concat", keep, out.object, work);
}

template <bool Async>
static Napi::Value Split(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TensorView x = get_tensor(env, info[0], "x");
  if (x.ndim == 0) throw_range(env, "x is a scalar; split needs a tensor with at least 1 dimension");
  const int axis = get_axis(env, info[2], "axis", x.ndim, "x");
  if (!info[1].IsArray()) throw_type(env, "sizes must be an array of non-negative integers");
  Napi::Array arr = info[1].As<Napi::Array>();
  const uint32_t count = arr.Length();
  const int64_t len = x.shape[axis];
  if (count == 0) throw_range(env, "sizes must hold at least one size");
  std::vector<int64_t> extents(count);
  int64_t total = 0;
  for (uint32_t i = 0; i < count; ++i) {
    extents[i] = get_int(env, arr.Get(i), "sizes[" + std::to_string(i) + "]", 0, len);
    total += extents[i];
  }
  if (total != len)
    throw_range(env, "sizes add up to " + std::to_string(total) + " but x has " + std::to_string(len) + " entries along axis " +
                         std::to_string(axis));
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < x.ndim; ++d) {
    if (d < axis) outer *= x.shape[d];
    if (d > axis) inner *= x.shape[d];
  }
  Napi::Array result = Napi::Array::New(env, count);
  std::vector<Napi::Value> keep{info[0]};
  std::vector<void*> dsts(count);
  for (uint32_t i = 0; i < count; ++i) {
    int64_t shape[kMaxDims];
    for (int d = 0; d < x.ndim; ++d) shape[d] = d == axis ? extents[i] : x.shape[d];
    NewTensor t = new_tensor(env, x.dtype, shape, x.ndim);
    dsts[i] = t.view.data;
    result.Set(i, t.object);
    keep.push_back(t.object);
  }
  const size_t es = dtype_size(x.dtype);
  const void* src = x.data;
  auto work = [src, dsts, extents, es, outer, inner] {
    cpu::split(src, dsts.data(), extents.data(), static_cast<int>(dsts.size()), es, outer, inner);
  };
  return finish_op<Async>(env, "turboformer.split", keep, result, work);
}

// "ids[1, 3]" for flat position `pos` of a tensor of shape `shape`.
static std::string position(const TensorView& t, int64_t pos) {
  if (t.ndim == 0) return "ids";
  std::string s;
  for (int i = t.ndim - 1; i >= 0; --i) {
    s = std::to_string(pos % t.shape[i]) + (s.empty() ? "" : ", ") + s;
    pos /= t.shape[i];
  }
  return "ids[" + s + "]";
}

template <bool Async>
static Napi::Value Embedding(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TensorView ids = get_tensor(env, info[0], "ids");
  if (ids.dtype != DType::I32 && ids.dtype != DType::I64)
    throw_type(env, std::string("ids must have dtype i32 or i64, got ") + dtype_name(ids.dtype));
  TensorView table = get_tensor(env, info[1], "table");
  if (table.ndim != 2) throw_range(env, "table must have shape [vocab, dim], got " + shape_string(table));
  if (ids.ndim + 1 > kMaxDims)
    throw_range(env, "ids has " + std::to_string(ids.ndim) + " dimensions; the result would have more than " +
                         std::to_string(kMaxDims));
  const int64_t vocab = table.shape[0], dim = table.shape[1], n = ids.numel();
  // Checked here, on the JS thread, so that the error is a RangeError thrown by the call itself.
  for (int64_t i = 0; i < n; ++i) {
    const int64_t id = ids.dtype == DType::I32 ? ids.ptr<int32_t>()[i] : ids.ptr<int64_t>()[i];
    if (id < 0 || id >= vocab)
      throw_range(env, position(ids, i) + " = " + std::to_string(id) + " is out of range for a table of " +
                           std::to_string(vocab) + " rows (valid ids: 0 to " + std::to_string(vocab - 1) + ")");
  }
  int64_t shape[kMaxDims];
  for (int i = 0; i < ids.ndim; ++i) shape[i] = ids.shape[i];
  shape[ids.ndim] = dim;
  NewTensor out = new_tensor(env, table.dtype, shape, ids.ndim + 1);
  TensorView y = out.view;
  const size_t row_bytes = static_cast<size_t>(dim) * dtype_size(table.dtype);
  auto work = [ids, table, y, n, vocab, row_bytes] {
    int64_t bad = cpu::embedding(ids.dtype == DType::I32 ? ids.ptr<int32_t>() : nullptr,
                                 ids.dtype == DType::I64 ? ids.ptr<int64_t>() : nullptr, n, table.data, vocab, row_bytes,
                                 y.data);
    // Only when the ids changed after the check (an async call whose ids JS modified meanwhile).
    if (bad >= 0) throw std::out_of_range(position(ids, bad) + " is out of range for a table of " + std::to_string(vocab) + " rows");
  };
  return finish_op<Async>(env, "turboformer.embedding", {info[0], info[1], out.object}, out.object, work);
}

void register_layout(Napi::Env env, Napi::Object exports) {
  exports.Set("permute", Napi::Function::New(env, Permute<false>, "permute"));
  exports.Set("permuteAsync", Napi::Function::New(env, Permute<true>, "permuteAsync"));
  exports.Set("concat", Napi::Function::New(env, Concat<false>, "concat"));
  exports.Set("concatAsync", Napi::Function::New(env, Concat<true>, "concatAsync"));
  exports.Set("split", Napi::Function::New(env, Split<false>, "split"));
  exports.Set("splitAsync", Napi::Function::New(env, Split<true>, "splitAsync"));
  exports.Set("embedding", Napi::Function::New(env, Embedding<false>, "embedding"));
  exports.Set("embeddingAsync", Napi::Function::New(env, Embedding<true>, "embeddingAsync"));
}

}  // namespace tf::napi
