/**
 * Mamba state-space ops (native, SIMD over the state dimension, threads over batch × channels), with exactly
 * the semantics of mamba_ssm's `selective_scan_ref` and channel-first layouts:
 *
 *   dt = softplus(delta + deltaBias)   (or delta + deltaBias; torch's softplus: identity above 20)
 *   x_l = exp(dt_l · A) ⊙ x_{l-1} + dt_l · u_l · B_l      (state x: [N] per batch and channel)
 *   y_l = ⟨x_l, C_l⟩ + D · u_l,   out = y ⊙ silu(z)
 *
 * plus the one-token step for generation and the causal depthwise conv1d that a Mamba block runs before the
 * scan. Every (batch, channel) row is computed by one thread in a fixed order: the same bits at any thread count,
 * and a sequence split through the returned state gives the same bits as one run.
 */
import {
  binding,
  type RawCausalConv1dResult,
  type RawSelectiveScanOptions,
  type RawSelectiveScanResult,
  type RawSelectiveScanStepOptions,
  type RawTensor,
} from '../native';
import { dataOf, packTensor, RECORD } from '../packed';
import { Tensor } from '../tensor';

/** Options shared by selectiveScan() and selectiveScanStep(). */
export interface SelectiveScanStepOptions {
  /** f32 [dim]: the skip connection y += D · u. */
  D?: Tensor<'f32'> | null;
  /** f32 like u: the output is multiplied by silu(z). */
  z?: Tensor<'f32'> | null;
  /** f32 [dim], added to delta before the softplus. */
  deltaBias?: Tensor<'f32'> | null;
  /** dt = softplus(delta + deltaBias); default false (Mamba blocks use true). */
  deltaSoftplus?: boolean;
  /**
   * An existing f32 tensor of the result's shape ([batch, dim, L] for selectiveScan, [batch, dim] for the step)
   * to write the result into (reused buffers skip a fresh allocation); the same tensor is returned.
   */
  out?: Tensor<'f32'> | null;
}

export interface SelectiveScanOptions extends SelectiveScanStepOptions {
  /** Also return the state after the last step (default false). */
  returnLastState?: boolean;
  /** f32 [batch, dim, N], the state before the first step (default zeros); not modified. */
  state?: Tensor<'f32'> | null;
}

export interface SelectiveScanResult {
  /** [batch, dim, L] */
  out: Tensor<'f32'>;
  /** [batch, dim, N] when returnLastState, else null. */
  lastState: Tensor<'f32'> | null;
}

function wrapScan(r: RawSelectiveScanResult): SelectiveScanResult {
  return { out: Tensor.fromNative(r.out), lastState: r.lastState ? Tensor.fromNative(r.lastState) : null };
}

/**
 * The selective scan over a sequence (mamba_ssm `selective_scan_ref`).
 *
 * @param u f32 [batch, dim, L] input
 * @param delta f32 [batch, dim, L] step sizes (before deltaBias / softplus)
 * @param A f32 [dim, N] (real; negative in Mamba: A = -exp(A_log))
 * @param B f32 [batch, N, L] (time-varying), [batch, G, N, L] (G groups, group g serving channels
 *   g·dim/G … (g+1)·dim/G − 1) or [dim, N] (time-invariant)
 * @param C like B (each may use a different form)
 * @example const { out } = selectiveScan(x, dt, A, B, C, { D, z, deltaBias: dtBias, deltaSoftplus: true });
 * @example const a = selectiveScan(u1, d1, A, B1, C1, { returnLastState: true });
 *          const b = selectiveScan(u2, d2, A, B2, C2, { state: a.lastState }); // continues the sequence
 */
export function selectiveScan(
  u: Tensor<'f32'>,
  delta: Tensor<'f32'>,
  A: Tensor<'f32'>,
  B: Tensor<'f32'>,
  C: Tensor<'f32'>,
  opts: SelectiveScanOptions = {},
): SelectiveScanResult {
  return wrapScan(binding.selectiveScan(u, delta, A, B, C, opts as RawSelectiveScanOptions));
}

