/**
 * Loads the native addon and types the raw binding. Everything else in lib/ goes through `binding`.
 *
 * The addon is found by node-gyp-build: a local build in build/Release (or build/Debug) first, then the
 * prebuilt binary in prebuilds/<platform>-<arch>/ that ships in the npm package. `TURBOFORMER_ADDON`
 * names an explicit .node file instead.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Element types: f16 and bf16 are stored as Uint16Array bit patterns, i64 as BigInt64Array. */
export type DType = 'f32' | 'f16' | 'bf16' | 'i8' | 'u8' | 'i32' | 'i64';

/** The storage array of each dtype. */
export interface DTypeArrays {
  f32: Float32Array;
  f16: Uint16Array;
  bf16: Uint16Array;
  i8: Int8Array;
  u8: Uint8Array;
  i32: Int32Array;
  i64: BigInt64Array;
}
export type TypedArray = DTypeArrays[DType];

/** A tensor's data in the packed form of hot ops' arguments (lib/packed.ts); undefined or null when absent. */
export type PackedData = TypedArray | null | undefined;

/** What crosses the native boundary: a contiguous row-major array. `Tensor` satisfies it. */
export interface RawTensor<D extends DType = DType> {
  data: DTypeArrays[D];
  shape: readonly number[];
  dtype: D;
}

export type IsaLevel = 'scalar' | 'avx2' | 'avx512' | 'neon';

export interface CudaDevice {
  index: number;
  name: string;
  computeCapability: string;
  totalMemory: number;
  multiprocessors: number;
}

export interface NativeInfo {
  version: string;
  napiVersion: number;
  isa: { active: IsaLevel; best: IsaLevel; source: string; supported: IsaLevel[]; warning: string };
  features: {
    avx2: boolean; fma: boolean; f16c: boolean;
    avx512f: boolean; avx512bw: boolean; avx512vl: boolean; avx512dq: boolean;
    avx512_vnni: boolean; avx512_bf16: boolean; neon: boolean;
  };
  threads: { count: number; hardware: number };
  build: { system: string; compiler: string; type: string; arch: string; isaKernels: string; cuda: boolean };
  cuda: {
    compiled: boolean;
    architectures: string;
    runtimeVersion: number;
    driverVersion: number;
    available: boolean;
    devices: CudaDevice[];
    message: string;
  };
}

export interface MemoryStats {
  /** Bytes of native tensor memory not yet freed. */
  liveBytes: number;
  liveBuffers: number;
  /** Bytes of memory-mapped files not yet unmapped. */
  mappedBytes: number;
  mappedFiles: number;
  /**
   * Whether blocks of 4 MiB or more are advised for transparent huge pages (TURBOFORMER_HUGE_PAGES=1 on Linux; off by
   * default).
   */
  hugePages: boolean;
}

/**
 * Activation names accepted by `activation()`: the Hugging Face `hidden_act` spellings. 'gelu' is the exact
 * (erf) form; 'gelu_tanh', 'gelu_new', 'gelu_pytorch_tanh' and 'gelu_fast' are the tanh approximation;
 * 'swish' is 'silu'; 'relu2' is relu(x)² (rounded once).
 */
export type ActivationName =
  | 'gelu' | 'gelu_tanh' | 'gelu_new' | 'gelu_pytorch_tanh' | 'gelu_fast'
  | 'silu' | 'swish' | 'relu' | 'relu6' | 'sigmoid' | 'tanh' | 'softplus' | 'relu2';

/** What the raw topk returns: values and their positions along the last axis. */
export interface RawTopK<I extends 'i32' | 'i64' = 'i32' | 'i64'> {
  values: RawTensor<'f32'>;
  indices: RawTensor<I>;
}

/** The raw binding. Every function checks its arguments and throws TypeError/RangeError naming them. */
export interface Binding {
  info(): NativeInfo;
  setNumThreads(n: number): number;
  getNumThreads(): number;
  setIsa(level: IsaLevel | 'auto'): IsaLevel;

  alloc<D extends DType>(dtype: D, shape: readonly number[]): RawTensor<D>;
  detach(buffer: ArrayBuffer): boolean;
  memoryStats(): MemoryStats;
  mapFile(path: string): { buffer: ArrayBuffer; mapped: boolean };

  convert<D extends DType>(src: RawTensor, dtype: D): RawTensor<D>;
  convertAsync<D extends DType>(src: RawTensor, dtype: D): Promise<RawTensor<D>>;

