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
namespace cpu {
struct RetentionArgs;  // native/cpu/retention/retention.h
}
struct FlashParams;  // native/cpu/attention/flash.h
struct BlockSparseParams;  // native/cpu/attention/blocksparse.h
struct ChunkAttnParams;  // native/cpu/attention/lsh.h
namespace cpu { struct QuantGemv; }  // native/cpu/quant/quant.h

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
  static constexpr int kBinaryOps = 4, kActivations = 9;
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
  // RWKV-4 WKV over nc channels for T tokens (native/cpu/wkv): k, v, out advance by ldc per token; w = -exp(decay)
  void (*wkv_f32)(const float* w, const float* u, const float* k, const float* v, float* out, int64_t T, int64_t ldc,
                  int64_t nc, float* num, float* den, float* max) = nullptr;
  // Mamba SSM rows (native/cpu/ssm): dt = softplus?(delta + bias); the selective scan of one (batch, channel) row
  // (x, A and B/C rows hold ceil(N/W) full vectors; B/C advance by sB/sC per step; y may alias dt); the gate
  // out = (y + D u) * silu(z) (D, z may be null); the causal depthwise conv of one row (xp: k - 1 + L values)
  void (*ssm_delta_f32)(const float* delta, const float* bias, int64_t bias_stride, bool softplus, float* dt,
                        size_t n) = nullptr;
  void (*ssm_scan_f32)(const float* dt, const float* u, const float* A, const float* B, int64_t sB, const float* C,
                       int64_t sC, float* x, float* y, int64_t L, int64_t N) = nullptr;
  void (*ssm_gate_f32)(const float* y, const float* u, const float* D, int64_t d_stride, const float* z, float* out,
                       size_t n) = nullptr;
  void (*ssm_step_fused_f32)(const float* delta, const float* bias, bool softplus, const float* u, const float* A,
                             const float* B, int64_t bdiv, const float* C, int64_t cdiv, const float* D,
                             const float* z, float* x, float* out, int64_t d0, int64_t count,
                             int64_t N) = nullptr;  // one token of consecutive channels (delta, scan, gate), state in place
  void (*ssm_conv_row_f32)(const float* xp, const float* w, int64_t k, float bias, bool silu, float* out,
                           int64_t L) = nullptr;
  void (*ssm_exp_probe_f32)(float* x, size_t n, int64_t passes) = nullptr;  // the fastest exp's rate (benchmarks)
  // one token of the causal conv for n channels of one sequence (w [n, k], state [n, k-1]; state_out may be state_in)
  void (*ssm_conv_step_f32)(const float* x, const float* w, int64_t k, const float* bias, const float* state_in,
                            float* state_out, bool silu, float* out, int64_t n) = nullptr;
  // RetNet retention's parallel form for one (batch, head) (native/cpu/retention); scratch: see retention.cc
  void (*retention_parallel_f32)(const cpu::RetentionArgs& a, int64_t b, int64_t h, float* scratch) = nullptr;
  // the recurrent form for heads [h0, h0 + nh) of batch row b, block of tokens by block across them; scratch:
  // cpu::retention_rec_group_floats
  void (*retention_rec_group_f32)(const cpu::RetentionArgs& a, int64_t b, int64_t h0, int64_t nh,
                                  float* scratch) = nullptr;
  // the chunkwise form for heads [h0, h0 + nh) of batch row b, chunk by chunk across them; scratch:
  // cpu::retention_chunk_group_floats
  void (*retention_chunk_group_f32)(const cpu::RetentionArgs& a, int64_t b, int64_t h0, int64_t nh,
                                    float* scratch) = nullptr;
  // flash attention (native/cpu/attention): one work item (flash.h: flash_items) with its thread's scratch
  void (*flash_attention_f32)(const FlashParams& p, int64_t item, float* scratch) = nullptr;
  // block-sparse attention (native/cpu/attention/blocksparse.h): one work item with its thread's scratch
  void (*block_sparse_attention_f32)(const BlockSparseParams& p, int64_t item, float* scratch) = nullptr;
  // quantized GEMV (native/cpu/quant; index: cpu::QuantFormat): outputs of weight rows [n0, n1) from packed blocks
  void (*quant_gemv[4])(const cpu::QuantGemv& a, int64_t n0, int64_t n1) = {};
  // weight rows [r0, r1) of a.w dequantized to float32 rows of a.w.k (native/cpu/quant)
  void (*quant_dequant[4])(const cpu::QuantGemv& a, int64_t r0, int64_t r1, float* out) = {};
  // int8 weight: y[:, n0:n1] from the per-row int16 activations a.xq / a.xpk (exact int32 sums per chunk of
  // k, then the scales and bias) (native/cpu/quant)
  void (*quant_gemm_i8)(const cpu::QuantGemv& a, int64_t n0, int64_t n1) = {};
  // FAVOR+ feature row in place (native/cpu/favor): kind 0 x = ratio·(exp(x − shift) + eps), kind 1 x = relu(x) + eps
  void (*favor_feature_f32)(float* x, size_t n, float shift, float ratio, float eps, int kind) = nullptr;
  // Reformer chunked attention (native/cpu/attention/lsh.h): one work item (lsh_items) with its thread's scratch
  void (*lsh_chunk_attention_f32)(const ChunkAttnParams& p, int64_t item, float* scratch) = nullptr;
  // Reformer hashing (native/cpu/attention/lsh.h): y [rows, cols] = x [rows, d] · rot [d, cols]
  void (*lsh_rotate_f32)(const float* x, int64_t rows, int64_t d, const float* rot, int64_t cols, float* y) = nullptr;
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
