// info(), thread count and ISA level.
#include "../core/cpu_features.h"
#include "../core/dispatch.h"
#include "../core/threadpool.h"
#include "../cuda/cuda_api.h"
#include "common.h"

#ifndef TURBOFORMER_BUILD_SYSTEM
#define TURBOFORMER_BUILD_SYSTEM "unknown"
#endif
#ifndef TURBOFORMER_VERSION
#define TURBOFORMER_VERSION "0.0.0"
#endif

namespace tf::napi {

static std::string g_isa_warning;

static Napi::Object features_object(Napi::Env env) {
  const CpuFeatures& f = cpu_features();
  Napi::Object o = Napi::Object::New(env);
  o.Set("avx2", f.avx2);
  o.Set("fma", f.fma);
  o.Set("f16c", f.f16c);
  o.Set("avx512f", f.avx512f);
  o.Set("avx512bw", f.avx512bw);
  o.Set("avx512vl", f.avx512vl);
  o.Set("avx512dq", f.avx512dq);
  o.Set("avx512_vnni", f.avx512_vnni);
  o.Set("avx512_bf16", f.avx512_bf16);
  o.Set("neon", f.neon);
  return o;
}

static Napi::Object cuda_object(Napi::Env env) {
  const cuda::Status& s = cuda::status();
  Napi::Object o = Napi::Object::New(env);
  o.Set("compiled", s.compiled);
  o.Set("architectures", s.architectures);
  o.Set("runtimeVersion", s.runtime_version);
  o.Set("driverVersion", s.driver_version);
  o.Set("available", s.available);
  Napi::Array devs = Napi::Array::New(env, s.devices.size());
  for (size_t i = 0; i < s.devices.size(); ++i) {
    const cuda::DeviceInfo& d = s.devices[i];
    Napi::Object dv = Napi::Object::New(env);
    dv.Set("index", d.index);
    dv.Set("name", d.name);
    dv.Set("computeCapability", std::to_string(d.major) + "." + std::to_string(d.minor));
    dv.Set("totalMemory", static_cast<double>(d.total_memory));
    dv.Set("multiprocessors", d.multiprocessors);
    devs.Set(static_cast<uint32_t>(i), dv);
  }
  o.Set("devices", devs);
  o.Set("message", s.message);
  return o;
}

static Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("version", TURBOFORMER_VERSION);
  o.Set("napiVersion", NAPI_VERSION);

  Napi::Object isa = Napi::Object::New(env);
  isa.Set("active", isa_name(active_isa()));
  isa.Set("best", isa_name(best_isa()));
  isa.Set("source", isa_source());
  IsaLevel levels[4];
  int n = supported_isas(levels);
  Napi::Array sup = Napi::Array::New(env, n);
  for (int i = 0; i < n; ++i) sup.Set(static_cast<uint32_t>(i), isa_name(levels[i]));
  isa.Set("supported", sup);
  isa.Set("warning", g_isa_warning);
  o.Set("isa", isa);
  o.Set("features", features_object(env));

  Napi::Object threads = Napi::Object::New(env);
  threads.Set("count", num_threads());
  threads.Set("hardware", hardware_threads());
  o.Set("threads", threads);

  Napi::Object build = Napi::Object::New(env);
  build.Set("system", TURBOFORMER_BUILD_SYSTEM);
#if defined(__clang__)
  build.Set("compiler", std::string("clang ") + __clang_version__);
#elif defined(__GNUC__)
  build.Set("compiler", std::string("gcc ") + __VERSION__);
#elif defined(_MSC_VER)
  build.Set("compiler", "msvc " + std::to_string(_MSC_VER));
#else
  build.Set("compiler", "unknown");
#endif
#if defined(NDEBUG)
  build.Set("type", "release");
#else
  build.Set("type", "debug");
#endif
#if defined(__x86_64__) || defined(_M_X64)
  build.Set("arch", "x64");
  build.Set("isaKernels", "scalar, avx2, avx512");
#elif defined(__aarch64__) || defined(_M_ARM64)
  build.Set("arch", "arm64");
  build.Set("isaKernels", "scalar");
#else
  build.Set("arch", "other");
  build.Set("isaKernels", "scalar");
#endif
  build.Set("cuda", cuda::status().compiled);
  o.Set("build", build);
  o.Set("cuda", cuda_object(env));
  return o;
}

static Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  int64_t n = get_int(info.Env(), info[0], "threads", 1, 1024);
  set_num_threads(static_cast<int>(n));
  return Napi::Number::New(info.Env(), num_threads());
}

static Napi::Value GetNumThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), num_threads()); }

static Napi::Value SetIsa(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string s = get_string(env, info[0], "isa");
  IsaLevel l;
  if (s == "auto") {
    l = best_isa();
  } else if (!isa_from_name(s, &l)) {
    throw_type(env, "isa must be one of scalar, avx2, avx512, neon, auto, got '" + s + "'");
  }
  if (!set_isa(l)) throw_range(env, "isa '" + s + "' is not supported by this CPU");
  return Napi::String::New(env, isa_name(active_isa()));
}

void register_info(Napi::Env env, Napi::Object exports) {
  g_isa_warning = init_dispatch();
  exports.Set("info", Napi::Function::New(env, Info, "info"));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads, "setNumThreads"));
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads, "getNumThreads"));
  exports.Set("setIsa", Napi::Function::New(env, SetIsa, "setIsa"));
}

}  // namespace tf::napi
