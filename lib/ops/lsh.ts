/**
 * Reformer attention (native, fp32), with the semantics of Hugging Face's Reformer (transformers 4.41):
 * `lshAttention` is `LSHSelfAttention` and `localAttention` is `LocalSelfAttention`, both on already projected
 * per-head vectors [B, H, N, D]. One chunked-attention kernel serves both: LSH sorts the positions by hash
 * bucket, local attention keeps their order. Cost O(N · chunkLength · (1 + before + after)) per hash round;
 * nothing N × N is ever held.
 *
 * LSH semantics (shared query-key):
 * - buckets: angular LSH, argmax over [xR, −xR] with per-round random rotations R (`rotations`
 *   [H, D, numHashes, numBuckets/2], upstream's `random_rotations`, or drawn from `seed`); a factorised
 *   `numBuckets: [a, b]` hashes with a/2 + b/2 rotations per round and gives a·b buckets (bucket = i + a·j).
 *   When any position of the batch is padding (attentionMask 0), padded positions go to an extra bucket and
 *   every row's bucket count becomes numBuckets + 1 (only the returned bucket numbers show it).
 * - positions are sorted stably by (round, bucket, position); the sorted slots of all rounds are cut into
 *   chunks of `chunkLength`; each chunk attends to itself and to `numChunksBefore` / `numChunksAfter`
 *   neighbouring chunks, wrapping around (chunk 0 looks back at the last chunk, of the last round).
 * - keys are the length-normalised vectors x / sqrt(mean(x²) + 1e-6) divided by √D; queries are raw; no other
 *   scale. Padded keys and (causal) later keys score −1e9, a query's own position −1e5 (so a token attends to
 *   itself only when nothing else is allowed), exactly as upstream's finite masks.
 * - rounds are combined through their log-sum-exp, in float32 as upstream.
 * - N ≤ chunkLength: plain shared-QK attention with the self mask (no hashing, no rounds), as upstream.
 *
 * Local attention: q, k, v; keys divided by √D; chunks of `chunkLength` attend to their neighbours (non-causal
 * chunk 0 also sees the last chunk, as upstream); masked scores −1e9, so a row whose keys are all masked
 * returns the sum of the values (upstream's float32 behaviour; such rows are padded queries).
 *
 * N must be a multiple of chunkLength when longer (upstream pads the sequence at the model level).
 * Results are bitwise independent of the thread count. Memory beyond the output: the rows of a group of heads
 * gathered in bucket order (8 MiB, or one head's 2 · numHashes · N · D floats when more), a few ints per
 * (head, round, position) and, above two rounds, (numHashes − 2) · N · D floats per head; blocks of 256 KiB or
 * more are kept for later calls in a small cache (at most 8 blocks, 192 MiB).
 */
import { binding, type RawLshResult } from '../native';
import { Rng } from '../random';
import { Tensor } from '../tensor';

/** Options of localAttention (LocalSelfAttention). */
export interface LocalAttentionOptions {
  /** Chunk length. Default 64 (upstream local_attn_chunk_length). */
  chunkLength?: number;
  /** Chunks before each chunk that it attends to. Default 1. */
  numChunksBefore?: number;
  /** Chunks after each chunk that it attends to. Default 0. */
  numChunksAfter?: number;
  /** Causal mask (upstream is_decoder). Default false. */
  causal?: boolean;
  /** Padding mask [B, N] (u8/i8/i32/i64), nonzero = attend (Hugging Face's attention_mask). */
  attentionMask?: Tensor | null;
  /** An existing f32 tensor of the result's shape ([B, H, N, D]) to write the result into (returned as is); it must not share memory with an input. */
  out?: Tensor<'f32'> | null;
}

/** Options of lshAttention (LSHSelfAttention). */
export interface LshAttentionOptions extends LocalAttentionOptions {
  /** Buckets per hash round: an even count (or 1: no hashing), or even factors [a, b, ...]. Required when N > chunkLength. */
  numBuckets?: number | readonly number[];
  /** Hash rounds. Default 1. */
  numHashes?: number;
  /** The random rotations [H, D, numHashes, Σ numBuckets / 2] (upstream random_rotations). */
  rotations?: Tensor<'f32'> | null;
  /** Without `rotations`: draw them with lshRandomRotations(…, { seed }). Default 0. */
  seed?: number;
}

export interface LshAttentionResult {
  out: Tensor<'f32'>;
  /** [B, H, numHashes, N] bucket of each position per round, offset by round × bucket count (upstream's buckets); null for N ≤ chunkLength. */
  buckets: Tensor<'i32'> | null;
}

function bucketFactors(numBuckets: number | readonly number[]): number[] {
  return typeof numBuckets === 'number' ? [numBuckets] : [...numBuckets];
}

function rotationSize(numBuckets: number | readonly number[]): number {
  let r = 0;
  for (const f of bucketFactors(numBuckets)) {
    if (typeof f !== 'number' || !Number.isSafeInteger(f) || f < 1) throw new TypeError(`numBuckets must be positive integers, got ${String(f)}`);
    r += Math.floor(f / 2);
  }
  return r;
}

/**
 * Random rotations for lshAttention, shaped as upstream's `random_rotations` [numHeads, headDim, numHashes,
 * Σ numBuckets / 2], standard normal entries from the seeded generator (lib/random.ts; reproducible, not
 * equal to torch's draws).
 * @example const rot = lshRandomRotations(8, 64, 2, 32, { seed: 1 }); // [8, 64, 2, 16]
 */
