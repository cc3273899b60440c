/**
 * Quantized weights (8-bit and 4-bit) and the quantized linear layer.
 *
 * Formats of an [out, in] weight (exact byte layouts, all little-endian, one Uint8Array per weight):
 *
 * - `q8_0` — GGML's block_q8_0, byte-compatible: each row is in/32 blocks of 34 bytes {fp16 d; int8 qs[32]};
 *   element j of a block = d·qs[j]. Quantized like GGML's reference: d = amax/127, qs = roundf(x·(1/d)).
 * - `q4_0` — GGML's block_q4_0, byte-compatible: each row is in/32 blocks of 18 bytes {fp16 d; uint8 qs[16]};
 *   the low nibble of qs[j] is element j, the high nibble element j+16; element = d·(nibble − 8). Quantized like
 *   GGML: d = max/−8 (max: the element of largest magnitude, with its sign), nibble = min(15, trunc(x/d + 8.5)).
 * - `int8` — per-output-channel symmetric: out·in int8 codes (row-major), then `out` float32 scales;
 *   element = scale[row]·code. scale = amax(row)/127. Any `in`.
 * - `int4` — group-wise asymmetric (GPTQ/AWQ-style after unpacking), group g = 32, 64 or 128 along `in`,
 *   G = in/g: out·in/2 bytes of codes (row-major; byte i of a row: element 2i in the low nibble, 2i+1 in the
 *   high nibble, i.e. a GPTQ int32 word's nibbles in order), then out·G float32 scales ([out, G]), then out·G
 *   uint8 zero points ([out, G], 0..15); element = scale·(code − zero). Quantized round-to-nearest over
 *   [min(0, min x), max(0, max x)]: scale = (hi − lo)/15, zero = round(−lo/scale), code = clamp(round(x/scale) +
 *   zero, 0, 15). GPTQ checkpoints convert by unpacking qweight/qzeros (v1 files store zero − 1) and scales to
 *   float32; AWQ packs its nibbles in the order 0,2,4,6,1,3,5,7 and needs that reordering.
 *
 * `qlinear` is the op (x·Wᵀ + bias with W in the Hugging Face [out, in] layout); a separate `qmatmul` would only
 * rename it, so there is none. For up to 8 rows of x (decode), activations are quantized per block of 32 and
 * integer dot products are taken straight from the packed blocks (AVX2 maddubs/madd, AVX512-VNNI
 * vpdpbusd/vpdpwssd, scalar): for the 4-bit formats to int8 (like GGML's q8_0: d = amax/127), for the 8-bit
 * formats to int16 (d = amax/32767). This adds the activation rounding: each output is off from the fp32 product
 * of the dequantized weight by at most Σ_k |w_k|·d_x(k)/2 (d_x: the activation block's scale), about 4e-3 relative
 * for Gaussian activations with int8 (small beside the 4-bit weights' own ~10% rounding) and about 2e-5 with int16
 * (so the 8-bit formats stay below 1e-3). For more rows, tiles of the weight are dequantized to fp32 and multiplied
 * with the fp32 GEMM (fp32 accuracy against the dequantized weight).
 *
 * `int8` weights run an integer GEMM at every M instead: each row of x is quantized to int16 with one scale
 * (amax/32767) and each output is its exact integer dot product (int32 sums per 512 of `in`, added in float32) times
 * row scale × weight scale, unless some row's peak exceeds 32 times its rms (an outlier channel): then the paths
 * above. Up to 8 rows it loops over the int8 codes as they are; from 9 rows (the measured crossover) it is a packed
 * GEMM: the codes widened to int16 once per call into 16-column panels with k in pairs, a 6 × 16 register-blocked
 * kernel (vpbroadcastd + vpmaddwd + vpaddd on AVX2, vpdpwssd with AVX512-VNNI). Measured on the AVX2 development
 * machine (Zen 3, one thread, in = out = 4096): about 1.2-1.5× our fp32 GEMM at 32-512 rows, at 70-85% of what a
 * bare 6 × 16 vpmaddwd loop reaches there (~1.45× the FMA peak: vpmaddwd and vpaddd share the integer pipes, so the
 * 2× that the multiply rate alone suggests is out of reach). Results do not depend on the thread count (bitwise).
 */
import { binding, type RawQuantized } from '../native';
import { Tensor } from '../tensor';

export type QuantFormat = 'q8_0' | 'q4_0' | 'int8' | 'int4';
export const QUANT_FORMATS: readonly QuantFormat[] = ['q8_0', 'q4_0', 'int8', 'int4'];

export interface QuantizeOptions {
  /** int4 only: the group along `in`, 32, 64 or 128. Default 32. */
  group?: number;
}

function isFormat(f: unknown): f is QuantFormat {
  return typeof f === 'string' && (QUANT_FORMATS as readonly string[]).includes(f);
}

function checkDim(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new TypeError(`${name} must be a non-negative integer, got ${String(v)}`);
  if (v < 0) throw new RangeError(`${name} must be a non-negative integer, got ${v}`);
  return v;
}

/**
 * Bytes of a weight of this format and [out, in] shape. Throws a RangeError when `in` is not a multiple of the
 * block (q8_0, q4_0: 32) or of the group (int4), or the int4 group is not 32, 64 or 128.
 */
