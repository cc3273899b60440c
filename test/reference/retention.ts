/**
 * Float64 oracles for RetNet retention, the three torchscale forms written plainly (dense masks, no cleverness).
 * q, k: [batch, heads, T, dk]; v: [batch, T, heads*dv]; decay: [heads] (log); out: [batch, T, heads, dv].
 */
export interface RetentionRefInput {
  q: ArrayLike<number>;
  k: ArrayLike<number>;
  v: ArrayLike<number>;
  decay: ArrayLike<number>;
  batch: number;
  heads: number;
  T: number;
  dk: number;
  dv: number;
}

const qAt = (s: RetentionRefInput, x: ArrayLike<number>, b: number, h: number, t: number, d: number) =>
  x[((b * s.heads + h) * s.T + t) * s.dk + d];
const vAt = (s: RetentionRefInput, b: number, t: number, h: number, e: number) => s.v[(b * s.T + t) * s.heads * s.dv + h * s.dv + e];
const oIdx = (s: RetentionRefInput, b: number, t: number, h: number, e: number) => ((b * s.T + t) * s.heads + h) * s.dv + e;
function dot(s: RetentionRefInput, b: number, h: number, i: number, j: number): number {
  let acc = 0;
  for (let d = 0; d < s.dk; d++) acc += qAt(s, s.q, b, h, i, d) * qAt(s, s.k, b, h, j, d);
  return acc;
}

export function parallel(s: RetentionRefInput): Float64Array {
  const out = new Float64Array(s.batch * s.T * s.heads * s.dv);
  for (let b = 0; b < s.batch; b++)
    for (let h = 0; h < s.heads; h++)
      for (let i = 0; i < s.T; i++) {
        let rowsum = 0;
        for (let j = 0; j <= i; j++) rowsum += Math.exp((i - j) * s.decay[h]);
        const sc: number[] = [];
        let abs = 0;
        for (let j = 0; j <= i; j++) {
          sc.push((dot(s, b, h, i, j) * Math.exp((i - j) * s.decay[h])) / Math.sqrt(rowsum));
          abs += Math.abs(sc[j]);
        }
        const den = Math.min(Math.max(abs, 1), 5e4);
        for (let e = 0; e < s.dv; e++) {
          let acc = 0;
          for (let j = 0; j <= i; j++) acc += (sc[j] / den) * vAt(s, b, j, h, e);
          out[oIdx(s, b, i, h, e)] = acc;
        }
      }
  return out;
}

/** The recurrent form from a state (kv [batch, heads, dv, dk], scale [heads]; default zeros). */
export function recurrent(
  s: RetentionRefInput,
  state?: { kv: ArrayLike<number>; scale: ArrayLike<number> },
): { out: Float64Array; kv: Float64Array; scale: Float64Array } {
  const out = new Float64Array(s.batch * s.T * s.heads * s.dv);
  const kv = Float64Array.from(state ? state.kv : new Array<number>(s.batch * s.heads * s.dv * s.dk).fill(0));
  const scaleOut = new Float64Array(s.heads);
  for (let h = 0; h < s.heads; h++) {
    const g = Math.exp(s.decay[h]);
    for (let b = 0; b < s.batch; b++) {
      let scale = state ? state.scale[h] : 0;
      const base = (b * s.heads + h) * s.dv * s.dk;
      for (let t = 0; t < s.T; t++) {
        const ns = scale * g + 1;
        for (let e = 0; e < s.dv; e++)
          for (let d = 0; d < s.dk; d++) {
            const i = base + e * s.dk + d;
            kv[i] = (kv[i] * Math.sqrt(scale) * g) / Math.sqrt(ns) + (qAt(s, s.k, b, h, t, d) * vAt(s, b, t, h, e)) / Math.sqrt(ns);
          }
        for (let e = 0; e < s.dv; e++) {
          let acc = 0;
          for (let d = 0; d < s.dk; d++) acc += qAt(s, s.q, b, h, t, d) * kv[base + e * s.dk + d];
          out[oIdx(s, b, t, h, e)] = acc;
        }
        scale = ns;
      }
      scaleOut[h] = scale;
    }
  }
  return { out, kv, scale: scaleOut };
}

export function chunkwise(s: RetentionRefInput, B: number): Float64Array {
  const out = new Float64Array(s.batch * s.T * s.heads * s.dv);
  for (let h = 0; h < s.heads; h++) {
    const dec = s.decay[h];
    const mask = (i: number, j: number) => (j <= i ? Math.exp((i - j) * dec) : 0);
    const rowScale = (i: number) => {
      let r = 0;
      for (let j = 0; j < B; j++) r += mask(i, j);
      return Math.sqrt(r);
    };
    let last = 0;
    for (let j = 0; j < B; j++) last += mask(B - 1, j);
    const inner = (i: number, j: number) => mask(i, j) / rowScale(i);
    const vid = (j: number) => mask(B - 1, j) / last;
    const qid = (i: number) => Math.exp(dec * (i + 1)) / (rowScale(i) / last);
    const cross = Math.exp(dec * B);
    for (let b = 0; b < s.batch; b++) {
      const kvs = new Float64Array(s.dk * s.dv);
      let kvScale = 1;
      for (let c = 0; c < s.T / B; c++) {
        for (let i = 0; i < B; i++) {
          const ti = c * B + i;
          const sc: number[] = [];
          let abs = 0;
          for (let j = 0; j < B; j++) {
            sc.push(dot(s, b, h, ti, c * B + j) * inner(i, j));
            abs += Math.abs(sc[j]);
          }
          const innerScale = Math.max(abs, 1);
          const all = Math.max(innerScale, kvScale);
          for (let e = 0; e < s.dv; e++) {
            let io = 0;
            for (let j = 0; j < B; j++) io += (sc[j] / innerScale) * vAt(s, b, c * B + j, h, e);
            let co = 0;
            for (let d = 0; d < s.dk; d++) co += qAt(s, s.q, b, h, ti, d) * qid(i) * (kvs[d * s.dv + e] / kvScale);
            out[oIdx(s, b, ti, h, e)] = io / (all / innerScale) + co / (all / kvScale);
          }
        }
        for (let d = 0; d < s.dk; d++)
          for (let e = 0; e < s.dv; e++) {
            let acc = 0;
            for (let j = 0; j < B; j++) acc += qAt(s, s.k, b, h, c * B + j, d) * vAt(s, b, c * B + j, h, e) * vid(j);
            kvs[d * s.dv + e] = kvs[d * s.dv + e] * cross + acc;
          }
        let mx = 0;
        for (let e = 0; e < s.dv; e++) {
          let col = 0;
          for (let d = 0; d < s.dk; d++) col += Math.abs(kvs[d * s.dv + e]);
          mx = Math.max(mx, col);
        }
        kvScale = Math.max(mx, 1);
      }
    }
  }
  return out;
}
