// CPU feature detection and the ISA level that selects kernels.
#pragma once
#include <string>

namespace tf {

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
  bool avx512_vnni = false, avx512_bf16 = false;
  bool neon = false;
};

// Kernel levels, lowest first. A level is usable when every feature its kernels assume is present
// (and, on x86, the OS saves the wide registers: __builtin_cpu_supports checks XGETBV for us).
enum class IsaLevel { Scalar = 0, Avx2 = 1, Avx512 = 2, Neon = 3 };

const CpuFeatures& cpu_features();
const char* isa_name(IsaLevel l);
bool isa_from_name(const std::string& s, IsaLevel* out);
bool isa_supported(IsaLevel l);
// The best level this machine supports.
IsaLevel best_isa();
// Levels this machine supports, lowest first, e.g. {scalar, avx2, avx512}.
int supported_isas(IsaLevel out[4]);

}  // namespace tf
