// Native-owned buffers: alloc, detach (dispose), mapped files, live-memory statistics.
#include "../core/memory.h"

#include "common.h"

namespace tf::napi {

// alloc(dtype, shape) -> {data, shape, dtype}, zeroed, 64-byte aligned, freed by its finalizer.
static Napi::Value Alloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  DType dt = get_dtype(env, info[0], "dtype");
  int64_t dims[kMaxDims];
  int nd = get_shape(env, info[1], "shape", dims);
  return new_native_tensor(env, dt, dims, nd).object;
}

// detach(buffer) -> true when the buffer was detached (its native memory is released), false when the
// runtime does not allow detaching it. Throws while async work still uses it.
static Napi::Value Detach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArrayBuffer()) throw_type(env, "buffer must be an ArrayBuffer");
  Napi::ArrayBuffer ab = info[0].As<Napi::ArrayBuffer>();
  if (ab.IsDetached()) return Napi::Boolean::New(env, true);
  if (is_pinned(ab.Data()))
    throw Napi::Error::New(env, "cannot dispose a tensor that a pending async operation is still using; await it first");
  napi_status st = napi_detach_arraybuffer(env, ab);
  if (st != napi_ok) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value e;
      napi_get_and_clear_last_exception(env, &e);
    }
    return Napi::Boolean::New(env, false);
  }
  return Napi::Boolean::New(env, true);
}

static Napi::Value MemoryStatsJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MemoryStats s = memory_stats();
  Napi::Object o = Napi::Object::New(env);
  o.Set("liveBytes", static_cast<double>(s.live_bytes));
  o.Set("liveBuffers", static_cast<double>(s.live_blocks));
  o.Set("mappedBytes", static_cast<double>(s.mapped_bytes));
  o.Set("mappedFiles", static_cast<double>(s.mapped_files));
  o.Set("hugePages", s.huge_pages);
  return o;
}

// mapFile(path) -> {buffer, mapped}: the whole file as an ArrayBuffer, memory-mapped copy-on-write where
// the platform allows (writes never reach the file), else read into an aligned native block.
static Napi::Value MapFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = get_string(env, info[0], "path");
  if (path.empty()) throw_type(env, "path must not be empty");
  if (path.find('\0') != std::string::npos) throw_type(env, "path must not contain NUL characters");
  FileMapping m;
  char err[512];
  const char* e = map_file(path.c_str(), &m, err, sizeof err);
  if (*e) throw Napi::Error::New(env, e);
  bool mapped = m.mapped;
  Napi::ArrayBuffer ab = external_buffer(env, m.data, m.size, [m] { unmap_file(m); });
  Napi::Object o = Napi::Object::New(env);
  o.Set("buffer", ab);
  o.Set("mapped", mapped);
  return o;
}

void register_memory(Napi::Env env, Napi::Object exports) {
  exports.Set("alloc", Napi::Function::New(env, Alloc, "alloc"));
  exports.Set("detach", Napi::Function::New(env, Detach, "detach"));
  exports.Set("memoryStats", Napi::Function::New(env, MemoryStatsJs, "memoryStats"));
  exports.Set("mapFile", Napi::Function::New(env, MapFile, "mapFile"));
}

}  // namespace tf::napi
