#include "common.h"

#include <cmath>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "../core/memory.h"

namespace tf::napi {

void throw_type(Napi::Env env, const std::string& msg) { throw Napi::TypeError::New(env, msg); }
void throw_range(Napi::Env env, const std::string& msg) { throw Napi::RangeError::New(env, msg); }

static std::string describe(Napi::Value v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", d);
    return buf;
  }
  if (v.IsString()) return "a string";
  if (v.IsBoolean()) return "a boolean";
  if (v.IsBigInt()) return "a bigint";
  if (v.IsTypedArray()) {
    switch (v.As<Napi::TypedArray>().TypedArrayType()) {
      case napi_int8_array: return "Int8Array";
      case napi_uint8_array: return "Uint8Array";
      case napi_uint8_clamped_array: return "Uint8ClampedArray";
      case napi_int16_array: return "Int16Array";
      case napi_uint16_array: return "Uint16Array";
      case napi_int32_array: return "Int32Array";
      case napi_uint32_array: return "Uint32Array";
      case napi_float32_array: return "Float32Array";
      case napi_float64_array: return "Float64Array";
      case napi_bigint64_array: return "BigInt64Array";
      case napi_biguint64_array: return "BigUint64Array";
      default: return "a typed array";
    }
  }
  if (v.IsArray()) return "an array";
  if (v.IsFunction()) return "a function";
  if (v.IsObject()) return "an object";
  return "a value of another type";
}

std::string get_string(Napi::Env env, Napi::Value v, const std::string& name) {
  if (!v.IsString()) throw_type(env, name + " must be a string, got " + describe(v));
  return v.As<Napi::String>().Utf8Value();
}

int64_t get_int(Napi::Env env, Napi::Value v, const std::string& name, int64_t lo, int64_t hi) {
  if (!v.IsNumber()) throw_type(env, name + " must be an integer, got " + describe(v));
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d)) throw_type(env, name + " must be an integer, got " + describe(v));
  if (d < static_cast<double>(lo) || d > static_cast<double>(hi))
    throw_range(env, name + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + describe(v));
  return static_cast<int64_t>(d);
}

// The parsers below return false instead of throwing, so that the hot path (every tensor argument of
// every call) builds no message strings; the throwing forms build the message when one is needed.
static bool parse_dtype(Napi::Env env, Napi::Value v, DType* out) {
  if (!v.IsString()) return false;
  char buf[16];
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, buf, sizeof buf, &len) != napi_ok || len >= sizeof buf - 1) return false;
  return dtype_from_name(std::string(buf, len), out);
}

DType get_dtype(Napi::Env env, Napi::Value v, const std::string& name) {
  DType t;
  if (parse_dtype(env, v, &t)) return t;
  if (!v.IsString()) throw_type(env, name + " must be a dtype name (f32, f16, bf16, i8, u8, i32, i64), got " + describe(v));
  throw_type(env, name + " must be one of f32, f16, bf16, i8, u8, i32, i64, got '" + v.As<Napi::String>().Utf8Value() + "'");
}

static constexpr double kMaxSafeInteger = 9007199254740991.0;  // 2^53 - 1

static bool parse_shape(Napi::Env env, Napi::Value v, int64_t* dims, int* ndim) {
  if (!v.IsArray()) return false;
  uint32_t n = 0;
  if (napi_get_array_length(env, v, &n) != napi_ok || n > static_cast<uint32_t>(kMaxDims)) return false;
  for (uint32_t i = 0; i < n; ++i) {
    napi_value e;
    double d = 0;
    if (napi_get_element(env, v, i, &e) != napi_ok) throw Napi::Error::New(env);  // e.g. a throwing getter
    if (napi_get_value_double(env, e, &d) != napi_ok) return false;  // not a number
    if (!std::isfinite(d) || d != std::floor(d) || d < 0 || d > kMaxSafeInteger) return false;
    dims[i] = static_cast<int64_t>(d);
  }
  *ndim = static_cast<int>(n);
  return true;
}

