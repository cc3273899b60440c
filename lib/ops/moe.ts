/**
 * Mixture of Experts on the CPU (native/cpu/moe): routing, dispatch, grouped expert FFNs and combine, each usable
 * alone, and `moe()` composing them. Compute follows the tokens: each expert's FFN runs only on the rows routed to it.
 *
 * Routing (`moeRoute`), from router logits [..., E]:
 * - `'mixtral'` (Hugging Face MixtralSparseMoeBlock): softmax over all E experts in float32, the top-k
 *   probabilities (ties: the lower expert index first), renormalised to sum 1 over the chosen k (`normalize: false`
 *   keeps the raw probabilities, as models with `norm_topk_prob = false` do). Top-1 weights are exactly 1.
 * - `'switch'` (SwitchTransformersTop1Router): softmax, top-1 (the first maximal index on ties), weight = that
 *   probability. With a `capacity` (Hugging Face's `expert_capacity`) or a `capacityFactor` (capacity =
 *   floor(capacityFactor · groupSize / E)), each group of `groupSize` consecutive tokens (the batch row upstream;
 *   default: all tokens) lets at most `capacity` tokens into each expert, first come first served in token order.
 *   A token over capacity is dropped: its expert is −1 and the combine passes it through as weight · x (its router
 *   probability times its input, as SwitchTransformersSparseMLP does; the residual add is the caller's).
 * - Load-balancing statistics for the upstream auxiliary losses: `routedCounts[e]` (pairs routed to e before the
 *   capacity limit), `keptCounts[e]` (pairs kept: the group sizes), `probSum[e]` (sum over tokens of the softmax
 *   probability of e, accumulated in float64). `moeAuxLoss` turns them into the upstream loss.
 *
 * Dispatch (`moeDispatch`): a stable counting sort of the T·k (token, slot) pairs by expert: `offsets` [E + 1]
 * (expert e owns sorted rows offsets[e]..offsets[e+1]), `perm` [A] (sorted row j holds pair perm[j] = t·k + s, in
 * token order within each expert) and `inv` [..., k] (pair → sorted row, −1 when dropped). `moeGather` copies the
 * rows x[perm[j] / k] into one contiguous [A, d] buffer.
 *
 * Experts (`moeExperts`): `{kind: 'swiglu', w1, w3, w2}` computes w2(act(w1 x) · w3 x) (Mixtral's
 * MixtralBlockSparseTop2MLP, act 'silu' by default); `{kind: 'dense', wi, wo}` computes wo(act(wi x)) (Switch's
 * SwitchTransformersDenseActDense, act 'relu' by default). Weights are per expert, in the Hugging Face [out, in]
 * layout, f32 tensors (fp32 GEMM) or `QuantizedTensor`s (`qlinear`, see ./quant). Schedules: 'sequential' runs the
 * experts one after another with every GEMM on the whole pool; 'chunked' splits every expert's rows into chunks of
 * 64 and runs the chunks in parallel, one thread each; 'auto' (default) picks 'chunked' while the mean group of the
 * active experts is at most 32 rows (decode, short batches: memory-bound GEMMs, where one parallel region per GEMM
 * costs more than it gains) and 'sequential' beyond (measured in bench/moe.bench.mjs). The choice depends on shapes
 * only, so results never depend on the thread count.
 *
 * Combine (`moeCombine`): out[t] = Σ_s weights[t, s] · (inv[t, s] ≥ 0 ? y[inv[t, s]] : x[t]), summed in slot order,
 * so results are bitwise independent of the thread count (every piece is).
 */
import {
  binding,
  type ActivationName,
  type RawMoeDispatch,
  type RawMoeExperts,
  type RawMoeResult,
  type RawMoeRoute,
  type RawMoeSchedule,
} from '../native';
import { Tensor } from '../tensor';
import type { QuantizedTensor } from './quant';

export type MoeRouterKind = 'mixtral' | 'switch';
export type MoeSchedule = RawMoeSchedule;

export interface MoeRouteOptions {
  kind: MoeRouterKind;
  /** Experts per token: required for 'mixtral'; 'switch' is always 1. */
  topK?: number;
  /** 'mixtral': renormalise the chosen weights over the top-k (default true). */
  normalize?: boolean;
  /** 'switch': the most tokens an expert takes per group (Hugging Face's expert_capacity). Default: unlimited. */
  capacity?: number | null;
  /** 'switch': capacity = floor(capacityFactor · groupSize / E) instead of a fixed capacity. */
  capacityFactor?: number | null;
  /** 'switch': tokens per capacity group (the sequence length of a batch row); must divide the token count. */
  groupSize?: number | null;
}

