/**
 * Float64 oracles for the Mamba ops: mamba_ssm's `selective_scan_ref` (channel-first) and the causal depthwise
 * conv1d (`causal_conv1d_ref`), written for clarity.
 */

export interface ScanRefInput {
  u: ArrayLike<number>; // [batch, dim, L]
  delta: ArrayLike<number>; // [batch, dim, L]
  A: ArrayLike<number>; // [dim, N]
  B: ArrayLike<number>; // [dim, N] (bGroups 0) or [batch, G, N, L]
  C: ArrayLike<number>;
  bGroups: number; // 0 = time-invariant
  cGroups: number;
  batch: number;
  dim: number;
  L: number;
  N: number;
  D?: ArrayLike<number>;
  z?: ArrayLike<number>;
  deltaBias?: ArrayLike<number>;
  deltaSoftplus?: boolean;
  state?: ArrayLike<number>; // [batch, dim, N]
}

const softplus = (x: number) => (x > 20 ? x : Math.log1p(Math.exp(x)));
const silu = (x: number) => x / (1 + Math.exp(-x));

/** Element n of B (or C) at step l for batch b, channel d. */
function operand(p: ArrayLike<number>, groups: number, b: number, d: number, n: number, l: number, s: ScanRefInput): number {
  if (groups === 0) return p[d * s.N + n];
  const g = Math.floor(d / (s.dim / groups));
  return p[(((b * groups + g) * s.N + n) * s.L) + l];
}

export function selectiveScan(s: ScanRefInput): { out: Float64Array; lastState: Float64Array } {
  const { batch, dim, L, N } = s;
  const out = new Float64Array(batch * dim * L);
  const last = new Float64Array(batch * dim * N);
  const x = new Float64Array(N);
  for (let b = 0; b < batch; b++) {
    for (let d = 0; d < dim; d++) {
      const row = (b * dim + d) * L;
      for (let n = 0; n < N; n++) x[n] = s.state ? s.state[(b * dim + d) * N + n] : 0;
      for (let l = 0; l < L; l++) {
        let dt = s.delta[row + l] + (s.deltaBias ? s.deltaBias[d] : 0);
        if (s.deltaSoftplus) dt = softplus(dt);
        const u = s.u[row + l];
        let y = 0;
        for (let n = 0; n < N; n++) {
          x[n] = Math.exp(dt * s.A[d * N + n]) * x[n] + dt * operand(s.B, s.bGroups, b, d, n, l, s) * u;
          y += x[n] * operand(s.C, s.cGroups, b, d, n, l, s);
        }
        if (s.D) y += s.D[d] * u;
        if (s.z) y *= silu(s.z[row + l]);
        out[row + l] = y;
      }
      for (let n = 0; n < N; n++) last[(b * dim + d) * N + n] = x[n];
    }
  }
  return { out, lastState: last };
}

/** x [batch, dim, L], w [dim, k], bias [dim] | undefined, state [batch, dim, k-1] | undefined. */
export function causalConv1d(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  bias: ArrayLike<number> | undefined,
  batch: number,
  dim: number,
  L: number,
  k: number,
  silu_ = false,
  state?: ArrayLike<number>,
): { out: Float64Array; state: Float64Array } {
  const h = k - 1;
  const out = new Float64Array(batch * dim * L);
  const st = new Float64Array(batch * dim * h);
  for (let r = 0; r < batch * dim; r++) {
    const d = r % dim;
    const xp = new Float64Array(h + L);
    for (let i = 0; i < h; i++) xp[i] = state ? state[r * h + i] : 0;
    for (let l = 0; l < L; l++) xp[h + l] = x[r * L + l];
    for (let l = 0; l < L; l++) {
      let acc = bias ? bias[d] : 0;
      for (let i = 0; i < k; i++) acc += w[d * k + i] * xp[l + i];
      out[r * L + l] = silu_ ? silu(acc) : acc;
    }
    for (let i = 0; i < h; i++) st[r * h + i] = xp[L + i];
  }
  return { out, state: st };
}