int get_shape(Napi::Env env, Napi::Value v, const std::string& name, int64_t* dims) {
  int nd = 0;
  if (parse_shape(env, v, dims, &nd)) return nd;
  if (!v.IsArray()) throw_type(env, name + " must be an array of integers, got " + describe(v));
  Napi::Array a = v.As<Napi::Array>();
  uint32_t n = a.Length();
  if (n > static_cast<uint32_t>(kMaxDims))
    throw_range(env, name + " has " + std::to_string(n) + " dimensions; at most " + std::to_string(kMaxDims) + " are supported");
  for (uint32_t i = 0; i < n; ++i) {
    Napi::Value e = a.Get(i);
    const std::string where = name + "[" + std::to_string(i) + "]";
    if (!e.IsNumber()) throw_type(env, where + " must be a non-negative integer, got " + describe(e));
    double d = e.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d) || d != std::floor(d)) throw_type(env, where + " must be a non-negative integer, got " + describe(e));
    if (d < 0 || d > kMaxSafeInteger) throw_range(env, where + " must be a non-negative integer, got " + describe(e));
  }
  throw_type(env, name + " must be an array of integers, got " + describe(v));  // (unreachable)
}

// Element count and byte size of a shape, or a RangeError when either exceeds 2^53 - 1 (JS lengths).
static int64_t checked_numel(Napi::Env env, const int64_t* dims, int ndim, DType dtype, const std::string& name,
                             const char* suffix = "") {
  int64_t n = 1;
  bool zero = false;
  for (int i = 0; i < ndim; ++i) zero = zero || dims[i] == 0;
  if (zero) return 0;
  const int64_t limit = static_cast<int64_t>(kMaxSafeInteger) / static_cast<int64_t>(dtype_size(dtype));
  for (int i = 0; i < ndim; ++i) {
    if (n > limit / dims[i]) throw_range(env, name + suffix + ": the size of the shape overflows (more than 2^53 bytes)");
    n *= dims[i];
  }
  return n;
}

static bool typed_array_matches(napi_typedarray_type t, DType d) {
  switch (d) {
    case DType::F32: return t == napi_float32_array;
    case DType::F16:
    case DType::BF16: return t == napi_uint16_array;
    case DType::I8: return t == napi_int8_array;
    case DType::U8: return t == napi_uint8_array || t == napi_uint8_clamped_array;
    case DType::I32: return t == napi_int32_array;
    case DType::I64: return t == napi_bigint64_array;
  }
  return false;
}

static const char* typed_array_for(DType d) {
  switch (d) {
    case DType::F32: return "Float32Array";
    case DType::F16:
    case DType::BF16: return "Uint16Array";
    case DType::I8: return "Int8Array";
    case DType::U8: return "Uint8Array";
    case DType::I32: return "Int32Array";
    case DType::I64: return "BigInt64Array";
  }
  return "?";
}

