/**
 * RWKV-4 WKV time mixing (native, SIMD over channels, threads over batch × channel blocks), with exactly the
 * numerically stabilised running-maximum form of Hugging Face's `rwkv_linear_attention_cpu`. Per channel,
 * with w = -exp(timeDecay) and u = timeFirst:
 *
 *   wkv_t = (Σ_{i<t} e^{(t-1-i)w + k_i} v_i + e^{u + k_t} v_t) / (Σ_{i<t} e^{(t-1-i)w + k_i} + e^{u + k_t})
 *
 * kept as a state (num, den, max) scaled by e^-max so that keys large enough to overflow e^k in float32 are fine.
 * Results are the same bits at any thread count.
 */
import { binding, type RawTensor, type RawWkvResult } from '../native';
import { dataOf, packTensor, RECORD } from '../packed';
import { Tensor } from '../tensor';

/** The recurrent state after a token, each f32 [batch, C]. A fresh state is num = den = 0, max = -1e38. */
export interface WkvState {
  num: Tensor<'f32'>;
  den: Tensor<'f32'>;
  max: Tensor<'f32'>;
}

export interface WkvOptions {
  /** An existing f32 [batch, T, C] tensor to write the result into (reused buffers skip a fresh allocation). */
  out?: Tensor<'f32'> | null;
  /**
   * Write the new state over the given `state` in place and return that same object (generation without three
   * fresh state tensors per token). Needs a state. Default false.
   */
  updateState?: boolean;
}

export interface WkvResult {
  /** [batch, T, C] */
  out: Tensor<'f32'>;
  /** The state after the last token: pass it back to continue the sequence (a split run equals one run). */
  state: WkvState;
}

function wrap(r: RawWkvResult, state: WkvState | null | undefined, opts: WkvOptions): WkvResult {
  const inPlace = opts.updateState === true && state != null;
  return {
    out: Tensor.fromNative(r.out),
    state: inPlace
      ? state
      : { num: Tensor.fromNative(r.state.num), den: Tensor.fromNative(r.state.den), max: Tensor.fromNative(r.state.max) },
  };
}

/**
 * RWKV-4 WKV over a sequence.
 *
 * @param timeDecay f32 [C], the raw `time_decay` parameter (the kernel uses w = -exp(timeDecay))
 * @param timeFirst f32 [C], `time_first` (u, the bonus of the current token)
 * @param k f32 [batch, T, C] keys
 * @param v f32 [batch, T, C] values
 * @param state the state after a previous call (not modified unless opts.updateState), or null/undefined for a
 *   fresh one
 * @param opts.out an existing f32 [batch, T, C] tensor to write the result into
 * @param opts.updateState update `state` in place (and return it) instead of returning a new one
 * @example const { out, state } = wkv(att.time_decay, att.time_first, k, v);
 * @example const next = wkv(decay, first, kTok, vTok, state); // one more token (T = 1): the step form
 * @example wkv(decay, first, kTok, vTok, state, { out: outTok, updateState: true }); // a generation loop
 */
export function wkv(
  timeDecay: Tensor<'f32'>,
  timeFirst: Tensor<'f32'>,
  k: Tensor<'f32'>,
  v: Tensor<'f32'>,
  state?: WkvState | null,
  opts: WkvOptions = {},
): WkvResult {
  const fast = stepPacked(timeDecay, timeFirst, k, v, state, opts);
  if (fast) return fast;
  return wrap(binding.wkv(timeDecay, timeFirst, k, v, state, opts), state, opts);
}

const stepRecords = new Float64Array(8 * RECORD);
let stepBusy = false;

// A generation step (the state updated in place) through the packed form (lib/packed.ts): ~5 µs less per call than the
// tensor objects. undefined for any other call, or when an argument is not plainly well formed: the caller then takes
// the object form, whose checks give the messages.
function stepPacked(
  timeDecay: Tensor<'f32'>,
  timeFirst: Tensor<'f32'>,
  k: Tensor<'f32'>,
  v: Tensor<'f32'>,
  state: WkvState | null | undefined,
  opts: WkvOptions,
): WkvResult | undefined {
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts) || opts.updateState !== true) return undefined;
  if (typeof state !== 'object' || state === null || Array.isArray(state) || stepBusy) return undefined;
  stepBusy = true; // an argument's getter that calls wkv again gets the object form, not our half-written records
  try {
    const { out } = opts;
    const { num, den, max } = state;
    const r = stepRecords;
    const ok =
      packTensor(r, 0, k) && packTensor(r, 1, v) && packTensor(r, 2, timeDecay) && packTensor(r, 3, timeFirst) &&
      packTensor(r, 4, num) && packTensor(r, 5, den) && packTensor(r, 6, max) && packTensor(r, 7, out);
    if (!ok) return undefined;
    const res = binding.wkvStepPacked(r, dataOf(k), dataOf(v), dataOf(timeDecay), dataOf(timeFirst), dataOf(num),
      dataOf(den), dataOf(max), dataOf(out));
    // as wrap(): a Tensor over the output (opts.out's memory when given) and the state itself
    return { out: Tensor.fromNative(out ?? (res as RawTensor<'f32'>)), state };
  } finally {
    stepBusy = false;
  }
}

/** wkv() computed off the main thread. */
export async function wkvAsync(
  timeDecay: Tensor<'f32'>,
  timeFirst: Tensor<'f32'>,
  k: Tensor<'f32'>,
  v: Tensor<'f32'>,
  state?: WkvState | null,
  opts: WkvOptions = {},
): Promise<WkvResult> {
  return wrap(await binding.wkvAsync(timeDecay, timeFirst, k, v, state, opts), state, opts);
}