  add(a: RawTensor<'f32'>, b: RawTensor<'f32'>): RawTensor<'f32'>;
  addAsync(a: RawTensor<'f32'>, b: RawTensor<'f32'>): Promise<RawTensor<'f32'>>;

  cudaAdd(a: RawTensor<'f32'>, b: RawTensor<'f32'>, device?: number): RawTensor<'f32'>;
  cudaAddAsync(a: RawTensor<'f32'>, b: RawTensor<'f32'>, device?: number): Promise<RawTensor<'f32'>>;

  // element-wise (lib/ops/elementwise.ts): numpy broadcasting; activations by name
  sub(a: RawTensor<'f32'>, b: RawTensor<'f32'>): RawTensor<'f32'>;
  subAsync(a: RawTensor<'f32'>, b: RawTensor<'f32'>): Promise<RawTensor<'f32'>>;
  mul(a: RawTensor<'f32'>, b: RawTensor<'f32'>): RawTensor<'f32'>;
  mulAsync(a: RawTensor<'f32'>, b: RawTensor<'f32'>): Promise<RawTensor<'f32'>>;
  div(a: RawTensor<'f32'>, b: RawTensor<'f32'>): RawTensor<'f32'>;
  divAsync(a: RawTensor<'f32'>, b: RawTensor<'f32'>): Promise<RawTensor<'f32'>>;
  activation(x: RawTensor<'f32'>, name: ActivationName): RawTensor<'f32'>;
  activationAsync(x: RawTensor<'f32'>, name: ActivationName): Promise<RawTensor<'f32'>>;

  // normalization over the last axis (lib/ops/norm.ts)
  layerNorm(x: RawTensor<'f32'>, weight: RawTensor<'f32'> | null | undefined, bias: RawTensor<'f32'> | null | undefined, eps: number): RawTensor<'f32'>;
  layerNormAsync(x: RawTensor<'f32'>, weight: RawTensor<'f32'> | null | undefined, bias: RawTensor<'f32'> | null | undefined, eps: number): Promise<RawTensor<'f32'>>;
  rmsNorm(x: RawTensor<'f32'>, weight: RawTensor<'f32'> | null | undefined, eps: number): RawTensor<'f32'>;
  rmsNormAsync(x: RawTensor<'f32'>, weight: RawTensor<'f32'> | null | undefined, eps: number): Promise<RawTensor<'f32'>>;

  // softmax over the last axis with an optional additive mask broadcast to x (lib/ops/softmax.ts)
  softmax(x: RawTensor<'f32'>, mask?: RawTensor<'f32'> | null): RawTensor<'f32'>;
  softmaxAsync(x: RawTensor<'f32'>, mask?: RawTensor<'f32'> | null): Promise<RawTensor<'f32'>>;
  logSoftmax(x: RawTensor<'f32'>, mask?: RawTensor<'f32'> | null): RawTensor<'f32'>;
  logSoftmaxAsync(x: RawTensor<'f32'>, mask?: RawTensor<'f32'> | null): Promise<RawTensor<'f32'>>;

  // reductions (lib/ops/reduce.ts): axis null/undefined reduces every element
  sum(x: RawTensor<'f32'>, axis?: number | null, keepdim?: boolean): RawTensor<'f32'>;
  sumAsync(x: RawTensor<'f32'>, axis?: number | null, keepdim?: boolean): Promise<RawTensor<'f32'>>;
  mean(x: RawTensor<'f32'>, axis?: number | null, keepdim?: boolean): RawTensor<'f32'>;
  meanAsync(x: RawTensor<'f32'>, axis?: number | null, keepdim?: boolean): Promise<RawTensor<'f32'>>;
  topk<I extends 'i32' | 'i64' = 'i32'>(x: RawTensor<'f32'>, k: number, largest?: boolean, indexDtype?: I): RawTopK<I>;
  topkAsync<I extends 'i32' | 'i64' = 'i32'>(x: RawTensor<'f32'>, k: number, largest?: boolean, indexDtype?: I): Promise<RawTopK<I>>;