/** selectiveScan() computed off the main thread. */
export async function selectiveScanAsync(
  u: Tensor<'f32'>,
  delta: Tensor<'f32'>,
  A: Tensor<'f32'>,
  B: Tensor<'f32'>,
  C: Tensor<'f32'>,
  opts: SelectiveScanOptions = {},
): Promise<SelectiveScanResult> {
  return wrapScan(await binding.selectiveScanAsync(u, delta, A, B, C, opts as RawSelectiveScanOptions));
}

/**
 * One token of the selective scan, for generation: updates `state` IN PLACE (like mamba_ssm's
 * selective_state_update) and returns the output. Token by token it gives the same bits as selectiveScan().
 *
 * @param state f32 [batch, dim, N], updated in place (start from zeros or a scan's lastState)
 * @param u f32 [batch, dim]
 * @param delta f32 [batch, dim]
 * @param A f32 [dim, N]
 * @param B f32 [batch, N] or [batch, G, N]
 * @param C f32 [batch, N] or [batch, G, N]
 * @returns out f32 [batch, dim] (opts.out when given)
 * @example const y = selectiveScanStep(state, xTok, dtTok, A, BTok, CTok, { D, z: zTok, deltaBias: dtBias, deltaSoftplus: true, out: yTok });
 */
export function selectiveScanStep(
  state: Tensor<'f32'>,
  u: Tensor<'f32'>,
  delta: Tensor<'f32'>,
  A: Tensor<'f32'>,
  B: Tensor<'f32'>,
  C: Tensor<'f32'>,
  opts: SelectiveScanStepOptions = {},
): Tensor<'f32'> {
  const fast = stepPacked(state, u, delta, A, B, C, opts);
  if (fast) return fast;
  const r = binding.selectiveScanStep(state, u, delta, A, B, C, opts as RawSelectiveScanStepOptions);
  return opts.out ?? Tensor.fromNative(r);
}

const stepRecords = new Float64Array(10 * RECORD);
let stepBusy = false;

// The sync step through the packed form (lib/packed.ts): ~7 µs less per call than the tensor objects. undefined when an
// argument is not plainly well formed: the caller then takes the object form, whose checks give the messages.
function stepPacked(
  state: Tensor<'f32'>,
  u: Tensor<'f32'>,
  delta: Tensor<'f32'>,
  A: Tensor<'f32'>,
  B: Tensor<'f32'>,
  C: Tensor<'f32'>,
  opts: SelectiveScanStepOptions,
): Tensor<'f32'> | undefined {
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts) || stepBusy) return undefined;
  stepBusy = true; // an argument's getter that calls the step again gets the object form, not our half-written records
  try {
    const { D, z, deltaBias, out } = opts;
    const r = stepRecords;
    const ok =
      packTensor(r, 0, state) && packTensor(r, 1, u) && packTensor(r, 2, delta) && packTensor(r, 3, A) &&
      packTensor(r, 4, B) && packTensor(r, 5, C) && packTensor(r, 6, D) && packTensor(r, 7, z) &&
      packTensor(r, 8, deltaBias) && packTensor(r, 9, out);
    if (!ok) return undefined;
    const res = binding.selectiveScanStepPacked(r, dataOf(state), dataOf(u), dataOf(delta), dataOf(A), dataOf(B),
      dataOf(C), dataOf(D), dataOf(z), dataOf(deltaBias), dataOf(out), opts.deltaSoftplus);
    return out ?? Tensor.fromNative(res as RawTensor<'f32'>);
  } finally {
    stepBusy = false;
  }
}

/** selectiveScanStep() computed off the main thread (state is updated when the promise settles). */
export async function selectiveScanStepAsync(
  state: Tensor<'f32'>,
  u: Tensor<'f32'>,
  delta: Tensor<'f32'>,
  A: Tensor<'f32'>,
  B: Tensor<'f32'>,
  C: Tensor<'f32'>,
  opts: SelectiveScanStepOptions = {},
): Promise<Tensor<'f32'>> {
  const r = await binding.selectiveScanStepAsync(state, u, delta, A, B, C, opts as RawSelectiveScanStepOptions);
  return opts.out ?? Tensor.fromNative(r);
}

