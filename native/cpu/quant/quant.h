// Quantized weights and the quantized linear layer y = x·Wᵀ (+ bias), W of shape [out, in] = [N, K].
//
// Formats and their exact byte layouts (little-endian; all of a weight's bytes in one buffer):
//
//   q8_0   GGML's block_q8_0: each row is K/32 blocks of 34 bytes {fp16 d; int8 qs[32]}, rows one after
//          another. Element j of a block is d·qs[j]. Quantized as GGML's reference: d = amax/127, codes
//          roundf(x·(1/d)) (halves away from zero), with the unrounded float32 d; only the stored d is fp16.
//   q4_0   GGML's block_q4_0: each row is K/32 blocks of 18 bytes {fp16 d; uint8 qs[16]}; the low nibble of
//          qs[j] is element j, the high nibble element j + 16; element = d·(nibble − 8). Quantized as GGML:
//          d = max / −8 where max is the element of largest magnitude (the first on ties), codes
//          min(15, (int8)(x·(1/d) + 8.5)) in float32.
//   int8   per-output-channel symmetric: N·K int8 codes (row-major [N, K]), then N float32 scales;
//          element (n, k) = scale[n]·code[n, k]; scale = amax(row)/127, codes roundf(x·(1/scale)) in
//          [−127, 127]. Any K.
//   int4   group-wise asymmetric (GPTQ/AWQ-style after unpacking), group g ∈ {32, 64, 128}, G = K/g groups per
//          row: N·K/2 bytes of codes (row-major; byte i of a row holds element 2i in its low nibble and 2i+1
//          in its high nibble, the order of a GPTQ int32 word read little-endian), then N·G float32 scales
//          ([N, G]), then N·G uint8 zero points ([N, G], values 0..15); element = scale·(code − zero).
//          Quantized round-to-nearest over [lo, hi] = [min(0, min x), max(0, max x)], in float32 with
//          id = 1/scale: scale = (hi − lo)/15, zero = clamp(roundf(−lo·id), 0, 15),
//          code = clamp(roundf(x·id) + zero, 0, 15); an all-zero group stores scale 0, zero 0, codes 0.
//
// qlinear chooses its path from the shape alone (so results never depend on the thread count):
// M ≤ kQuantSmallM rows: activations are quantized per block of 32, to int8 for the 4-bit formats (d = amax/127,
// like GGML's q8_0) and to int16 for the 8-bit formats (d = amax/32767), and each output is a sum of integer block
// dot products scaled in float32 (the dispatch table's quant_gemv: AVX2 maddubs/madd, AVX512-VNNI
// vpdpbusd/vpdpwssd, scalar); larger M: tiles of W are dequantized to float32 and multiplied with the fp32 GEMM
// (tf::cpu::sgemm).
// Exception: an int8 weight runs an integer GEMM at every M instead (quant_gemm_i8):
// each activation row is quantized to int16 with one scale (amax/32767), and each output is its exact integer dot
// product (summed in chunks of kQuantKc, each chunk converted to float32) times row scale × weight scale, unless some
// row's peak exceeds 32 times its rms (an outlier channel, which one int16 scale would leave at more than ~3e-4
// relative rounding): then the call takes the per-block path above (M ≤ kQuantSmallM) or the fp32 path below. At
// M ≤ kQuantSmallM the per-row scale spares the per-block int→float conversion and scaling of the block path (one
// int8 weight row costs 2 vpmovsxbw + 2 vpmaddwd + 2 vpaddd per 32 weights; measured ~20% less time at M = 1 with
// the weight in L2). The choice depends on x, never on threads. Up to M = 8 the kernel loops over the int8 codes as
// they are (one vpmaddwd + vpaddd per 16 products, the weight widened on the fly for 1-4 rows of x at a time, which
// beat dequantizing into the fp32 GEMM only up to about M = 48); from M = kQuantGemmI8PackM it is a packed GEMM
// (quant_x86.h quant_gemm_i8_packed: codes widened once per call into int16 panels, 6 × 16 register blocking). The
// crossover, measured on the AVX2 development machine (Zen 3, one thread, K = N = 4096, CPU time, interleaved
// rounds): M = 8 loop 65 / packed 63 GOP/s, M = 9 65 / 66, M = 10 62 / 73, M = 12 68 / 84.
// Accuracy against the fp32 product of the dequantized weight: the large-M path is an fp32 GEMM (~1e-7
// relative); the integer path adds the activation rounding, |error| ≤ Σ_k |w_k|·d_x(k)/2 per output (d_x: the
// scale of x's block): about 4e-3 relative for Gaussian activations with int8 (4-bit formats, whose own weight
// rounding is ~10% relative), about 2e-5 with int16 (8-bit formats).
#pragma once
#include <cstddef>
#include <cstdint>