  // layout, any dtype (lib/ops/layout.ts)
  permute<D extends DType>(x: RawTensor<D>, axes: readonly number[]): RawTensor<D>;
  permuteAsync<D extends DType>(x: RawTensor<D>, axes: readonly number[]): Promise<RawTensor<D>>;
  concat<D extends DType>(tensors: readonly RawTensor<D>[], axis: number): RawTensor<D>;
  concatAsync<D extends DType>(tensors: readonly RawTensor<D>[], axis: number): Promise<RawTensor<D>>;
  split<D extends DType>(x: RawTensor<D>, sizes: readonly number[], axis: number): RawTensor<D>[];
  splitAsync<D extends DType>(x: RawTensor<D>, sizes: readonly number[], axis: number): Promise<RawTensor<D>[]>;
  embedding<D extends DType>(ids: RawTensor<'i32' | 'i64'>, table: RawTensor<D>): RawTensor<D>;
  embeddingAsync<D extends DType>(ids: RawTensor<'i32' | 'i64'>, table: RawTensor<D>): Promise<RawTensor<D>>;

  /** alpha·op(a)·op(b) + beta·opts.out with numpy-style batch broadcast; returns opts.out when given. */
  matmul(a: RawTensor<'f32'>, b: RawTensor<'f32'>, opts?: RawMatmulOptions): RawTensor<'f32'>;
  matmulAsync(a: RawTensor<'f32'>, b: RawTensor<'f32'>, opts?: RawMatmulOptions): Promise<RawTensor<'f32'>>;
  /** x·weightᵀ + bias with weight [out, in] (Hugging Face layout). */
  linear(x: RawTensor<'f32'>, weight: RawTensor<'f32'>, bias?: RawTensor<'f32'> | null): RawTensor<'f32'>;
  linearAsync(x: RawTensor<'f32'>, weight: RawTensor<'f32'>, bias?: RawTensor<'f32'> | null): Promise<RawTensor<'f32'>>;
  /** A [out, in] weight packed for the active GEMM kernel (named by `kernel`). */
  packLinear(weight: RawTensor<'f32'>): { data: RawTensor<'f32'>; kernel: string };
  /** linear() with a weight from packLinear(). */
  linearPacked(
    x: RawTensor<'f32'>,
    data: RawTensor<'f32'>,
    kernel: string,
    outFeatures: number,
    inFeatures: number,
    bias?: RawTensor<'f32'> | null,
  ): RawTensor<'f32'>;
  linearPackedAsync(
    x: RawTensor<'f32'>,
    data: RawTensor<'f32'>,
    kernel: string,
    outFeatures: number,
    inFeatures: number,
    bias?: RawTensor<'f32'> | null,
  ): Promise<RawTensor<'f32'>>;
  /** FMA peak of the active level: `iters` rounds of register FMAs on each of `threads` threads (sync). */
  peakProbe(iters?: number, threads?: number): PeakProbeResult;
  /** Memory read bandwidth: `threads` threads read a fresh `megabytes` buffer `passes` times (sync). */
  bandwidthProbe(megabytes?: number, threads?: number, passes?: number): { bytes: number; seconds: number; gbps: number; threads: number };

  // RWKV-4 WKV time mixing (lib/ops/wkv.ts): k, v [batch, T, C]; state {num, den, max} [batch, C] in and out
  wkv(timeDecay: RawTensor<'f32'>, timeFirst: RawTensor<'f32'>, k: RawTensor<'f32'>, v: RawTensor<'f32'>, state?: RawWkvState | null, opts?: { out?: RawTensor<'f32'> | null; updateState?: boolean }): RawWkvResult;
  wkvAsync(timeDecay: RawTensor<'f32'>, timeFirst: RawTensor<'f32'>, k: RawTensor<'f32'>, v: RawTensor<'f32'>, state?: RawWkvState | null, opts?: { out?: RawTensor<'f32'> | null; updateState?: boolean }): Promise<RawWkvResult>;
  // RWKV token shift with its mixes (lib/ops/wkv.ts): x [batch, T, C], each mix C values, state [batch, C]
  tokenShift(x: RawTensor<'f32'>, mixes: RawTensor<'f32'>[], opts?: RawTokenShiftOptions | null): RawTokenShiftResult;
  tokenShiftAsync(x: RawTensor<'f32'>, mixes: RawTensor<'f32'>[], opts?: RawTokenShiftOptions | null): Promise<RawTokenShiftResult>;
  /** wkv with updateState, packed (lib/packed.ts): records, then the data of k, v, timeDecay, timeFirst, state.num, state.den, state.max, out. */
  wkvStepPacked(records: Float64Array, k: PackedData, v: PackedData, timeDecay: PackedData, timeFirst: PackedData, num: PackedData, den: PackedData, max: PackedData, out: PackedData): RawTensor<'f32'> | Float32Array;