export function quantByteLength(format: QuantFormat, shape: readonly [number, number] | readonly number[], group = 32, name = 'shape'): number {
  if (!isFormat(format)) throw (typeof format === 'string' ? new RangeError(`format must be one of ${QUANT_FORMATS.join(', ')}, got '${format}'`) : new TypeError(`format must be a string (${QUANT_FORMATS.join(', ')})`));
  if (!Array.isArray(shape) || shape.length !== 2) throw new TypeError(`${name} must be [out, in], got ${JSON.stringify(shape)}`);
  const out = checkDim(shape[0], `${name}[0]`);
  const inn = checkDim(shape[1], `${name}[1]`);
  switch (format) {
    case 'q8_0':
    case 'q4_0':
      if (inn % 32) throw new RangeError(`${name}: in = ${inn} is not a multiple of the ${format} block of 32`);
      return out * (inn / 32) * (format === 'q8_0' ? 34 : 18);
    case 'int8':
      return out * inn + 4 * out;
    case 'int4':
      if (group !== 32 && group !== 64 && group !== 128) throw new RangeError(`group must be 32, 64 or 128 for int4, got ${group}`);
      if (inn % group) throw new RangeError(`${name}: in = ${inn} is not a multiple of the int4 group ${group}`);
      return (out * inn) / 2 + out * (inn / group) * 5;
  }
}

/**
 * A quantized [out, in] weight: its format, shape, group and raw bytes (a Uint8Array in the layout of its
 * format, so it can be stored as a U8 tensor, e.g. in safetensors, and wrapped again with `new
 * QuantizedTensor(...)`). The constructor checks the format name, shape, group and byte length.
 */
export class QuantizedTensor implements RawQuantized {
  readonly format: QuantFormat;
  readonly shape: readonly [number, number];
  /** 32 for q8_0 and q4_0 (the block), 0 for int8 (one scale per row), 32/64/128 for int4. */
  readonly group: number;
  readonly data: Uint8Array;

  constructor(format: QuantFormat, shape: readonly number[], data: Uint8Array, opts: QuantizeOptions = {}) {
    if (!isFormat(format)) quantByteLength(format, [0, 0]); // throws the format error
    const group = format === 'int4' ? (opts.group ?? 32) : format === 'int8' ? 0 : 32;
    const need = quantByteLength(format, shape, format === 'int4' ? group : 32);
    if (!(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array');
    if (data.byteLength !== need)
      throw new RangeError(`data has ${data.byteLength} bytes but a ${format} weight of shape [${shape.join(', ')}]${format === 'int4' ? ` (group ${group})` : ''} has ${need}`);
    this.format = format;
    this.shape = [shape[0], shape[1]] as const;
    this.group = group;
    this.data = data;
  }

  /** Wraps what the raw binding returned. */
  static fromRaw(raw: RawQuantized): QuantizedTensor {
    return new QuantizedTensor(raw.format, raw.shape, raw.data, { group: raw.group });
  }

  get out(): number {
    return this.shape[0];
  }
  get in(): number {
    return this.shape[1];
  }
  /** Bytes per weight element, e.g. 1.0625 for q8_0, 0.5625 for q4_0. */
  get bytesPerElement(): number {
    const n = this.shape[0] * this.shape[1];
    return n === 0 ? 0 : this.data.byteLength / n;
  }
}

/**
 * Quantizes an f32 weight [out, in] to `format` (round to nearest; see the module comment for each format's rule).
 * @example
 * const qw = quantize(Tensor.randn([4096, 4096]), 'q4_0');
 * qw.data.byteLength; // 4096 * 128 * 18
 */
export function quantize(w: Tensor<'f32'>, format: QuantFormat, opts: QuantizeOptions = {}): QuantizedTensor {
  return QuantizedTensor.fromRaw(binding.quantize(w, format, opts.group));
}

/** quantize() computed off the main thread. */
export async function quantizeAsync(w: Tensor<'f32'>, format: QuantFormat, opts: QuantizeOptions = {}): Promise<QuantizedTensor> {
  return QuantizedTensor.fromRaw(await binding.quantizeAsync(w, format, opts.group));
}

/** The f32 [out, in] weight that a quantized one stands for. */
export function dequantize(qw: QuantizedTensor | RawQuantized): Tensor<'f32'> {
  return Tensor.fromNative(binding.dequantize(qw));
}

/** dequantize() computed off the main thread. */
export async function dequantizeAsync(qw: QuantizedTensor | RawQuantized): Promise<Tensor<'f32'>> {
  return Tensor.fromNative(await binding.dequantizeAsync(qw));
}

/**
 * A linear layer with a quantized weight: x·Wᵀ + bias, x [..., in] f32, W [out, in] quantized, bias [out] f32;
 * the result is [..., out] f32. See the module comment for the two paths and their accuracy.
 * @example
 * const qw = quantize(w, 'int4', { group: 128 });
 * const y = qlinear(x, qw, bias);
 */
export function qlinear(x: Tensor<'f32'>, qw: QuantizedTensor | RawQuantized, bias?: Tensor<'f32'> | null): Tensor<'f32'> {
  return Tensor.fromNative(binding.qlinear(x, qw, bias ?? undefined));
}

/** qlinear() computed off the main thread. The inputs must not be written until the promise settles. */
export async function qlinearAsync(x: Tensor<'f32'>, qw: QuantizedTensor | RawQuantized, bias?: Tensor<'f32'> | null): Promise<Tensor<'f32'>> {
  return Tensor.fromNative(await binding.qlinearAsync(x, qw, bias ?? undefined));
}