export interface MoeRouting {
  /** [..., k] chosen experts, −1 for a token dropped by the capacity limit. */
  experts: Tensor<'i32'>;
  /** [..., k] routing weights. */
  weights: Tensor<'f32'>;
  /** [E] sum over tokens of each expert's router probability. */
  probSum: Tensor<'f32'>;
  /** [E] pairs routed to each expert before the capacity limit. */
  routedCounts: Tensor<'i32'>;
  /** [E] pairs each expert processes. */
  keptCounts: Tensor<'i32'>;
}

export interface MoeDispatch {
  /** [E + 1] expert e owns rows offsets[e]..offsets[e + 1] of the gathered buffer. */
  offsets: Tensor<'i32'>;
  /** [A] the pair t·k + s held by each gathered row. */
  perm: Tensor<'i32'>;
  /** [..., k] the gathered row of each pair, −1 when dropped. */
  inv: Tensor<'i32'>;
}

export type MoeWeight = Tensor<'f32'> | QuantizedTensor;

/** Per-expert weights, Hugging Face [out, in] layout: SwiGLU (Mixtral) or a dense two-layer FFN (Switch). */
export type MoeExperts =
  | { kind: 'swiglu'; activation?: ActivationName; w1: readonly MoeWeight[]; w3: readonly MoeWeight[]; w2: readonly MoeWeight[] }
  | { kind: 'dense'; activation?: ActivationName; wi: readonly MoeWeight[]; wo: readonly MoeWeight[] };

export interface MoeOptions extends MoeRouteOptions {
  /** [E] bias of the router (Switch's router_bias). */
  routerBias?: Tensor<'f32'> | null;
  schedule?: MoeSchedule;
}

export interface MoeResult extends MoeRouting {
  /** [..., d] the weighted sum of the chosen experts' outputs (dropped tokens: weight · x). */
  out: Tensor<'f32'>;
  /** [..., E] x · routerWeightᵀ (+ bias), as upstream returns for the auxiliary losses. */
  routerLogits: Tensor<'f32'>;
}

/** The router: its weight [E, d] (the gate / classifier), or the weight and an optional bias. */
export type MoeRouter = Tensor<'f32'> | { weight: Tensor<'f32'>; bias?: Tensor<'f32'> | null };

function wrapRoute(r: RawMoeRoute): MoeRouting {
  return {
    experts: Tensor.fromNative(r.experts),
    weights: Tensor.fromNative(r.weights),
    probSum: Tensor.fromNative(r.probSum),
    routedCounts: Tensor.fromNative(r.routedCounts),
    keptCounts: Tensor.fromNative(r.keptCounts),
  };
}
function wrapDispatch(r: RawMoeDispatch): MoeDispatch {
  return { offsets: Tensor.fromNative(r.offsets), perm: Tensor.fromNative(r.perm), inv: Tensor.fromNative(r.inv) };
}
function wrapResult(r: RawMoeResult): MoeResult {
  return { ...wrapRoute(r), out: Tensor.fromNative(r.out), routerLogits: Tensor.fromNative(r.routerLogits) };
}

function routerArgs(router: MoeRouter, opts: MoeOptions): [Tensor<'f32'>, MoeOptions] {
  if (router instanceof Tensor) return [router, opts];
  if (router === null || typeof router !== 'object') throw new TypeError('router must be a tensor [experts, d] or {weight, bias}');
  if (router.bias != null && opts?.routerBias != null) throw new RangeError('router.bias and opts.routerBias are both given');
  return [router.weight, { ...opts, routerBias: router.bias ?? opts?.routerBias }];
}

/** Router logits [..., E] → top-k experts and weights, with load-balancing statistics. */
export function moeRoute(logits: Tensor<'f32'>, opts: MoeRouteOptions): MoeRouting {
  return wrapRoute(binding.moeRoute(logits, opts));
}
export async function moeRouteAsync(logits: Tensor<'f32'>, opts: MoeRouteOptions): Promise<MoeRouting> {
  return wrapRoute(await binding.moeRouteAsync(logits, opts));
}

/** Counting sort of the (token, slot) pairs of `experts` [..., k] (values in [−1, numExperts)) by expert. */
export function moeDispatch(experts: Tensor<'i32'>, numExperts: number): MoeDispatch {
  return wrapDispatch(binding.moeDispatch(experts, numExperts));
}
export async function moeDispatchAsync(experts: Tensor<'i32'>, numExperts: number): Promise<MoeDispatch> {
  return wrapDispatch(await binding.moeDispatchAsync(experts, numExperts));
}

