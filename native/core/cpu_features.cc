#include "cpu_features.h"

namespace tf {

static CpuFeatures detect() {
  CpuFeatures f;
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2");
  f.fma = __builtin_cpu_supports("fma");
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx512bw = __builtin_cpu_supports("avx512bw");
  f.avx512vl = __builtin_cpu_supports("avx512vl");
  f.avx512dq = __builtin_cpu_supports("avx512dq");
  f.avx512_vnni = __builtin_cpu_supports("avx512vnni");
  f.avx512_bf16 = __builtin_cpu_supports("avx512bf16");
  // F16C has no __builtin_cpu_supports name in GCC 12: read CPUID leaf 1, ECX bit 29. The AVX check
  // above already covers the OS saving the YMM state, which F16C needs.
  unsigned a, b, c, d;
  __asm__ __volatile__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
  f.f16c = f.avx2 && ((c >> 29) & 1u);
#elif defined(__aarch64__) || defined(_M_ARM64)
  f.neon = true;
#endif
  return f;
}

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

const char* isa_name(IsaLevel l) {
  switch (l) {
    case IsaLevel::Scalar: return "scalar";
    case IsaLevel::Avx2: return "avx2";
    case IsaLevel::Avx512: return "avx512";
    case IsaLevel::Neon: return "neon";
  }
  return "unknown";
}

bool isa_from_name(const std::string& s, IsaLevel* out) {
  for (IsaLevel l : {IsaLevel::Scalar, IsaLevel::Avx2, IsaLevel::Avx512, IsaLevel::Neon}) {
    if (s == isa_name(l)) {
      *out = l;
      return true;
    }
  }
  return false;
}

bool isa_supported(IsaLevel l) {
  const CpuFeatures& f = cpu_features();
  switch (l) {
    case IsaLevel::Scalar: return true;
    case IsaLevel::Avx2: return f.avx2 && f.fma && f.f16c;
    case IsaLevel::Avx512: return f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && isa_supported(IsaLevel::Avx2);
    case IsaLevel::Neon: return f.neon;
  }
  return false;
}

IsaLevel best_isa() {
  if (isa_supported(IsaLevel::Avx512)) return IsaLevel::Avx512;
  if (isa_supported(IsaLevel::Avx2)) return IsaLevel::Avx2;
  if (isa_supported(IsaLevel::Neon)) return IsaLevel::Neon;
  return IsaLevel::Scalar;
}

int supported_isas(IsaLevel out[4]) {
  int n = 0;
  for (IsaLevel l : {IsaLevel::Scalar, IsaLevel::Avx2, IsaLevel::Avx512, IsaLevel::Neon})
    if (isa_supported(l)) out[n++] = l;
  return n;
}

}  // namespace tf
