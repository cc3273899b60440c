/**
 * RWKV-4 WKV time mixing (native, SIMD over channels, threads over batch × channel blocks), with exactly the
 * numerically stabilised running-maximum form of Hugging Face's `rwkv_linear_attention_cpu`. Per channel,
 * with w = -exp(timeDecay) and u = timeFirst:
 *
 *   wkv_t = (Σ_{i<t} e^{(t-1-i)w + k_i} v_i + e^{u + k_t} v_t) / (Σ_{i<t} e^{(t-1-i)w + k_i} + e^{u + k_t})
 *
 * kept as a state (num, den, max) scaled by e^-max so that keys large enough to overflow e^k in float32 are fine.
 * Results are the same bits at any thread count.
 *
 * Also RWKV's token shift (`tokenShift`): the mixes of each token with the one before it that feed the key, value and
 * receptance projections of both mixing blocks.
 */
import { binding, type RawTensor, type RawTokenShiftResult, type RawWkvResult } from '../native';
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

export interface TokenShiftOptions {
  /**
   * The token before x, f32 [batch, C] (the state a previous call returned). Default: zeros, as upstream pads a fresh
   * sequence.
   */
  state?: Tensor<'f32'> | null;
  /** Existing f32 [batch, T, C] tensors to write the results into, one per mix. */
  out?: Tensor<'f32'>[] | null;
  /** Write the new state (x's last token) over `opts.state` in place and return that tensor. Default false. */
  updateState?: boolean;
}

export interface TokenShiftResult {
  /** One f32 [batch, T, C] per mix, in the order of `mixes`. */
  out: Tensor<'f32'>[];
  /** x's last token, f32 [batch, C] (T = 0: the state passed in): pass it as `opts.state` to continue. */
  state: Tensor<'f32'>;
}

function wrapShift(r: RawTokenShiftResult, opts: TokenShiftOptions | null | undefined): TokenShiftResult {
  const inPlace = opts?.updateState === true && opts.state != null;
  return {
    out: r.out.map((t) => Tensor.fromNative(t)),  // tensors over opts.out's memory when given
    state: inPlace ? (opts.state as Tensor<'f32'>) : Tensor.fromNative(r.state),
  };
}

/**
 * RWKV's token shift with its mixes, as Hugging Face's `RwkvSelfAttention` and `RwkvFeedForward` compute them: for
 * each mix m, `x * m + shifted * (1 - m)`, where `shifted` is x one token later (the token before the first is
 * `opts.state`, or zeros). Float32 with every operation rounded as torch rounds it, so the results are upstream's
 * bits. One call computes all of a block's mixes (time mixing: key, value, receptance; channel mixing: key,
 * receptance) in one pass over x.
 *
 * @param x f32 [batch, T, C], the layer-normed hidden states
 * @param mixes 1 to 8 f32 tensors of C values, [C] or [1, 1, C] (`time_mix_key`, `time_mix_value`, ...)
 * @param opts.state the token before x (f32 [batch, C]), from a previous call's `state`
 * @param opts.out existing tensors for the results, one per mix
 * @param opts.updateState write the new state over `opts.state` in place
 * @example const { out: [k, v, r], state } = tokenShift(x, [att.time_mix_key, att.time_mix_value, att.time_mix_receptance]);
 * @example tokenShift(xTok, mixes, { state, out: [kTok, vTok, rTok], updateState: true }); // a generation loop
 */
export function tokenShift(x: Tensor<'f32'>, mixes: Tensor<'f32'>[], opts?: TokenShiftOptions | null): TokenShiftResult {
  return wrapShift(binding.tokenShift(x, mixes, opts), opts);
}

/** tokenShift() computed off the main thread. */
export async function tokenShiftAsync(
  x: Tensor<'f32'>,
  mixes: Tensor<'f32'>[],
  opts?: TokenShiftOptions | null,
): Promise<TokenShiftResult> {
  return wrapShift(await binding.tokenShiftAsync(x, mixes, opts), opts);
}