/** Row j of the result is x[perm[j] / topK]: each expert's tokens, contiguous ([A, d]). */
export function moeGather(x: Tensor<'f32'>, perm: Tensor<'i32'>, topK: number): Tensor<'f32'> {
  return Tensor.fromNative(binding.moeGather(x, perm, topK));
}
export async function moeGatherAsync(x: Tensor<'f32'>, perm: Tensor<'i32'>, topK: number): Promise<Tensor<'f32'>> {
  return Tensor.fromNative(await binding.moeGatherAsync(x, perm, topK));
}

/** Each expert's FFN on its rows offsets[e]..offsets[e + 1] of xg [A, d]; returns [A, d]. */
export function moeExperts(xg: Tensor<'f32'>, offsets: Tensor<'i32'>, experts: MoeExperts, opts: { schedule?: MoeSchedule } = {}): Tensor<'f32'> {
  return Tensor.fromNative(binding.moeExperts(xg, offsets, experts as RawMoeExperts, opts));
}
export async function moeExpertsAsync(xg: Tensor<'f32'>, offsets: Tensor<'i32'>, experts: MoeExperts, opts: { schedule?: MoeSchedule } = {}): Promise<Tensor<'f32'>> {
  return Tensor.fromNative(await binding.moeExpertsAsync(xg, offsets, experts as RawMoeExperts, opts));
}

/** out[t] = Σ_s weights[t, s] · (inv ≥ 0 ? y[inv] : x[t]) in slot order; without x, dropped pairs add nothing. */
export function moeCombine(y: Tensor<'f32'>, inv: Tensor<'i32'>, weights: Tensor<'f32'>, x?: Tensor<'f32'> | null): Tensor<'f32'> {
  return Tensor.fromNative(binding.moeCombine(y, inv, weights, x ?? undefined));
}
export async function moeCombineAsync(y: Tensor<'f32'>, inv: Tensor<'i32'>, weights: Tensor<'f32'>, x?: Tensor<'f32'> | null): Promise<Tensor<'f32'>> {
  return Tensor.fromNative(await binding.moeCombineAsync(y, inv, weights, x ?? undefined));
}

/**
 * A sparse MoE layer: router logits = x · routerᵀ (+ bias), routing, dispatch, the experts on their groups, combine.
 * x [..., d]; returns the output [..., d] with the routing and its statistics.
 * @example
 * const { out } = moe(x, gate, { kind: 'swiglu', w1, w3, w2 }, { kind: 'mixtral', topK: 2 });
 */
export function moe(x: Tensor<'f32'>, router: MoeRouter, experts: MoeExperts, opts: MoeOptions): MoeResult {
  const [w, o] = routerArgs(router, opts);
  return wrapResult(binding.moe(x, w, experts as RawMoeExperts, o));
}
/** moe() computed off the main thread. The inputs must not be written until the promise settles. */
export async function moeAsync(x: Tensor<'f32'>, router: MoeRouter, experts: MoeExperts, opts: MoeOptions): Promise<MoeResult> {
  const [w, o] = routerArgs(router, opts);
  return wrapResult(await binding.moeAsync(x, w, experts as RawMoeExperts, o));
}

/**
 * The upstream auxiliary load-balancing loss from a routing of `tokens` tokens (one group):
 * 'mixtral' (load_balancing_loss_func): E · Σ_e (routedCounts[e] / T) · (probSum[e] / T);
 * 'switch': E · Σ_e (f_e) · (probSum[e] / T), where f_e counts the kept tokens of e and, as upstream's argmax of an
 * all-zero mask does, the dropped ones as expert 0.
 */
export function moeAuxLoss(r: MoeRouting, kind: MoeRouterKind): number {
  const E = r.probSum.shape[0];
  const k = r.experts.shape[r.experts.shape.length - 1] ?? 1;
  const T = r.experts.data.length / Math.max(1, k);
  if (T === 0) return 0;
  const counts = Array.from(kind === 'switch' ? r.keptCounts.data : r.routedCounts.data);
  if (kind === 'switch') counts[0] += T - counts.reduce((a, b) => a + b, 0);
  let s = 0;
  for (let e = 0; e < E; e++) s += (counts[e] / T) * (r.probSum.data[e] / T);
  return E * s;
}