export function lshRandomRotations(numHeads: number, headDim: number, numHashes: number, numBuckets: number | readonly number[], opts: { seed?: number } = {}): Tensor<'f32'> {
  for (const [x, n] of [[numHeads, 'numHeads'], [headDim, 'headDim'], [numHashes, 'numHashes']] as const)
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 1) throw new TypeError(`${n} must be a positive integer, got ${String(x)}`);
  const rs = rotationSize(numBuckets);
  const n = numHeads * headDim * numHashes * rs;
  if (n > 2 ** 30) throw new RangeError(`the rotations [${numHeads}, ${headDim}, ${numHashes}, ${rs}] are too large`);
  const rng = new Rng(opts.seed ?? 0);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = rng.normal();
  return Tensor.from(data, [numHeads, headDim, numHashes, rs]);
}

// The rotations to pass: the given ones, or drawn from the seed when hashing needs them.
function resolveRotations(qk: Tensor<'f32'>, opts: LshAttentionOptions | undefined): Tensor<'f32'> | null {
  if (opts === undefined || opts === null || typeof opts !== 'object') return null;
  if (opts.rotations !== undefined && opts.rotations !== null) return opts.rotations;
  const nb = opts.numBuckets;
  if (nb === undefined || !(qk instanceof Tensor) || qk.shape.length !== 4) return null;
  const [, H, N, D] = qk.shape;
  const chunk = opts.chunkLength ?? 64;
  if (typeof chunk !== 'number' || N <= chunk) return null;
  const rs = rotationSize(nb);
  if (rs === 0) return null;
  return lshRandomRotations(H, D, opts.numHashes ?? 1, nb, { seed: opts.seed });
}

function rawOpts(opts: LshAttentionOptions | undefined): LshAttentionOptions | undefined {
  if (opts === undefined || opts === null || typeof opts !== 'object') return opts;
  const { rotations: _r, seed: _s, ...rest } = opts;
  return rest;
}

/**
 * Reformer LSH self-attention. qk (shared query-key vectors) and v [B, H, N, D]. Returns out [B, H, N, D], or
 * `{ out, buckets }` with `returnBuckets: true`. Throws TypeError / RangeError naming the bad argument.
 * @example lshAttention(qk, v, { numBuckets: 16, numHashes: 2, chunkLength: 64, seed: 1 })
 */
export function lshAttention(qk: Tensor<'f32'>, v: Tensor<'f32'>, opts: LshAttentionOptions & { returnBuckets: true }): LshAttentionResult;
export function lshAttention(qk: Tensor<'f32'>, v: Tensor<'f32'>, opts?: LshAttentionOptions & { returnBuckets?: false }): Tensor<'f32'>;
export function lshAttention(qk: Tensor<'f32'>, v: Tensor<'f32'>, opts?: LshAttentionOptions & { returnBuckets?: boolean }): Tensor<'f32'> | LshAttentionResult {
  const r = binding.lshAttention(qk, v, resolveRotations(qk, opts), rawOpts(opts));
  return wrap(r, opts?.returnBuckets === true, opts?.out);
}

/** lshAttention() computed off the main thread; inputs must not be disposed or written until it settles. */
export async function lshAttentionAsync(qk: Tensor<'f32'>, v: Tensor<'f32'>, opts: LshAttentionOptions & { returnBuckets: true }): Promise<LshAttentionResult>;
export async function lshAttentionAsync(qk: Tensor<'f32'>, v: Tensor<'f32'>, opts?: LshAttentionOptions & { returnBuckets?: false }): Promise<Tensor<'f32'>>;
export async function lshAttentionAsync(qk: Tensor<'f32'>, v: Tensor<'f32'>, opts?: LshAttentionOptions & { returnBuckets?: boolean }): Promise<Tensor<'f32'> | LshAttentionResult> {
  const r = await binding.lshAttentionAsync(qk, v, resolveRotations(qk, opts), rawOpts(opts));
  return wrap(r, opts?.returnBuckets === true, opts?.out);
}

function wrap(r: RawLshResult, withBuckets: boolean, given: Tensor<'f32'> | null | undefined): Tensor<'f32'> | LshAttentionResult {
  const out = given ?? Tensor.fromNative(r.out); // opts.out itself when given
  if (!withBuckets) return out;
  return { out, buckets: r.buckets ? Tensor.fromNative(r.buckets) : null };
}

/**
 * Reformer local (chunked) self-attention: q, k, v [B, H, N, D] -> [B, H, N, D].
 * @example localAttention(q, k, v, { chunkLength: 64, numChunksBefore: 1 })
 */
export function localAttention(q: Tensor<'f32'>, k: Tensor<'f32'>, v: Tensor<'f32'>, opts?: LocalAttentionOptions): Tensor<'f32'> {
  const raw = binding.localAttention(q, k, v, opts);
  return opts?.out ?? Tensor.fromNative(raw);
}

/** localAttention() computed off the main thread. */
export async function localAttentionAsync(q: Tensor<'f32'>, k: Tensor<'f32'>, v: Tensor<'f32'>, opts?: LocalAttentionOptions): Promise<Tensor<'f32'>> {
  const raw = await binding.localAttentionAsync(q, k, v, opts);
  return opts?.out ?? Tensor.fromNative(raw);
}
