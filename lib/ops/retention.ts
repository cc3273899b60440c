/**
 * RetNet retention (native; SIMD along the head dims, threads over batch × heads), following torchscale's
 * `MultiScaleRetention` kernels with `RetNetRelPos`'s decay masks, per head (gamma_h = exp(decay_h)):
 *
 * - 'parallel':  out_i = Σ_{j≤i} s_ij v_j / clamp(Σ_j |s_ij|, 1, 5e4), s_ij = (q_i·k_j) γ^{i−j} / sqrt(Σ_{j≤i} γ^{i−j})
 * - 'recurrent': scale_t = scale_{t−1} γ + 1; KV_t = KV_{t−1} sqrt(scale_{t−1}) γ / sqrt(scale_t) + k_t v_tᵀ / sqrt(scale_t);
 *                out_t = q_t KV_t. The state {kv, scale} is returned and accepted, so generation continues from a prefix.
 * - 'chunkwise': the parallel form inside chunks of `chunkSize` tokens plus the decayed cross-chunk state, both
 *                rescaled as torchscale's `chunk_recurrent_forward` does. T must be a multiple of chunkSize.
 *
 * The three forms normalise each row differently (upstream too): they agree to about 1e-3 before the group norm
 * that follows in the model, which removes most of the difference. Each reproduces its own upstream output.
 */
import { binding, type RawRetentionResult, type RawTensor } from '../native';
import { dataOf, packTensor, RECORD } from '../packed';
import { Tensor } from '../tensor';

/** The recurrent state after a token: kv [batch, heads, dv, dk], scale [heads] (a fresh state is zeros). */
export interface RetentionState {
  kv: Tensor<'f32'>;
  scale: Tensor<'f32'>;
}

export interface RetentionOptions {
  /** Default 'parallel'. */
  form?: 'parallel' | 'recurrent' | 'chunkwise';
  /** Chunk length of the chunkwise form (torchscale's recurrent_chunk_size); required for it. */
  chunkSize?: number;
  /** Recurrent form only: the state after a previous call (not modified unless `updateState`). */
  state?: RetentionState | null;
  /**
   * Recurrent form with a `state`: write the new state over `state` in place and return that same object
   * (generation without a fresh copy of the state per token). Default false.
   */
  updateState?: boolean;
  /** An existing f32 [batch, T, heads, dv] tensor to write the result into. */
  out?: Tensor<'f32'> | null;
}

export interface RetentionResult {
  /** [batch, T, heads, dv] (before the group norm) */
  out: Tensor<'f32'>;
  /** The recurrent form's state after the last token; null for the other forms. */
  state: RetentionState | null;
}

function wrap(r: RawRetentionResult, opts: RetentionOptions): RetentionResult {
  const inPlace = opts.updateState === true && opts.state != null;
  return {
    out: Tensor.fromNative(r.out),
    state: inPlace ? opts.state! : r.state ? { kv: Tensor.fromNative(r.state.kv), scale: Tensor.fromNative(r.state.scale) } : null,
  };
}

/**
 * Multi-scale retention.
 *
 * @param q f32 [batch, heads, T, dk] (after the xpos rotation)
 * @param k f32 [batch, heads, T, dk] (after the rotation, scaled by dk^-0.5)
 * @param v f32 [batch, T, heads·dv]
 * @param decay f32 [heads]: log decays, torchscale's log(1 − 2^(−5−h))
 * @example const { out } = retention(qr, kr, v, decay);                                   // parallel (prefill)
 * @example const { out, state } = retention(qr, kr, v, decay, { form: 'recurrent' });    // then token by token:
 *          retention(qTok, kTok, vTok, decay, { form: 'recurrent', state, updateState: true, out: outTok });
 * @example retention(qr, kr, v, decay, { form: 'chunkwise', chunkSize: 64 });
 */
export function retention(
  q: Tensor<'f32'>,
  k: Tensor<'f32'>,
  v: Tensor<'f32'>,
  decay: Tensor<'f32'>,
  opts: RetentionOptions = {},
): RetentionResult {
  const fast = stepPacked(q, k, v, decay, opts);
  if (fast) return fast;
  return wrap(binding.retention(q, k, v, decay, opts), opts);
}

const stepRecords = new Float64Array(7 * RECORD);
let stepBusy = false;

// A generation step (the recurrent form updating opts.state in place) through the packed form (lib/packed.ts): ~4 µs
// less per call than the tensor objects. undefined for any other call, or when an argument is not plainly well formed:
// the caller then takes the object form, whose checks give the messages.
function stepPacked(
  q: Tensor<'f32'>,
  k: Tensor<'f32'>,
  v: Tensor<'f32'>,
  decay: Tensor<'f32'>,
  opts: RetentionOptions,
): RetentionResult | undefined {
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) return undefined;
  const { form, updateState, state, out } = opts;
  if (form !== 'recurrent' || updateState !== true || typeof state !== 'object' || state === null || Array.isArray(state)) {
    return undefined;
  }
  if (stepBusy) return undefined;
  stepBusy = true; // an argument's getter that calls retention again gets the object form, not our half-written records
  try {
    const { kv, scale } = state;
    const r = stepRecords;
    const ok =
      packTensor(r, 0, q) && packTensor(r, 1, k) && packTensor(r, 2, v) && packTensor(r, 3, decay) &&
      packTensor(r, 4, kv) && packTensor(r, 5, scale) && packTensor(r, 6, out);
    if (!ok) return undefined;
    const res = binding.retentionStepPacked(r, dataOf(q), dataOf(k), dataOf(v), dataOf(decay), dataOf(kv),
      dataOf(scale), dataOf(out));
    // as wrap(): a Tensor over the output (opts.out's memory when given) and opts.state itself
    return { out: Tensor.fromNative(out ?? (res as RawTensor<'f32'>)), state };
  } finally {
    stepBusy = false;
  }
}

/** retention() computed off the main thread. */
export async function retentionAsync(
  q: Tensor<'f32'>,
  k: Tensor<'f32'>,
  v: Tensor<'f32'>,
  decay: Tensor<'f32'>,
  opts: RetentionOptions = {},
): Promise<RetentionResult> {
  return wrap(await binding.retentionAsync(q, k, v, decay, opts), opts);
}