  // Mamba selective scan, its one-token step (state updated in place) and causal depthwise conv1d (lib/ops/ssm.ts)
  selectiveScan(u: RawTensor<'f32'>, delta: RawTensor<'f32'>, A: RawTensor<'f32'>, B: RawTensor<'f32'>, C: RawTensor<'f32'>, opts?: RawSelectiveScanOptions): RawSelectiveScanResult;
  selectiveScanAsync(u: RawTensor<'f32'>, delta: RawTensor<'f32'>, A: RawTensor<'f32'>, B: RawTensor<'f32'>, C: RawTensor<'f32'>, opts?: RawSelectiveScanOptions): Promise<RawSelectiveScanResult>;
  selectiveScanStep(state: RawTensor<'f32'>, u: RawTensor<'f32'>, delta: RawTensor<'f32'>, A: RawTensor<'f32'>, B: RawTensor<'f32'>, C: RawTensor<'f32'>, opts?: RawSelectiveScanStepOptions): RawTensor<'f32'>;
  selectiveScanStepAsync(state: RawTensor<'f32'>, u: RawTensor<'f32'>, delta: RawTensor<'f32'>, A: RawTensor<'f32'>, B: RawTensor<'f32'>, C: RawTensor<'f32'>, opts?: RawSelectiveScanStepOptions): Promise<RawTensor<'f32'>>;
  /** selectiveScanStep's packed form (lib/packed.ts): records, then the data of state, u, delta, A, B, C, D, z, deltaBias, out. */
  selectiveScanStepPacked(records: Float64Array, state: PackedData, u: PackedData, delta: PackedData, A: PackedData, B: PackedData, C: PackedData, D: PackedData, z: PackedData, deltaBias: PackedData, out: PackedData, deltaSoftplus: boolean | undefined): RawTensor<'f32'> | Float32Array;
  causalConv1d(x: RawTensor<'f32'>, weight: RawTensor<'f32'>, bias?: RawTensor<'f32'> | null, opts?: RawCausalConv1dOptions): RawCausalConv1dResult;
  causalConv1dAsync(x: RawTensor<'f32'>, weight: RawTensor<'f32'>, bias?: RawTensor<'f32'> | null, opts?: RawCausalConv1dOptions): Promise<RawCausalConv1dResult>;
  causalConv1dStepPacked(records: Float64Array, x: PackedData, weight: PackedData, bias: PackedData, state: PackedData, out: PackedData, activation: unknown): RawTensor<'f32'> | Float32Array;
  /** Throughput of the active level's vectorized exp (the scan's): one thread, L1-resident data (sync). */
  expProbe(passes?: number): { exps: number; seconds: number; gexps: number };

  // RetNet retention, torchscale's parallel / recurrent / chunkwise forms (lib/ops/retention.ts)
  retention(q: RawTensor<'f32'>, k: RawTensor<'f32'>, v: RawTensor<'f32'>, decay: RawTensor<'f32'>, opts?: RawRetentionOptions): RawRetentionResult;
  retentionAsync(q: RawTensor<'f32'>, k: RawTensor<'f32'>, v: RawTensor<'f32'>, decay: RawTensor<'f32'>, opts?: RawRetentionOptions): Promise<RawRetentionResult>;
  /** retention's recurrent form with updateState, packed (lib/packed.ts): records, then the data of q, k, v, decay, state.kv, state.scale, out. */
  retentionStepPacked(records: Float64Array, q: PackedData, k: PackedData, v: PackedData, decay: PackedData, kv: PackedData, scale: PackedData, out: PackedData): RawTensor<'f32'> | Float32Array;

