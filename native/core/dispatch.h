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

struct Kernels {
  // elementwise (native/cpu/elementwise)
  void (*add_f32)(const float* a, const float* b, float* out, size_t n) = nullptr;
  // dtype conversion (native/cpu/convert)
  void (*f32_to_f16)(const float* src, uint16_t* dst, size_t n) = nullptr;
  void (*f16_to_f32)(const uint16_t* src, float* dst, size_t n) = nullptr;
  void (*f32_to_bf16)(const float* src, uint16_t* dst, size_t n) = nullptr;
  void (*bf16_to_f32)(const uint16_t* src, float* dst, size_t n) = nullptr;
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
