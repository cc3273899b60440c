/**
 * Performer FAVOR+ attention (native, fp32), with the semantics of lucidrains/performer-pytorch: attention
 * through random features φ, so that softmax(QKᵀ/√D)V ≈ D⁻¹ φ(Q)(φ(K)ᵀV) costs O(N·m·D) instead of O(N²·D).
 *
 * - `kernel: 'softmax'` (default): positive random features, `softmax_kernel` upstream. With c = D^-1/4 and
 *   P the [m, D] projection: x' = c·x·Pᵀ, φ(x) = m^-1/2 · (exp(x' − c²|x|²/2 − max) + eps), eps 1e-4. The
 *   stabilising max is each row's maximum for queries and the maximum over all positions and features of
 *   each (batch, head) for keys; both cancel in the normalised output.
 * - `kernel: 'relu'`: `generalized_kernel` with ReLU, φ(x) = relu(c·x·Pᵀ) + eps, eps (kernel_epsilon) 1e-3.
 * - non-causal: out_i = φ(q_i)·(φ(K)ᵀV) / (φ(q_i)·Σ_j φ(k_j)), `linear_attention` upstream.
 * - causal: prefix sums, `causal_linear_attention_noncuda` upstream (causalEps 1e-6 added to every element
 *   of the key prefix sum), computed chunk by chunk with a running [m, D] state: no per-position outer
 *   products are stored.
 *
 * Results are bitwise independent of the thread count (one (batch, head) per work item).
 */
import { binding } from '../native';
import { Rng } from '../random';
import { Tensor } from '../tensor';

export interface FavorKernelOptions {
  /** 'softmax' (positive random features, default) or 'relu' (the generalized ReLU kernel). */
  kernel?: 'softmax' | 'relu';
  /** Feature epsilon: default 1e-4 for 'softmax' (inside the ratio), 1e-3 for 'relu' (kernel_epsilon). */
  eps?: number;
  /** Scale inputs by D^-1/4 before the projection (upstream normalize_data). Default true. */
  normalizeData?: boolean;
}

export interface FavorOptions extends FavorKernelOptions {
  /** Causal (prefix-sum) attention. Default false. */
  causal?: boolean;
  /** Added to each element of the key prefix sum in the causal form. Default 1e-6. */
  causalEps?: number;
  /** An existing f32 tensor of the result's shape (q's, [B, H, N, D]) to write the result into (returned as is); it must not share memory with an input. */
  out?: Tensor<'f32'> | null;
}

/** A projection drawn on the fly by gaussianOrthogonalRandomMatrix(nbFeatures, D, { seed, scaling }). */
export interface FavorProjectionSpec {
  nbFeatures: number;
  seed?: number;
  scaling?: 0 | 1;
}

export interface GaussianOrthogonalOptions {
  /** Seed of the generator (lib/random.ts). Default 0. */
  seed?: number;
  /**
   * 0 (default): each row scaled by the norm of an independent Gaussian vector of nbColumns entries (so the
   * rows have the lengths of Gaussian rows); 1: every row scaled by √nbColumns.
   */
  scaling?: 0 | 1;
}

function checkCount(x: unknown, name: string): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x)) throw new TypeError(`${name} must be a positive integer, got ${String(x)}`);
  if (x < 1) throw new RangeError(`${name} must be a positive integer, got ${x}`);
  return x;
}

// Q of the QR decomposition of a square matrix a (row-major, n × n, float64), returned as Qᵀ (rows = Q's
// columns): modified Gram-Schmidt over the columns, each orthogonalised twice (which keeps Q orthogonal to
// working precision even for ill-conditioned blocks).
function orthonormalRows(a: Float64Array, n: number): Float64Array {
  const q = new Float64Array(n * n); // row r = column r of Q
  for (let c = 0; c < n; c++) {
    const w = new Float64Array(n);
    for (let i = 0; i < n; i++) w[i] = a[i * n + c];
    for (let pass = 0; pass < 2; pass++) {
      for (let r = 0; r < c; r++) {
        let dot = 0;
        for (let i = 0; i < n; i++) dot += q[r * n + i] * w[i];
        for (let i = 0; i < n; i++) w[i] -= dot * q[r * n + i];
      }
    }
    let norm = 0;
    for (let i = 0; i < n; i++) norm += w[i] * w[i];
    norm = Math.sqrt(norm);
    if (!(norm > 1e-300)) throw new RangeError('gaussianOrthogonalRandomMatrix: a singular Gaussian block (try another seed)');
    for (let i = 0; i < n; i++) q[c * n + i] = w[i] / norm;
  }
  return q;
}

/**
 * A Gaussian orthogonal random matrix [nbRows, nbColumns], performer-pytorch's
 * `gaussian_orthogonal_random_matrix`: stacked blocks of nbColumns orthonormal rows (the Q factor of a QR of
 * a square Gaussian block; the last block truncated), each row then scaled (see `scaling`). Seeded and
 * reproducible (not bitwise equal to torch's draws).
 * @example const proj = gaussianOrthogonalRandomMatrix(256, 64, { seed: 1 }); // m = 256 features for D = 64
 */