  // flash attention (lib/ops/attention.ts): q [B, Hq, Nq, D], k and v [B, Hkv, Nk, D] (or [B, N, H, D] with layout 'bnhd')
  attention(q: RawTensor<'f32'>, k: RawTensor<'f32'>, v: RawTensor<'f32'>, opts?: RawAttentionOptions | null): RawTensor<'f32'> | RawAttentionResult;
  attentionAsync(q: RawTensor<'f32'>, k: RawTensor<'f32'>, v: RawTensor<'f32'>, opts?: RawAttentionOptions | null): Promise<RawTensor<'f32'> | RawAttentionResult>;
  // block-sparse attention (lib/ops/attention.ts): layout [H or 1, Nq/block, Nk/block] (u8/i8/i32/i64, nonzero = present)
  blockSparseAttention(q: RawTensor<'f32'>, k: RawTensor<'f32'>, v: RawTensor<'f32'>, layout: RawTensor, opts: RawBlockSparseOptions): RawTensor<'f32'> | RawAttentionResult;
  blockSparseAttentionAsync(q: RawTensor<'f32'>, k: RawTensor<'f32'>, v: RawTensor<'f32'>, layout: RawTensor, opts: RawBlockSparseOptions): Promise<RawTensor<'f32'> | RawAttentionResult>;
  // Longformer's and BigBird's exact attention (lib/ops/attention.ts)
  longformerAttention(q: RawTensor<'f32'>, k: RawTensor<'f32'>, v: RawTensor<'f32'>, opts: RawLongformerOptions): RawTensor<'f32'>;
  longformerAttentionAsync(q: RawTensor<'f32'>, k: RawTensor<'f32'>, v: RawTensor<'f32'>, opts: RawLongformerOptions): Promise<RawTensor<'f32'>>;
  bigbirdAttention(q: RawTensor<'f32'>, k: RawTensor<'f32'>, v: RawTensor<'f32'>, opts: RawBigBirdOptions): RawTensor<'f32'>;
  bigbirdAttentionAsync(q: RawTensor<'f32'>, k: RawTensor<'f32'>, v: RawTensor<'f32'>, opts: RawBigBirdOptions): Promise<RawTensor<'f32'>>;

  // quantized weights (lib/ops/quant.ts): formats and byte layouts in native/cpu/quant/quant.h
  quantize(w: RawTensor<'f32'>, format: RawQuantFormat, group?: number): RawQuantized;
  quantizeAsync(w: RawTensor<'f32'>, format: RawQuantFormat, group?: number): Promise<RawQuantized>;
  dequantize(qw: RawQuantized): RawTensor<'f32'>;
  dequantizeAsync(qw: RawQuantized): Promise<RawTensor<'f32'>>;
  qlinear(x: RawTensor<'f32'>, qweight: RawQuantized, bias?: RawTensor<'f32'> | null): RawTensor<'f32'>;
  qlinearAsync(x: RawTensor<'f32'>, qweight: RawQuantized, bias?: RawTensor<'f32'> | null): Promise<RawTensor<'f32'>>;

  // Performer FAVOR+ (lib/ops/favor.ts): q, k, v [B, H, N, D], projection [m, D]; features [B, H, N, m]
  favorAttention(q: RawTensor<'f32'>, k: RawTensor<'f32'>, v: RawTensor<'f32'>, projection: RawTensor<'f32'>, opts?: { causal?: boolean; kernel?: 'softmax' | 'relu'; eps?: number; causalEps?: number; normalizeData?: boolean; out?: RawTensor<'f32'> | null } | null): RawTensor<'f32'>;
  favorAttentionAsync(q: RawTensor<'f32'>, k: RawTensor<'f32'>, v: RawTensor<'f32'>, projection: RawTensor<'f32'>, opts?: { causal?: boolean; kernel?: 'softmax' | 'relu'; eps?: number; causalEps?: number; normalizeData?: boolean; out?: RawTensor<'f32'> | null } | null): Promise<RawTensor<'f32'>>;
  favorFeatures(x: RawTensor<'f32'>, projection: RawTensor<'f32'>, opts?: { isQuery?: boolean; kernel?: 'softmax' | 'relu'; eps?: number; normalizeData?: boolean } | null): RawTensor<'f32'>;
  favorFeaturesAsync(x: RawTensor<'f32'>, projection: RawTensor<'f32'>, opts?: { isQuery?: boolean; kernel?: 'softmax' | 'relu'; eps?: number; normalizeData?: boolean } | null): Promise<RawTensor<'f32'>>;
  // Linformer (lib/ops/linformer.ts): q [B, H, Nq, D], k and v [B, Hkv, Nk, D], projK/projV [nMax, kp]
  linformerAttention(q: RawTensor<'f32'>, k: RawTensor<'f32'>, v: RawTensor<'f32'>, projK: RawTensor<'f32'>, projV?: RawTensor<'f32'> | null, opts?: { scale?: number; out?: RawTensor<'f32'> | null } | null): RawTensor<'f32'>;
  linformerAttentionAsync(q: RawTensor<'f32'>, k: RawTensor<'f32'>, v: RawTensor<'f32'>, projK: RawTensor<'f32'>, projV?: RawTensor<'f32'> | null, opts?: { scale?: number; out?: RawTensor<'f32'> | null } | null): Promise<RawTensor<'f32'>>;
  // Reformer LSH / local attention (lib/ops/lsh.ts): qk, v [B, H, N, D], rotations [H, D, numHashes, Σ numBuckets / 2]
  lshAttention(qk: RawTensor<'f32'>, v: RawTensor<'f32'>, rotations: RawTensor<'f32'> | null, opts?: RawLshOptions | null): RawLshResult;
  lshAttentionAsync(qk: RawTensor<'f32'>, v: RawTensor<'f32'>, rotations: RawTensor<'f32'> | null, opts?: RawLshOptions | null): Promise<RawLshResult>;
  localAttention(q: RawTensor<'f32'>, k: RawTensor<'f32'>, v: RawTensor<'f32'>, opts?: RawLocalOptions | null): RawTensor<'f32'>;
  localAttentionAsync(q: RawTensor<'f32'>, k: RawTensor<'f32'>, v: RawTensor<'f32'>, opts?: RawLocalOptions | null): Promise<RawTensor<'f32'>>;

