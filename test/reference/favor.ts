/**
 * Float64 oracles for Performer FAVOR+ (performer-pytorch semantics), written for clarity: the feature maps
 * softmax_kernel / generalized_kernel, linear_attention, causal_linear_attention_noncuda as a step-by-step
 * recurrence (one position at a time: S += φ(k_i) v_iᵀ, z += φ(k_i)), and exact softmax attention.
 * Tensors are flat arrays in [B, H, N, D] order; the projection is [m, D].
 */
export interface FavorRefOptions {
  kernel?: 'softmax' | 'relu';
  eps?: number;
  causalEps?: number;
}

/** φ(x) for one (batch, head): x [N, D] -> [N, m]. */
export function features(x: ArrayLike<number>, N: number, D: number, proj: ArrayLike<number>, m: number, isQuery: boolean, opts: FavorRefOptions = {}): Float64Array {
  const kernel = opts.kernel ?? 'softmax';
  const eps = opts.eps ?? (kernel === 'softmax' ? 1e-4 : 1e-3);
  const c = D ** -0.25;
  const dash = new Float64Array(N * m);
  const diag = new Float64Array(N);
  for (let i = 0; i < N; i++) {
    let s = 0;
    for (let d = 0; d < D; d++) s += x[i * D + d] ** 2;
    diag[i] = (s / 2) * c * c;
    for (let j = 0; j < m; j++) {
      let t = 0;
      for (let d = 0; d < D; d++) t += c * x[i * D + d] * proj[j * D + d];
      dash[i * m + j] = t;
    }
  }
  const out = new Float64Array(N * m);
  if (kernel === 'relu') {
    for (let i = 0; i < N * m; i++) out[i] = Math.max(dash[i], 0) + eps;
    return out;
  }
  const ratio = m ** -0.5;
  let all = -Infinity;
  for (let i = 0; i < N * m; i++) all = Math.max(all, dash[i]);
  for (let i = 0; i < N; i++) {
    let mx = all;
    if (isQuery) {
      mx = -Infinity;
      for (let j = 0; j < m; j++) mx = Math.max(mx, dash[i * m + j]);
    }
    for (let j = 0; j < m; j++) out[i * m + j] = ratio * (Math.exp(dash[i * m + j] - diag[i] - mx) + eps);
  }
  return out;
}

/** Features of every (batch, head): x [B, H, N, D] -> [B, H, N, m]. */
export function featuresAll(x: ArrayLike<number>, B: number, H: number, N: number, D: number, proj: ArrayLike<number>, m: number, isQuery: boolean, opts: FavorRefOptions = {}): Float64Array {
  const out = new Float64Array(B * H * N * m);
  for (let bh = 0; bh < B * H; bh++) {
    const xs = Array.prototype.slice.call(x, bh * N * D, (bh + 1) * N * D) as number[];
    out.set(features(xs, N, D, proj, m, isQuery, opts), bh * N * m);
  }
  return out;
}

/** FAVOR+ attention: non-causal linear_attention, or causal as the step-by-step recurrence. */
export function favorAttention(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, B: number, H: number, N: number, D: number, proj: ArrayLike<number>, m: number, causal: boolean, opts: FavorRefOptions = {}): Float64Array {
  const qf = featuresAll(q, B, H, N, D, proj, m, true, opts);
  const kf = featuresAll(k, B, H, N, D, proj, m, false, opts);
  const causalEps = opts.causalEps ?? 1e-6;
  const out = new Float64Array(B * H * N * D);
  for (let bh = 0; bh < B * H; bh++) {
    const fo = bh * N * m;
    const vo = bh * N * D;
    const S = new Float64Array(m * D);
    const z = new Float64Array(m);
    const add = (j: number) => {
      for (let f = 0; f < m; f++) {
        z[f] += kf[fo + j * m + f];
        for (let d = 0; d < D; d++) S[f * D + d] += kf[fo + j * m + f] * v[vo + j * D + d];
      }
    };
    if (!causal) for (let j = 0; j < N; j++) add(j);
    for (let i = 0; i < N; i++) {
      if (causal) add(i);
      let den = 0;
      for (let f = 0; f < m; f++) den += qf[fo + i * m + f] * (z[f] + (causal ? causalEps : 0));
      for (let d = 0; d < D; d++) {
        let num = 0;
        for (let f = 0; f < m; f++) num += qf[fo + i * m + f] * S[f * D + d];
        out[vo + i * D + d] = num / den;
      }
    }
  }
  return out;
}

/** Exact softmax(q kᵀ / √D) v (optionally causal) in float64. */
export function softmaxAttention(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, B: number, H: number, N: number, D: number, causal = false): Float64Array {
  const out = new Float64Array(B * H * N * D);
  const s = new Float64Array(N);
  for (let bh = 0; bh < B * H; bh++) {
    const o = bh * N * D;
    for (let i = 0; i < N; i++) {
      const last = causal ? i : N - 1;
      let mx = -Infinity;
      for (let j = 0; j <= last; j++) {
        let t = 0;
        for (let d = 0; d < D; d++) t += q[o + i * D + d] * k[o + j * D + d];
        s[j] = t / Math.sqrt(D);
        mx = Math.max(mx, s[j]);
      }
      let sum = 0;
      for (let j = 0; j <= last; j++) sum += (s[j] = Math.exp(s[j] - mx));
      for (let d = 0; d < D; d++) {
        let acc = 0;
        for (let j = 0; j <= last; j++) acc += s[j] * v[o + j * D + d];
        out[o + i * D + d] = acc / sum;
      }
    }
  }
  return out;
}