std::string shape_string(const int64_t* dims, int n) {
  std::string s = "[";
  for (int i = 0; i < n; ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

std::string shape_string(const TensorView& t) { return shape_string(t.shape.data(), t.ndim); }

void check_same_shape(Napi::Env env, const TensorView& a, const char* an, const TensorView& b, const char* bn) {
  if (!a.same_shape(b))
    throw_range(env, std::string(an) + " and " + bn + " must have the same shape, got " + shape_string(a) + " and " + shape_string(b));
}

static TensorView finish_tensor(Napi::Env env, TensorView t, Napi::Value d, const std::string& name);

TensorView get_tensor(Napi::Env env, Napi::Value v, const std::string& name) {
  if (!v.IsObject() || v.IsArray() || v.IsTypedArray())
    throw_type(env, name + " must be a tensor ({data, shape, dtype}), got " + describe(v));
  Napi::Object o = v.As<Napi::Object>();
  TensorView t;
  // Argument names for messages are built only when one is needed (this runs for every tensor of every call).
  Napi::Value dt = o.Get("dtype");
  if (!parse_dtype(env, dt, &t.dtype)) get_dtype(env, dt, name + ".dtype");  // throws
  Napi::Value sv = o.Get("shape");
  if (!parse_shape(env, sv, t.shape.data(), &t.ndim)) get_shape(env, sv, name + ".shape", t.shape.data());  // throws
  return finish_tensor(env, t, o.Get("data"), name);
}

// The checks of a tensor's data against its dtype and shape (t's dtype, ndim and shape are set), shared by the object
// form (get_tensor) and the packed form (PackedTensors): overflow of the shape's size, the TypedArray kind, detached
// buffers, the length.
static TensorView finish_tensor(Napi::Env env, TensorView t, Napi::Value d, const std::string& name) {
  int64_t n = checked_numel(env, t.shape.data(), t.ndim, t.dtype, name, ".shape");
  napi_typedarray_type type;
  size_t length = 0, offset = 0;
  napi_value abv;
  void* base = nullptr;
  if (!d.IsTypedArray() || napi_get_typedarray_info(env, d, &type, &length, &base, &abv, &offset) != napi_ok ||
      !typed_array_matches(type, t.dtype))
    throw_type(env, name + ".data must be a " + typed_array_for(t.dtype) + " for dtype " + dtype_name(t.dtype) + ", got " +
                        describe(d));
  bool detached = false;
  napi_is_detached_arraybuffer(env, abv, &detached);
  if (detached) throw_type(env, name + ".data is detached (the tensor was disposed)");
  if (static_cast<int64_t>(length) != n)
    throw_range(env, name + ".data has " + std::to_string(length) + " elements but shape " +
                         shape_string(t.shape.data(), t.ndim) + " needs " + std::to_string(n));
  t.data = n == 0 ? nullptr : base;  // napi's data pointer already includes the view's byte offset
  t.set_contiguous_strides();
  return t;
}

TensorView get_tensor(Napi::Env env, Napi::Value v, const std::string& name, DType want) {
  TensorView t = get_tensor(env, v, name);
  if (t.dtype != want)
    throw_type(env, name + " must have dtype " + dtype_name(want) + ", got " + dtype_name(t.dtype));
  return t;
}

// ---- packed tensor arguments ----

PackedTensors::PackedTensors(Napi::Env env, Napi::Value records, size_t count) : env_(env), count_(count) {
  napi_typedarray_type type;
  size_t length = 0;
  void* base = nullptr;
  if (!records.IsTypedArray() ||
      napi_get_typedarray_info(env, records, &type, &length, &base, nullptr, nullptr) != napi_ok ||
      type != napi_float64_array || length < count * kRecord)
    throw_type(env, "the packed tensor records must be a Float64Array of " + std::to_string(count * kRecord) +
                        " or more elements, got " + describe(records));
  rec_ = static_cast<const double*>(base);
}

TensorView PackedTensors::get(size_t i, Napi::Value data, const std::string& name) const {
  if (i >= count_) throw_type(env_, name + ": no packed tensor record " + std::to_string(i));
  const double* r = rec_ + i * kRecord;
  const napi_valuetype type = data.Type();
  if (type == napi_undefined || type == napi_null) return get_tensor(env_, data, name);  // throws "<name> must be a tensor ..., got undefined"
  TensorView t;
  const double code = r[0], nd = r[1];
  bool ok = code >= 0 && code < kNumDTypes && code == std::floor(code) && nd >= 0 && nd <= kMaxDims && nd == std::floor(nd);
  for (int k = 0; ok && k < static_cast<int>(nd); ++k) {
    const double d = r[2 + k];
    ok = std::isfinite(d) && d == std::floor(d) && d >= 0 && d <= kMaxSafeInteger;
    t.shape[k] = ok ? static_cast<int64_t>(d) : 0;
  }
  if (!ok) throw_type(env_, name + ": the packed tensor record (dtype code, ndim, dims) is malformed");
  t.dtype = static_cast<DType>(static_cast<int>(code));
  t.ndim = static_cast<int>(nd);
  return finish_tensor(env_, t, data, name);
}

TensorView PackedTensors::get(size_t i, Napi::Value data, const std::string& name, DType want) const {
  TensorView t = get(i, data, name);
  if (t.dtype != want)
    throw_type(env_, name + " must have dtype " + dtype_name(want) + ", got " + dtype_name(t.dtype));
  return t;
}

// ---- external buffers ----

namespace {
struct Release {
  std::function<void()> fn;
  int64_t bytes;
};
void finalize_release(napi_env env, void*, void* hint) {
  auto* r = static_cast<Release*>(hint);
  int64_t adjusted;
  napi_adjust_external_memory(env, -r->bytes, &adjusted);
  r->fn();
  delete r;
}
}  // namespace

Napi::ArrayBuffer external_buffer(Napi::Env env, void* data, size_t bytes, std::function<void()> release) {
  napi_value result;
  auto* r = new Release{std::move(release), static_cast<int64_t>(bytes)};
  napi_status st = napi_create_external_arraybuffer(env, data, bytes, finalize_release, r, &result);
  if (st == napi_ok) {
    int64_t adjusted;
    napi_adjust_external_memory(env, r->bytes, &adjusted);
    return Napi::ArrayBuffer(env, result);
  }
  // External buffers forbidden (e.g. Electron's sandbox) or another failure: copy, then release now.
  napi_value pending;
  bool has_pending = false;
  napi_is_exception_pending(env, &has_pending);
  if (has_pending) napi_get_and_clear_last_exception(env, &pending);
  Napi::ArrayBuffer copy = Napi::ArrayBuffer::New(env, bytes);
  if (bytes) std::memcpy(copy.Data(), data, bytes);
  r->fn();
  delete r;
  return copy;
}

namespace {
[[noreturn]] void throw_alloc(Napi::Env env, size_t bytes, const int64_t* shape, int ndim) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) {
    napi_value e;
    napi_get_and_clear_last_exception(env, &e);
  }
  throw_range(env, "cannot allocate " + std::to_string(bytes) + " bytes for a tensor of shape " + shape_string(shape, ndim));
}

// {data, shape, dtype} over `ab` (which holds exactly the tensor's bytes).
NewTensor wrap_tensor(Napi::Env env, DType dtype, const int64_t* shape, int ndim, int64_t n, Napi::ArrayBuffer ab);
}  // namespace