  // Mixture of Experts (lib/ops/moe.ts): routing, dispatch, gather, grouped expert FFNs, combine, and all of them
  moeRoute(logits: RawTensor<'f32'>, opts: RawMoeRouteOptions): RawMoeRoute;
  moeRouteAsync(logits: RawTensor<'f32'>, opts: RawMoeRouteOptions): Promise<RawMoeRoute>;
  moeDispatch(experts: RawTensor<'i32'>, numExperts: number): RawMoeDispatch;
  moeDispatchAsync(experts: RawTensor<'i32'>, numExperts: number): Promise<RawMoeDispatch>;
  moeGather(x: RawTensor<'f32'>, perm: RawTensor<'i32'>, topK: number): RawTensor<'f32'>;
  moeGatherAsync(x: RawTensor<'f32'>, perm: RawTensor<'i32'>, topK: number): Promise<RawTensor<'f32'>>;
  moeExperts(xg: RawTensor<'f32'>, offsets: RawTensor<'i32'>, experts: RawMoeExperts, opts?: { schedule?: RawMoeSchedule } | null): RawTensor<'f32'>;
  moeExpertsAsync(xg: RawTensor<'f32'>, offsets: RawTensor<'i32'>, experts: RawMoeExperts, opts?: { schedule?: RawMoeSchedule } | null): Promise<RawTensor<'f32'>>;
  moeCombine(y: RawTensor<'f32'>, inv: RawTensor<'i32'>, weights: RawTensor<'f32'>, x?: RawTensor<'f32'> | null): RawTensor<'f32'>;
  moeCombineAsync(y: RawTensor<'f32'>, inv: RawTensor<'i32'>, weights: RawTensor<'f32'>, x?: RawTensor<'f32'> | null): Promise<RawTensor<'f32'>>;
  moe(x: RawTensor<'f32'>, routerWeight: RawTensor<'f32'>, experts: RawMoeExperts, opts: RawMoeOptions): RawMoeResult;
  moeAsync(x: RawTensor<'f32'>, routerWeight: RawTensor<'f32'>, experts: RawMoeExperts, opts: RawMoeOptions): Promise<RawMoeResult>;
}

/** Quantized weight formats (see lib/ops/quant.ts). */
export type RawQuantFormat = 'q8_0' | 'q4_0' | 'int8' | 'int4';
/** A quantized [out, in] weight as it crosses the boundary; `group`: 32 (q8_0, q4_0), 0 (int8), 32/64/128 (int4). */
export interface RawQuantized {
  format: RawQuantFormat;
  shape: readonly number[];
  group: number;
  data: Uint8Array;
}

/** Mixture of Experts at the boundary (see lib/ops/moe.ts). */
export interface RawMoeRouteOptions {
  kind: 'mixtral' | 'switch';
  topK?: number;
  normalize?: boolean;
  capacity?: number | null;
  capacityFactor?: number | null;
  groupSize?: number | null;
}
export type RawMoeSchedule = 'auto' | 'sequential' | 'chunked';
export interface RawMoeOptions extends RawMoeRouteOptions {
  routerBias?: RawTensor<'f32'> | null;
  schedule?: RawMoeSchedule;
}
export type RawMoeWeight = RawTensor<'f32'> | RawQuantized;
export type RawMoeExperts =
  | { kind: 'swiglu'; activation?: ActivationName; w1: readonly RawMoeWeight[]; w3: readonly RawMoeWeight[]; w2: readonly RawMoeWeight[] }
  | { kind: 'dense'; activation?: ActivationName; wi: readonly RawMoeWeight[]; wo: readonly RawMoeWeight[] };