export function gaussianOrthogonalRandomMatrix(nbRows: number, nbColumns: number, opts: GaussianOrthogonalOptions = {}): Tensor<'f32'> {
  checkCount(nbRows, 'nbRows');
  checkCount(nbColumns, 'nbColumns');
  if (opts === null || typeof opts !== 'object') throw new TypeError('opts must be an object');
  const seed = opts.seed ?? 0;
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) throw new TypeError(`seed must be a safe integer, got ${String(seed)}`);
  const scaling = opts.scaling ?? 0;
  if (scaling !== 0 && scaling !== 1) throw new RangeError(`scaling must be 0 or 1, got ${String(scaling)}`);
  if (nbRows * nbColumns > 2 ** 30) throw new RangeError(`nbRows × nbColumns is too large (${nbRows} × ${nbColumns})`);
  const rng = new Rng(seed);
  const n = nbColumns;
  const out = new Float32Array(nbRows * n);
  const rows = new Float64Array(nbRows * n);
  for (let r0 = 0; r0 < nbRows; r0 += n) {
    const block = new Float64Array(n * n);
    for (let i = 0; i < n * n; i++) block[i] = rng.normal();
    const q = orthonormalRows(block, n);
    const take = Math.min(n, nbRows - r0);
    rows.set(q.subarray(0, take * n), r0 * n);
  }
  for (let r = 0; r < nbRows; r++) {
    let mult = Math.sqrt(n);
    if (scaling === 0) {
      let s = 0;
      for (let i = 0; i < n; i++) s += rng.normal() ** 2;
      mult = Math.sqrt(s);
    }
    for (let i = 0; i < n; i++) out[r * n + i] = mult * rows[r * n + i];
  }
  return Tensor.from(out, [nbRows, n]);
}

function resolveProjection(projection: Tensor<'f32'> | FavorProjectionSpec, D: unknown): Tensor<'f32'> {
  if (projection instanceof Tensor) return projection;
  if (projection !== null && typeof projection === 'object' && 'nbFeatures' in projection) {
    if (typeof D !== 'number') throw new TypeError('q must be a tensor [B, H, N, D]');
    return gaussianOrthogonalRandomMatrix(projection.nbFeatures, D, { seed: projection.seed, scaling: projection.scaling });
  }
  return projection as Tensor<'f32'>; // the native layer names what is wrong with it
}

function headDim(x: Tensor<'f32'>): unknown {
  return x instanceof Tensor && x.shape.length === 4 ? x.shape[3] : undefined;
}

/**
 * FAVOR+ attention. q, k, v [B, H, N, D] (the same shape); projection [m, D] (e.g. from
 * gaussianOrthogonalRandomMatrix), or `{ nbFeatures, seed, scaling }` to draw one. Returns [B, H, N, D].
 * Throws TypeError / RangeError naming the bad argument.
 * @example favorAttention(q, k, v, gaussianOrthogonalRandomMatrix(256, 64, { seed: 0 }), { causal: true })
 */
export function favorAttention(q: Tensor<'f32'>, k: Tensor<'f32'>, v: Tensor<'f32'>, projection: Tensor<'f32'> | FavorProjectionSpec, opts?: FavorOptions): Tensor<'f32'> {
  const raw = binding.favorAttention(q, k, v, resolveProjection(projection, headDim(q)), opts);
  return opts?.out ?? Tensor.fromNative(raw);
}

/** favorAttention() computed off the main thread; inputs must not be disposed or written until it settles. */
export async function favorAttentionAsync(q: Tensor<'f32'>, k: Tensor<'f32'>, v: Tensor<'f32'>, projection: Tensor<'f32'> | FavorProjectionSpec, opts?: FavorOptions): Promise<Tensor<'f32'>> {
  const raw = await binding.favorAttentionAsync(q, k, v, resolveProjection(projection, headDim(q)), opts);
  return opts?.out ?? Tensor.fromNative(raw);
}

/**
 * The feature map φ alone: x [B, H, N, D] -> [B, H, N, m] (upstream q_prime / k_prime). `isQuery` (default
 * true) selects the stabiliser: each row's maximum (queries) or the (batch, head)'s maximum (keys).
 */
export function favorFeatures(x: Tensor<'f32'>, projection: Tensor<'f32'>, opts?: FavorKernelOptions & { isQuery?: boolean }): Tensor<'f32'> {
  return Tensor.fromNative(binding.favorFeatures(x, projection, opts));
}

/** favorFeatures() computed off the main thread. */
export async function favorFeaturesAsync(x: Tensor<'f32'>, projection: Tensor<'f32'>, opts?: FavorKernelOptions & { isQuery?: boolean }): Promise<Tensor<'f32'>> {
  return Tensor.fromNative(await binding.favorFeaturesAsync(x, projection, opts));
}