export interface CausalConv1dOptions {
  /** 'silu' (Mamba) or none (default). */
  activation?: 'silu' | 'swish' | 'none' | null;
  /** f32 [batch, dim, k-1]: the k−1 inputs before x (default zeros); not modified unless updateState. */
  state?: Tensor<'f32'> | null;
  /** An existing f32 [batch, dim, L] tensor to write the result into. */
  out?: Tensor<'f32'> | null;
  /**
   * Write the new state over `state` in place and return that same tensor (generation without a fresh state tensor
   * per token). Needs a state. Default false.
   */
  updateState?: boolean;
}

export interface CausalConv1dResult {
  /** [batch, dim, L] */
  out: Tensor<'f32'>;
  /** [batch, dim, k-1]: the last k−1 inputs; pass it as opts.state to continue (L = 1 is the step form). */
  state: Tensor<'f32'>;
}

function wrapConv(r: RawCausalConv1dResult, opts: CausalConv1dOptions): CausalConv1dResult {
  const inPlace = opts !== null && typeof opts === 'object' && opts.updateState === true && opts.state != null;
  return { out: Tensor.fromNative(r.out), state: inPlace ? opts.state! : Tensor.fromNative(r.state) };
}

/**
 * Causal depthwise conv1d (Mamba's `conv1d` with padding k−1, sliced to L; mamba_ssm `causal_conv1d_ref`):
 * out[b, d, l] = bias[d] + Σ_i weight[d, i] · xp[b, d, l + i], xp = [state, x] along the sequence.
 *
 * @param x f32 [batch, dim, L]
 * @param weight f32 [dim, k] or [dim, 1, k] (the PyTorch Conv1d layout)
 * @param bias f32 [dim] or null
 * @param opts.updateState update `opts.state` in place (and return it) instead of returning a new one
 * @example const { out, state } = causalConv1d(xz, conv.weight, conv.bias, { activation: 'silu' });
 * @example const step = causalConv1d(xTok, conv.weight, conv.bias, { activation: 'silu', state }); // x [batch, dim, 1]
 * @example causalConv1d(xTok, w, b, { activation: 'silu', state, out: outTok, updateState: true }); // a generation loop
 */
export function causalConv1d(
  x: Tensor<'f32'>,
  weight: Tensor<'f32'>,
  bias?: Tensor<'f32'> | null,
  opts: CausalConv1dOptions = {},
): CausalConv1dResult {
  const fast = convStepPacked(x, weight, bias, opts);
  if (fast) return fast;
  return wrapConv(binding.causalConv1d(x, weight, bias, opts), opts);
}

const convRecords = new Float64Array(5 * RECORD);
let convBusy = false;

// A generation step (opts.updateState with a state) through the packed form (lib/packed.ts): a few µs less per call
// than the tensor objects. undefined for any other call, or when an argument is not plainly well formed: the caller
// then takes the object form, whose checks give the messages.
function convStepPacked(
  x: Tensor<'f32'>,
  weight: Tensor<'f32'>,
  bias: Tensor<'f32'> | null | undefined,
  opts: CausalConv1dOptions,
): CausalConv1dResult | undefined {
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts) || opts.updateState !== true) return undefined;
  const { state, out, activation } = opts;
  if (typeof state !== 'object' || state === null || convBusy) return undefined;
  convBusy = true; // an argument's getter that calls the conv again gets the object form, not our half-written records
  try {
    const r = convRecords;
    const ok =
      packTensor(r, 0, x) && packTensor(r, 1, weight) && packTensor(r, 2, bias) && packTensor(r, 3, state) &&
      packTensor(r, 4, out);
    if (!ok) return undefined;
    const res = binding.causalConv1dStepPacked(r, dataOf(x), dataOf(weight), dataOf(bias), dataOf(state), dataOf(out),
      activation);
    // as wrapConv(): a Tensor over the output (opts.out's memory when given) and the state itself
    return { out: Tensor.fromNative(out ?? (res as RawTensor<'f32'>)), state };
  } finally {
    convBusy = false;
  }
}

/** causalConv1d() computed off the main thread. */
export async function causalConv1dAsync(
  x: Tensor<'f32'>,
  weight: Tensor<'f32'>,
  bias?: Tensor<'f32'> | null,
  opts: CausalConv1dOptions = {},
): Promise<CausalConv1dResult> {
  return wrapConv(await binding.causalConv1dAsync(x, weight, bias, opts), opts);
}