export interface RawMoeRoute {
  experts: RawTensor<'i32'>;
  weights: RawTensor<'f32'>;
  probSum: RawTensor<'f32'>;
  routedCounts: RawTensor<'i32'>;
  keptCounts: RawTensor<'i32'>;
}
export interface RawMoeDispatch {
  offsets: RawTensor<'i32'>;
  perm: RawTensor<'i32'>;
  inv: RawTensor<'i32'>;
}
export interface RawMoeResult extends RawMoeRoute {
  out: RawTensor<'f32'>;
  routerLogits: RawTensor<'f32'>;
}

/** Options of the raw attention (see lib/ops/attention.ts). */
export interface RawAttentionOptions {
  layout?: 'bhnd' | 'bnhd';
  causal?: boolean;
  scale?: number;
  keyPaddingMask?: RawTensor<'u8' | 'i8' | 'i32' | 'i64'> | null;
  bias?: RawTensor<'f32'> | null;
  window?: readonly [number, number] | null;
  returnLse?: boolean;
  out?: RawTensor<'f32'> | null;
}
/** Options of the raw block-sparse attention (see lib/ops/attention.ts). */
export interface RawBlockSparseOptions {
  block: number;
  layout?: 'bhnd' | 'bnhd';
  causal?: boolean;
  scale?: number;
  keyPaddingMask?: RawTensor | null;
  returnLse?: boolean;
  out?: RawTensor<'f32'> | null;
}
/** Options of the raw Longformer attention (see lib/ops/attention.ts). */
export interface RawLongformerOptions {
  window: number;
  layout?: 'bhnd' | 'bnhd';
  scale?: number;
  attentionMask?: RawTensor | null;
  globalAttentionMask?: RawTensor | null;
  globalQ?: RawTensor<'f32'> | null;
  globalK?: RawTensor<'f32'> | null;
  globalV?: RawTensor<'f32'> | null;
  out?: RawTensor<'f32'> | null;
}
/** Options of the raw BigBird attention (see lib/ops/attention.ts). */
export interface RawBigBirdOptions {
  block: number;
  numRandomBlocks?: number;
  randomTable?: RawTensor<'i32' | 'i64'> | null;
  layout?: 'bhnd' | 'bnhd';
  scale?: number;
  attentionMask?: RawTensor | null;
  out?: RawTensor<'f32'> | null;
}
/** What the raw attention returns when `returnLse` is set. */
export interface RawAttentionResult {
  out: RawTensor<'f32'>;
  lse: RawTensor<'f32'>;
}

/** tokenShift's options (see lib/ops/wkv.ts). */
export interface RawTokenShiftOptions {
  state?: RawTensor<'f32'> | null;
  out?: RawTensor<'f32'>[] | null;
  updateState?: boolean;
}

/** tokenShift's result: one output per mix, and the state (x's last token). */
export interface RawTokenShiftResult {
  out: RawTensor<'f32'>[];
  state: RawTensor<'f32'>;
}

/** RWKV-4 WKV state, each [batch, C] (see lib/ops/wkv.ts). */
export interface RawWkvState {
  num: RawTensor<'f32'>;
  den: RawTensor<'f32'>;
  max: RawTensor<'f32'>;
}
export interface RawWkvResult {
  out: RawTensor<'f32'>;
  state: RawWkvState;
}

/** Options of the raw selective scan step (see lib/ops/ssm.ts). */
export interface RawSelectiveScanStepOptions {
  D?: RawTensor<'f32'> | null;
  z?: RawTensor<'f32'> | null;
  deltaBias?: RawTensor<'f32'> | null;
  deltaSoftplus?: boolean;
  out?: RawTensor<'f32'> | null;
}
/** Options of the raw selective scan (see lib/ops/ssm.ts). */
export interface RawSelectiveScanOptions extends RawSelectiveScanStepOptions {
  returnLastState?: boolean;
  state?: RawTensor<'f32'> | null;
}
export interface RawSelectiveScanResult {
  out: RawTensor<'f32'>;
  lastState: RawTensor<'f32'> | null;
}
export interface RawCausalConv1dOptions {
  activation?: 'silu' | 'swish' | 'none' | null;
  state?: RawTensor<'f32'> | null;
  out?: RawTensor<'f32'> | null;
  updateState?: boolean;
}
export interface RawCausalConv1dResult {
  out: RawTensor<'f32'>;
  state: RawTensor<'f32'>;
}

