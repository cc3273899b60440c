// The table of kernel function pointers, filled once at load for the chosen ISA level.
//
// Each kernel family declares its entries here and provides `register_<family>_<isa>(Kernels&)` functions
// in its per-ISA files; fill_kernels() applies scalar first, then each higher level the choice allows,
// so a level that lacks a kernel inherits the one below it.
#pragma once
#include <cstddef>
#include <cstdint>

#include "cpu_features.h"

namespace tf {

struct SgemmKernel;  // native/cpu/gemm/gemm_kernel.h

struct Kernels {
  // elementwise (native/cpu/elementwise)
  void (*add_f32)(const float* a, const float* b, float* out, size_t n) = nullptr;
  // dtype conversion (native/cpu/convert)
  void (*f32_to_f16)(const float* src, uint16_t* dst, size_t n) = nullptr;
  void (*f16_to_f32)(const uint16_t* src, float* dst, size_t n) = nullptr;
  void (*f32_to_bf16)(const float* src, uint16_t* dst, size_t n) = nullptr;
  void (*bf16_to_f32)(const uint16_t* src, float* dst, size_t n) = nullptr;
  // fp32 GEMM (native/cpu/gemm): micro-kernel tile, blocks and block routines of the level
  const SgemmKernel* sgemm = nullptr;
  // element-wise arithmetic and activations (native/cpu/elementwise; indices: cpu::BinaryOp, cpu::Activation).
  // binary_f32[op][form]: form 0 out[i] = a[i] op b[i], form 1 a[i] op b[0], form 2 a[0] op b[i]
  static constexpr int kBinaryOps = 4, kActivations = 8;
  void (*binary_f32[kBinaryOps][3])(const float* a, const float* b, float* out, size_t n) = {};
  void (*activation_f32[kActivations])(const float* x, float* y, size_t n) = {};
  // normalization of one row (native/cpu/norm); weight and bias may be null
  void (*layer_norm_f32)(const float* x, const float* w, const float* b, float* y, size_t n, float eps) = nullptr;
  void (*rms_norm_f32)(const float* x, const float* w, float* y, size_t n, float eps) = nullptr;
  // softmax of one row (native/cpu/softmax); mask_mode: cpu::MaskMode (none, a row of n, one value)
  void (*softmax_f32)(const float* x, const float* mask, int mask_mode, float* y, size_t n, bool log) = nullptr;
  // reductions (native/cpu/reduce): sum of n floats in double; acc[c] += sum over rows of x[r * stride + c]
  double (*sum_f32)(const float* x, size_t n) = nullptr;
  void (*sum_rows_f64)(const float* x, size_t rows, size_t stride, size_t cols, double* acc) = nullptr;
};

// The active table. Valid after init_dispatch() (called when the addon loads).
const Kernels& kernels();
IsaLevel active_isa();
// How the level was chosen: "auto" or "TURBOFORMER_ISA".
const char* isa_source();

// Chooses the level from TURBOFORMER_ISA (or the best supported) and fills the table.
// Returns a warning ("" if none), e.g. when the variable names a level the CPU lacks.
const char* init_dispatch();
// Switches the level at run time (tests run every level in one process). Returns false if unsupported.
// Not safe while kernels run on other threads: call it between operations.
bool set_isa(IsaLevel l);

}  // namespace tf