NewTensor new_tensor(Napi::Env env, DType dtype, const int64_t* shape, int ndim, bool zeroed) {
  int64_t n = checked_numel(env, shape, ndim, dtype, "shape");
  size_t bytes = static_cast<size_t>(n) * dtype_size(dtype);
  napi_value v;
  if (zeroed) {
    if (napi_create_arraybuffer(env, bytes, nullptr, &v) != napi_ok) throw_alloc(env, bytes, shape, ndim);
    return wrap_tensor(env, dtype, shape, ndim, n, Napi::ArrayBuffer(env, v));
  }
  // A Node Buffer is created without the zero fill; it owns its ArrayBuffer (no pool, offset 0).
  void* unused;
  if (napi_create_buffer(env, bytes, &unused, &v) != napi_ok) throw_alloc(env, bytes, shape, ndim);
  napi_value ab;
  size_t offset = 0;
  if (napi_get_typedarray_info(env, v, nullptr, nullptr, nullptr, &ab, &offset) != napi_ok || offset != 0)
    throw_alloc(env, bytes, shape, ndim);
  return wrap_tensor(env, dtype, shape, ndim, n, Napi::ArrayBuffer(env, ab));
}

NewTensor new_native_tensor(Napi::Env env, DType dtype, const int64_t* shape, int ndim) {
  int64_t n = checked_numel(env, shape, ndim, dtype, "shape");
  size_t bytes = static_cast<size_t>(n) * dtype_size(dtype);
  void* p = aligned_alloc64(bytes, /*zero=*/true);
  if (!p) throw_alloc(env, bytes, shape, ndim);
  return wrap_tensor(env, dtype, shape, ndim, n, external_buffer(env, p, bytes, [p, bytes] { aligned_free64(p, bytes); }));
}

