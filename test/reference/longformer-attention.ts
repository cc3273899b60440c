/**
 * Float64 oracle for Longformer self-attention, written from Hugging Face's LongformerSelfAttention
 * (transformers 4.41) step by step, with upstream's own masking values: per local query, the band columns
 * i − w … i + w (−∞ outside the sequence, finfo(f32).min added where the key is padded or global), preceded by
 * one column per global-token slot (the batch's largest number of global tokens; slots a row lacks get
 * finfo.min); one softmax; padded queries zeroed. Global queries: globalQ · globalK over all keys, finfo.min on
 * padded keys, values globalV. The query (local and global) is scaled before the products.
 * Tensors are [B, H, N, D] ('bhnd') or [B, N, H, D] ('bnhd').
 */

const FMIN = -3.4028234663852886e38;

export interface RefLongformerOptions {
  window: number;
  layout?: 'bhnd' | 'bnhd';
  scale?: number;
  /** [B, N], nonzero = token. */
  attentionMask?: ArrayLike<number | bigint> | null;
  /** [B, N], nonzero = global. */
  globalAttentionMask?: ArrayLike<number | bigint> | null;
  globalQ?: ArrayLike<number> | null;
  globalK?: ArrayLike<number> | null;
  globalV?: ArrayLike<number> | null;
}

export function longformerAttention(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  shape: readonly number[],
  opts: RefLongformerOptions,
): Float64Array {
  const bnhd = opts.layout === 'bnhd';
  const [B, a1, a2, D] = shape;
  const [H, N] = bnhd ? [a2, a1] : [a1, a2];
  const at = (b: number, h: number, i: number) => (bnhd ? ((b * N + i) * H + h) * D : ((b * H + h) * N + i) * D);
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  const w = opts.window / 2;
  // upstream's merged mask: 0 = padding, 1 = local, 2 = global (attention_mask · (global_attention_mask + 1))
  const merged = (b: number, i: number) => {
    const m = opts.attentionMask ? (Number(opts.attentionMask[b * N + i]) !== 0 ? 1 : 0) : 1;
    const g = opts.globalAttentionMask ? (Number(opts.globalAttentionMask[b * N + i]) !== 0 ? 1 : 0) : 0;
    return m * (g + 1);
  };
  const globals: number[][] = [];
  for (let b = 0; b < B; b++) {
    const gs: number[] = [];
    for (let i = 0; i < N; i++) if (merged(b, i) === 2) gs.push(i);
    globals.push(gs);
  }
  const maxG = Math.max(0, ...globals.map((g) => g.length));
  const dot = (x: ArrayLike<number>, xo: number, y: ArrayLike<number>, yo: number) => {
    let s = 0;
    for (let d = 0; d < D; d++) s += scale * x[xo + d] * y[yo + d];
    return s;
  };
  const out = new Float64Array(B * H * N * D);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < N; i++) {
        const m = merged(b, i);
        if (m === 0) continue; // padded query: probabilities filled with 0
        const cols: { s: number; vv: ArrayLike<number>; vo: number }[] = [];
        if (m === 2) {
          for (let j = 0; j < N; j++) {
            let s = dot(opts.globalQ!, at(b, h, i), opts.globalK!, at(b, h, j));
            if (merged(b, j) === 0) s = FMIN; // masked_fill of padded keys
            cols.push({ s, vv: opts.globalV!, vo: at(b, h, j) });
          }
        } else {
          for (let g = 0; g < maxG; g++) {
            const gs = globals[b];
            if (g < gs.length) cols.push({ s: dot(q, at(b, h, i), k, at(b, h, gs[g])), vv: v, vo: at(b, h, gs[g]) });
            else cols.push({ s: FMIN, vv: v, vo: -1 });
          }
          for (let d = -w; d <= w; d++) {
            const j = i + d;
            if (j < 0 || j >= N) {
              cols.push({ s: -Infinity, vv: v, vo: -1 });
              continue;
            }
            const s = dot(q, at(b, h, i), k, at(b, h, j)) + (merged(b, j) !== 1 ? FMIN : 0);
            cols.push({ s, vv: v, vo: at(b, h, j) });
          }
        }
        let max = -Infinity;
        for (const c of cols) max = Math.max(max, c.s);
        let sum = 0;
        for (const c of cols) sum += Math.exp(c.s - max);
        const o = at(b, h, i);
        for (const c of cols) {
          const p = Math.exp(c.s - max) / sum;
          if (p === 0 || c.vo < 0) continue; // a zero-value slot
          for (let dd = 0; dd < D; dd++) out[o + dd] += p * c.vv[c.vo + dd];
        }
      }
    }
  }
  return out;
}