/** RetNet recurrent state: kv [batch, heads, dv, dk], scale [heads] (see lib/ops/retention.ts). */
export interface RawRetentionState {
  kv: RawTensor<'f32'>;
  scale: RawTensor<'f32'>;
}
export interface RawRetentionOptions {
  form?: 'parallel' | 'recurrent' | 'chunkwise';
  chunkSize?: number;
  state?: RawRetentionState | null;
  updateState?: boolean;
  out?: RawTensor<'f32'> | null;
}
export interface RawRetentionResult {
  out: RawTensor<'f32'>;
  state: RawRetentionState | null;
}

/** Reformer local attention options (lib/ops/lsh.ts). */
export interface RawLocalOptions {
  chunkLength?: number;
  numChunksBefore?: number;
  numChunksAfter?: number;
  causal?: boolean;
  attentionMask?: RawTensor | null;
  out?: RawTensor<'f32'> | null;
}
/** Reformer LSH attention options (lib/ops/lsh.ts). */
export interface RawLshOptions extends RawLocalOptions {
  numBuckets?: number | readonly number[];
  numHashes?: number;
  returnBuckets?: boolean;
}
export interface RawLshResult {
  out: RawTensor<'f32'>;
  buckets: RawTensor<'i32'> | null;
}

/** Options of the raw matmul (see lib/ops/gemm.ts). */
export interface RawMatmulOptions {
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  beta?: number;
  /** An existing f32 tensor of the result's shape: C of C = alpha·op(a)·op(b) + beta·C, written in place. */
  out?: RawTensor<'f32'> | null;
}

export interface PeakProbeResult {
  /** Floating-point operations done (2 per FMA lane). */
  flops: number;
  seconds: number;
  /** flops / seconds / 1e9, all threads together. */
  gflops: number;
  threads: number;
  isa: IsaLevel;
  /** The GEMM micro-kernel of the active level, e.g. 'avx2 4x24'. */
  kernel: string;
}

/** The package root (holds package.json, build/ and prebuilds/). */
export const packageRoot = join(__dirname, '..');

function candidates(): string[] {
  const out: string[] = [];
  for (const dir of ['build/Release', 'build/Debug']) {
    const p = join(packageRoot, dir, 'turboformer.node');
    if (existsSync(p)) out.push(p);
  }
  const pre = join(packageRoot, 'prebuilds', `${process.platform}-${process.arch}`);
  if (existsSync(pre)) for (const f of readdirSync(pre)) out.push(join(pre, f));
  return out;
}

function loadError(cause: unknown, explicit?: string): Error {
  const reason = cause instanceof Error ? cause.message : String(cause);
  const tried = explicit ? [explicit] : candidates();
  const lines = [
    `turboformer: could not load the native addon for ${process.platform}-${process.arch} (Node ${process.version}, N-API ${process.versions.napi}).`,
    `Reason: ${reason.split('\n')[0]}`,
    tried.length
      ? `Tried: ${tried.join(', ')}`
      : `Tried: build/Release, build/Debug and prebuilds/${process.platform}-${process.arch}/ under ${packageRoot}; none exists.`,
    'How to fix:',
    '  - reinstall without --ignore-scripts or --omit=optional mistakes: `npm install turboformer`;',
    `  - no prebuilt binary ships for ${process.platform}-${process.arch}: build from source with a C++17 compiler, Python 3 and make:`,
    '    `npm rebuild turboformer` (node-gyp), or in a clone `npm run build:native` (cmake-js);',
    '  - the prebuilt Linux binary is built on Debian 12 (glibc 2.36); on an older glibc, build from source. Node-API 8 (Node 18.17+) is required.',
  ];
  if (explicit) lines.push('  - TURBOFORMER_ADDON is set: check that it names a turboformer .node file built for this platform.');
  const err = new Error(lines.join('\n'));
  (err as Error & { cause?: unknown }).cause = cause;
  return err;
}

function load(): Binding {
  const explicit = process.env.TURBOFORMER_ADDON;
  try {
    if (explicit) return require(explicit) as Binding;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
    return nodeGypBuild(packageRoot) as Binding;
  } catch (cause) {
    throw loadError(cause, explicit);
  }
}

/** The loaded addon. Loading happens once, when this module is first imported. */
export const binding: Binding = load();