namespace {
NewTensor wrap_tensor(Napi::Env env, DType dtype, const int64_t* shape, int ndim, int64_t n, Napi::ArrayBuffer ab) {
  NewTensor out;
  out.view.dtype = dtype;
  out.view.ndim = ndim;
  for (int i = 0; i < ndim; ++i) out.view.shape[i] = shape[i];
  out.view.set_contiguous_strides();
  out.view.data = ab.Data();
  Napi::Value data;
  switch (dtype) {
    case DType::F32: data = Napi::Float32Array::New(env, n, ab, 0); break;
    case DType::F16:
    case DType::BF16: data = Napi::Uint16Array::New(env, n, ab, 0); break;
    case DType::I8: data = Napi::Int8Array::New(env, n, ab, 0); break;
    case DType::U8: data = Napi::Uint8Array::New(env, n, ab, 0); break;
    case DType::I32: data = Napi::Int32Array::New(env, n, ab, 0); break;
    case DType::I64: data = Napi::BigInt64Array::New(env, n, ab, 0); break;
  }
  Napi::Array sh = Napi::Array::New(env, ndim);
  for (int i = 0; i < ndim; ++i) sh.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(shape[i])));
  out.object = Napi::Object::New(env);
  out.object.Set("data", data);
  out.object.Set("shape", sh);
  out.object.Set("dtype", Napi::String::New(env, dtype_name(dtype)));
  return out;
}
}  // namespace

// ---- pinning ----

static std::mutex g_pin_mu;
static std::unordered_map<const void*, int> g_pins;

void pin(const void* p) {
  if (!p) return;
  std::lock_guard<std::mutex> lk(g_pin_mu);
  ++g_pins[p];
}
void unpin(const void* p) {
  if (!p) return;
  std::lock_guard<std::mutex> lk(g_pin_mu);
  auto it = g_pins.find(p);
  if (it != g_pins.end() && --it->second == 0) g_pins.erase(it);
}
bool is_pinned(const void* p) {
  std::lock_guard<std::mutex> lk(g_pin_mu);
  return g_pins.count(p) != 0;
}

// ---- async ----

namespace {
class OpWorker : public Napi::AsyncWorker {
 public:
  OpWorker(Napi::Env env, const char* name, std::vector<Napi::Value> keep, std::function<void()> work,
           std::function<Napi::Value(Napi::Env)> result)
      : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)), work_(std::move(work)),
        result_(std::move(result)) {
    for (Napi::Value v : keep) {
      refs_.emplace_back(Napi::Persistent(v));
      if (!v.IsObject()) continue;
      Napi::Value d = v.As<Napi::Object>().Get("data");
      if (!d.IsTypedArray()) continue;
      Napi::ArrayBuffer ab = d.As<Napi::TypedArray>().ArrayBuffer();
      refs_.emplace_back(Napi::Persistent(static_cast<Napi::Value>(ab)));
      pinned_.push_back(ab.Data());
      pin(ab.Data());
    }
  }
  ~OpWorker() override {
    for (const void* p : pinned_) unpin(p);
  }
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      work_();
    } catch (const std::exception& e) {
      SetError(e.what());
    } catch (...) {
      SetError("unknown native error");
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    try {
      deferred_.Resolve(result_(env));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::function<void()> work_;
  std::function<Napi::Value(Napi::Env)> result_;
  std::vector<Napi::Reference<Napi::Value>> refs_;
  std::vector<const void*> pinned_;
};
}  // namespace

Napi::Promise run_async(Napi::Env env, const char* name, std::vector<Napi::Value> keep, std::function<void()> work,
                        std::function<Napi::Value(Napi::Env)> result) {
  auto* w = new OpWorker(env, name, std::move(keep), std::move(work), std::move(result));
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

}  // namespace tf::napi