namespace tf::cpu {

enum class QuantFormat : int { Q8_0 = 0, Q4_0 = 1, Int8 = 2, Int4 = 3 };
constexpr int kQuantFormats = 4;
constexpr int64_t kQuantBlock = 32;  // activation block, and the block of q8_0 / q4_0
constexpr int64_t kQuantSmallM = 8;  // rows of x up to which qlinear uses the integer path
// int8 weights: rows of x from which the integer GEMM runs as a packed, register-blocked GEMM (quant_x86.h
// quant_gemm_i8_packed; below: a gemv-like loop over the unpacked codes)
constexpr int64_t kQuantGemmI8PackM = 9;

// Parses "q8_0", "q4_0", "int8", "int4"; false for anything else.
bool quant_format_from_name(const char* s, QuantFormat* out);
const char* quant_format_name(QuantFormat f);

// A quantized [n, k] weight in one of the formats above. `group` is used by int4 only.
struct QuantWeight {
  QuantFormat format = QuantFormat::Q8_0;
  int64_t n = 0, k = 0;
  int64_t group = 32;
  const uint8_t* data = nullptr;
};

// Bytes of a weight of this format and shape; -1 when k is not a multiple of the block (q8_0, q4_0) or of the
// group (int4), or the group is not 32, 64 or 128 (int4).
int64_t quant_nbytes(QuantFormat f, int64_t n, int64_t k, int64_t group);

// w is [n, k] float32; out gets quant_nbytes(f, n, k, group) bytes. Parallel over rows.
void quantize(QuantFormat f, const float* w, int64_t n, int64_t k, int64_t group, uint8_t* out);
// out is [n, k] float32. Parallel over rows.
void dequantize(const QuantWeight& w, float* out);
// Rows [r0, r1) of w as float32 into out (row r at out + (r - r0) * k). Single-threaded.
void dequantize_rows(const QuantWeight& w, int64_t r0, int64_t r1, float* out);

// y[m, n] = x[m, k]·Wᵀ + bias (bias may be null). y must not overlap x.
void qlinear(const QuantWeight& w, const float* x, int64_t m, const float* bias, float* y);

// ---- what the per-ISA integer kernels see ----

// One block of 32 activations quantized to int8: x ≈ d·q (q_eo: the same codes permuted, see below). lanes8[i] = 8·(q[4i] + q[4i+1] + q[4i+2] + q[4i+3]):
// the offset term of q4_0's unsigned nibbles, per 32-bit lane of the integer dot product.
// For the 8-bit weight formats the block is quantized to int16 instead (x ≈ d16·q16, d16 = amax/32767; q, q_eo,
// lanes8 and d are then not made), so that their products carry about 1e-5 activation rounding instead of 4e-3.
// 32-byte aligned, so that the vector loads never split a cache line.
struct alignas(32) ActBlock {
  int8_t q[32];
  int8_t q_eo[32];  // q in the order of an int4 block's nibbles: even elements (low nibbles), then odd ones
  int32_t lanes8[8];
  int16_t q16[32];
  float d;
  float d16;
};

// The 4-bit formats' integer kernels take weight blocks two at a time (b, b + 1 for even b): the activations of such a
// pair arranged once per call the way those kernels read them (quant_x86.h pair_step), so that a pair costs each
// weight row no shuffles on the activation side. Int32 lane i (0-3) of a pair's integer dot product covers, of
// block b (lanes 4-7: of block b + 1), elements 4i..4i+3 and 16+4i..16+4i+3 (q4_0) or 8i..8i+7 (int4).
struct alignas(32) ActPair {
  int8_t lo[32];   // [codes 0-15 of block b | of block b + 1]: ActBlock::q (q4_0) or ActBlock::q_eo (int4)
  int8_t hi[32];   // the same with codes 16-31
  float dx[8];     // [d_b ×4, d_b+1 ×4]
  float c[8];      // q4_0: dx · 8·(the lane's code sum), rounded to float32 (the nibbles' offset 8, taken off in float)
  int32_t off[8];  // int4: the lane's code sum as int16 in the low half, 0 in the high half (times the zero point,
                   // taken off in int32 with one madd)
};

// The 4-bit formats' kernels also take eight blocks b .. b + 7 (b a multiple of 8, four pairs) at a time: the four pairs'
// integer dot products reduced to one int32 per block (quant_x86.h oct_step) and scaled in one float vector. Their
// lanes hold the blocks in the order [b, b+2, b+4, b+6, b+1, b+3, b+5, b+7] (what the horizontal adds leave), and
// these per-block activation terms are stored in that order.
struct alignas(32) ActOct {
  float dx[8];     // the blocks' d
  float c[8];      // q4_0: d · 8·(the block's code sum), rounded to float32
  int32_t off[8];  // int4: the block's code sum as int16 in the low half, 0 in the high half
};

// Formats whose integer path uses the int16 activations (8-bit weights: the weight rounding is small, so the
// activations' must be too); the 4-bit formats use the int8 ones.
constexpr bool quant_int16_acts(QuantFormat f) { return f == QuantFormat::Q8_0 || f == QuantFormat::Int8; }

struct QuantGemv {
  QuantWeight w;
  int64_t kb = 0;                 // blocks of 32 per row (K rounded up; the last block of int8 may be partial)
  const ActBlock* act = nullptr;  // [m, kb]
  int64_t m = 0;
  const float* bias = nullptr;  // [n] or null
  float* y = nullptr;           // [m, ldy]
  int64_t ldy = 0;
  // int8 weights (the dispatch table's quant_gemm_i8): activations quantized per row to int16
  const int16_t* xq = nullptr;  // [m, ldx] codes, zero-padded past k
  const float* xd = nullptr;    // [m] row scales amax/32767 (NaN for a row holding a NaN)
  int64_t ldx = 0;              // k rounded up to 32
  // M ≥ kQuantGemmI8PackM: xq packed for the packed GEMM, [ceil(m / 6), ldx / 2, 6]: per tile of 6 rows, per pair
  // of k (2p, 2p + 1), the 6 rows' two codes as one int32 (rows past m: 0). Null below (the kernels then read xq).
  const int32_t* xpk = nullptr;
  const ActPair* pairs = nullptr;  // 4-bit formats, M ≤ kQuantSmallM: [m, kb / 2], made from act (the x86 pair steps)
  const ActOct* octs = nullptr;    // 4-bit formats, M ≤ kQuantSmallM: [m, kb / 8], made from act (the x86 oct steps)
  // q8_0, M ≤ kQuantSmallM: act's int16 codes and d16 copied compactly ([m, kb·32] and [m, kb]), so that a row's
  // activations take 2·k bytes of L1 (ActBlock spreads them over 6·k) while the weight streams through it. Measured
  // on the AVX2 development machine (Zen 3, one thread, M = 1, K 4096, N 11008, weights in rotation; CPU time, best of
  // 30 interleaved rounds, noisy shared machine): 17.9-19.6 -> 20.2-22.9 GB/s over three runs, the same output bits.
  // (Reducing eight blocks' int32 sums into one vector with horizontal adds, one conversion and one scaling FMA per
  // eight blocks, cut the instructions per block from ~15 to ~8.4 but measured no faster, with or without this copy.)
  const int16_t* q16 = nullptr;
  const float* d16 = nullptr;
};

// The int8 GEMM sums K in chunks of kQuantKc: a chunk's exact integer sum fits int32 even for codes −128 and
// 32767 (512·128·32767 < 2^31), is converted to float32 and added to the output; the scales and bias come last.
constexpr int64_t kQuantKc = 512;

// Byte helpers shared by the kernels (no SIMD).
inline float load_f32(const uint8_t* p) {
  float f;
  __builtin_memcpy(&f, p, 4);
  return f;
}
inline uint16_t load_u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

}  // namespace tf::cpu
