#include "dispatch.h"

#include <cstdlib>
#include <string>

namespace tf {

// Registration functions of each family and ISA. Scalar ones always exist; the x86 ones are compiled
// with target attributes, so every build contains them and only the table decides what runs.
void register_elementwise_scalar(Kernels&);
void register_convert_scalar(Kernels&);
void register_gemm_scalar(Kernels&);
void register_norm_scalar(Kernels&);
void register_softmax_scalar(Kernels&);
void register_reduce_scalar(Kernels&);
void register_flash_scalar(Kernels&);
void register_wkv_scalar(Kernels&);
void register_ssm_scalar(Kernels&);
void register_retention_scalar(Kernels&);
void register_quant_scalar(Kernels&);
void register_favor_scalar(Kernels&);
void register_lsh_scalar(Kernels&);
#if defined(__x86_64__) || defined(_M_X64)
void register_elementwise_avx2(Kernels&);
void register_elementwise_avx512(Kernels&);
void register_convert_avx2(Kernels&);
void register_convert_avx512(Kernels&);
void register_gemm_avx2(Kernels&);
void register_gemm_avx512(Kernels&);
void register_norm_avx2(Kernels&);
void register_norm_avx512(Kernels&);
void register_softmax_avx2(Kernels&);
void register_softmax_avx512(Kernels&);
void register_reduce_avx2(Kernels&);
void register_reduce_avx512(Kernels&);
void register_flash_avx2(Kernels&);
void register_flash_avx512(Kernels&);
void register_wkv_avx2(Kernels&);
void register_wkv_avx512(Kernels&);
void register_ssm_avx2(Kernels&);
void register_ssm_avx512(Kernels&);
void register_retention_avx2(Kernels&);
void register_retention_avx512(Kernels&);
void register_quant_avx2(Kernels&);
void register_quant_avx512(Kernels&);
void register_favor_avx2(Kernels&);
void register_favor_avx512(Kernels&);
void register_lsh_avx2(Kernels&);
void register_lsh_avx512(Kernels&);
#endif

static Kernels g_kernels;
static IsaLevel g_level = IsaLevel::Scalar;
static const char* g_source = "auto";
static std::string g_warning;

static Kernels build(IsaLevel level) {
  Kernels k;
  register_elementwise_scalar(k);
  register_convert_scalar(k);
  register_gemm_scalar(k);
  register_norm_scalar(k);
  register_softmax_scalar(k);
  register_reduce_scalar(k);
  register_flash_scalar(k);
  register_wkv_scalar(k);
  register_ssm_scalar(k);
  register_retention_scalar(k);
  register_quant_scalar(k);
  register_favor_scalar(k);
  register_lsh_scalar(k);
#if defined(__x86_64__) || defined(_M_X64)
  if (level == IsaLevel::Avx2 || level == IsaLevel::Avx512) {
    register_elementwise_avx2(k);
    register_convert_avx2(k);
    register_gemm_avx2(k);
    register_norm_avx2(k);
    register_softmax_avx2(k);
    register_reduce_avx2(k);
    register_flash_avx2(k);
    register_wkv_avx2(k);
    register_ssm_avx2(k);
    register_retention_avx2(k);
    register_quant_avx2(k);
    register_favor_avx2(k);
    register_lsh_avx2(k);
  }
  if (level == IsaLevel::Avx512) {
    register_elementwise_avx512(k);
    register_convert_avx512(k);
    register_gemm_avx512(k);
    register_norm_avx512(k);
    register_softmax_avx512(k);
    register_reduce_avx512(k);
    register_flash_avx512(k);
    register_wkv_avx512(k);
    register_ssm_avx512(k);
    register_retention_avx512(k);
    register_quant_avx512(k);
    register_favor_avx512(k);
    register_lsh_avx512(k);
  }
#endif
  return k;
}

const Kernels& kernels() { return g_kernels; }
IsaLevel active_isa() { return g_level; }
const char* isa_source() { return g_source; }

const char* init_dispatch() {
  IsaLevel level = best_isa();
  g_source = "auto";
  g_warning.clear();
  if (const char* env = std::getenv("TURBOFORMER_ISA")) {
    IsaLevel want;
    std::string s(env);
    if (s.empty() || s == "auto") {
      // keep the best level
    } else if (!isa_from_name(s, &want)) {
      g_warning = "TURBOFORMER_ISA='" + s + "' is not one of scalar, avx2, avx512, neon, auto; using " + isa_name(level);
    } else if (!isa_supported(want)) {
      g_warning = "TURBOFORMER_ISA='" + s + "' is not supported by this CPU; using " + isa_name(level);
    } else {
      level = want;
      g_source = "TURBOFORMER_ISA";
    }
  }
  g_level = level;
  g_kernels = build(level);
  return g_warning.c_str();
}

bool set_isa(IsaLevel l) {
  if (!isa_supported(l)) return false;
  g_level = l;
  g_kernels = build(l);
  g_source = "setIsa";
  return true;
}

}  // namespace tf
