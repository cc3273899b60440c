/**
 * Float64 oracle of the Mixture-of-Experts layer (lib/ops/moe.ts), written for clarity: loops over tokens and
 * experts, Hugging Face semantics (Mixtral: softmax, top-k, renormalise; Switch: softmax, top-1, capacity per group in
 * token order, a dropped token gives prob · x).
 */
import { activations } from './elementwise';

export interface RefRouteOptions {
  kind: 'mixtral' | 'switch';
  topK?: number;
  normalize?: boolean;
  capacity?: number | null;
  groupSize?: number | null;
}

export interface RefRoute {
  experts: number[][]; // [T][k], -1 dropped
  weights: number[][];
  probs: number[][]; // [T][E]
  probSum: number[];
  routed: number[];
  kept: number[];
}

export function routeRef(logits: ArrayLike<number>, T: number, E: number, o: RefRouteOptions): RefRoute {
  const k = o.kind === 'switch' ? 1 : (o.topK ?? 1);
  const r: RefRoute = { experts: [], weights: [], probs: [], probSum: new Array(E).fill(0), routed: new Array(E).fill(0), kept: new Array(E).fill(0) };
  const group = o.groupSize ?? T;
  let used = new Array(E).fill(0);
  for (let t = 0; t < T; t++) {
    if (t % group === 0) used = new Array(E).fill(0);
    const l = Array.from({ length: E }, (_, e) => logits[t * E + e]);
    const m = Math.max(...l);
    const ex = l.map((v) => Math.exp(v - m));
    const s = ex.reduce((a, b) => a + b, 0);
    const p = ex.map((v) => v / s);
    r.probs.push(p);
    p.forEach((v, e) => (r.probSum[e] += v));
    // top-k: larger probability first, the lower index on ties
    const order = p.map((v, e) => e).sort((a, b) => (p[b] !== p[a] ? p[b] - p[a] : a - b)).slice(0, k);
    let w = order.map((e) => p[e]);
    if (o.kind === 'mixtral' && o.normalize !== false) {
      const ws = w.reduce((a, b) => a + b, 0);
      w = w.map((v) => v / ws);
    }
    const chosen = order.slice();
    for (let s2 = 0; s2 < k; s2++) {
      const e = chosen[s2];
      r.routed[e]++;
      if (o.kind === 'switch' && o.capacity != null && ++used[e] > o.capacity) chosen[s2] = -1;
      else r.kept[e]++;
    }
    r.experts.push(chosen);
    r.weights.push(w);
  }
  return r;
}

export type RefWeight = { data: ArrayLike<number>; shape: readonly number[] };
export type RefExperts =
  | { kind: 'swiglu'; activation?: string; w1: RefWeight[]; w3: RefWeight[]; w2: RefWeight[] }
  | { kind: 'dense'; activation?: string; wi: RefWeight[]; wo: RefWeight[] };

function matvec(w: RefWeight, x: ArrayLike<number>): number[] {
  const [n, k] = w.shape;
  const y = new Array(n).fill(0);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < k; j++) s += w.data[i * k + j] * x[j];
    y[i] = s;
  }
  return y;
}

/** The FFN of expert e on one row. */
export function expertRef(ex: RefExperts, e: number, x: ArrayLike<number>): number[] {
  const act = activations[(ex.activation ?? (ex.kind === 'swiglu' ? 'silu' : 'relu')) as keyof typeof activations];
  if (ex.kind === 'swiglu') {
    const g = matvec(ex.w1[e], x);
    const u = matvec(ex.w3[e], x);
    return matvec(ex.w2[e], g.map((v, i) => act(v) * u[i]));
  }
  return matvec(ex.wo[e], matvec(ex.wi[e], x).map(act));
}

/** The layer: out[t] = Σ_s w[t][s] · (expert ≥ 0 ? FFN_e(x_t) : x_t). logits given (from x·routerᵀ + bias). */
export function moeRef(x: ArrayLike<number>, T: number, d: number, logits: ArrayLike<number>, E: number, ex: RefExperts, o: RefRouteOptions) {
  const r = routeRef(logits, T, E, o);
  const out = new Float64Array(T * d);
  for (let t = 0; t < T; t++) {
    const xt = Array.from({ length: d }, (_, i) => x[t * d + i]);
    r.experts[t].forEach((e, s) => {
      const y = e >= 0 ? expertRef(ex, e, xt) : xt;
      for (let i = 0; i < d; i++) out[t * d + i] += r.weights[t][s] * y[i];
    });
  }
  return { out, route: r };
}

/** Router logits x·Wᵀ + b in float64. */
export function logitsRef(x: ArrayLike<number>, T: number, d: number, w: RefWeight, bias?: ArrayLike<number> | null): Float64Array {
  const E = w.shape[0];
  const l = new Float64Array(T * E);
  for (let t = 0; t < T; t++)
    for (let e = 0; e < E; e++) {
      let s = bias ? bias[e] : 0;
      for (let i = 0; i < d; i++) s += x[t * d + i] * w.data[e * d + i];
      l[t * E + e] = s;
    }
  return l;
}
