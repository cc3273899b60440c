/**
 * Float64 oracle for RWKV-4 WKV (Hugging Face `rwkv_linear_attention_cpu`): the same running-maximum
 * recurrence, computed in double, written for clarity.
 */
export interface WkvRefState {
  num: Float64Array;
  den: Float64Array;
  max: Float64Array;
}

/**
 * k, v: [batch, T, C]; timeDecay, timeFirst: [C] (w = -exp(timeDecay), u = timeFirst); state [batch, C] each
 * (default num = den = 0, max = -1e38). Returns out [batch, T, C] and the state after the last token.
 */
export function wkv(
  timeDecay: ArrayLike<number>,
  timeFirst: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  batch: number,
  T: number,
  C: number,
  state?: { num: ArrayLike<number>; den: ArrayLike<number>; max: ArrayLike<number> },
): { out: Float64Array; state: WkvRefState } {
  const out = new Float64Array(batch * T * C);
  const s: WkvRefState = {
    num: Float64Array.from(state ? state.num : new Array<number>(batch * C).fill(0)),
    den: Float64Array.from(state ? state.den : new Array<number>(batch * C).fill(0)),
    max: Float64Array.from(state ? state.max : new Array<number>(batch * C).fill(-1e38)),
  };
  for (let b = 0; b < batch; b++) {
    for (let c = 0; c < C; c++) {
      const w = -Math.exp(timeDecay[c]);
      const u = timeFirst[c];
      let num = s.num[b * C + c];
      let den = s.den[b * C + c];
      let max = s.max[b * C + c];
      for (let t = 0; t < T; t++) {
        const i = (b * T + t) * C + c;
        const kt = k[i];
        const vt = v[i];
        // output: the state plus the current token with its bonus u
        const mo = Math.max(max, kt + u);
        const e1 = Math.exp(max - mo);
        const e2 = Math.exp(kt + u - mo);
        out[i] = (e1 * num + e2 * v[i]) / (e1 * den + e2);
        // state update: decay the state by e^w, add the current token
        const ms = Math.max(max + w, kt);
        const f1 = Math.exp(max + w - ms);
        const f2 = Math.exp(kt - ms);
        num = f1 * num + f2 * vt;
        den = f1 * den + f2;
        max = ms;
      }
      s.num[b * C + c] = num;
      s.den[b * C + c] = den;
      s.max[b * C + c] = max;
    }
  }
  return { out, state: s };
}
