/**
 * Float64 oracle for attention: materializes each row's scores, plain loops, written for clarity.
 * Inputs in [B, H, N, D] order ('bhnd') or [B, N, H, D] ('bnhd'); output in q's layout.
 */

export interface RefAttentionOptions {
  layout?: 'bhnd' | 'bnhd';
  causal?: boolean;
  scale?: number;
  /** [B, Nk], nonzero = attend. */
  keyPaddingMask?: ArrayLike<number | bigint> | null;
  bias?: ArrayLike<number> | null;
  biasShape?: readonly number[];
  window?: readonly [number, number] | null;
}

export interface RefAttentionResult {
  out: Float64Array;
  /** [B, Hq, Nq] */
  lse: Float64Array;
}

export function attention(
  q: ArrayLike<number>,
  qShape: readonly number[],
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  kShape: readonly number[],
  opts: RefAttentionOptions = {},
): RefAttentionResult {
  const bnhd = opts.layout === 'bnhd';
  const [B, a1, a2, D] = qShape;
  const [Hq, Nq] = bnhd ? [a2, a1] : [a1, a2];
  const [Hkv, Nk] = bnhd ? [kShape[2], kShape[1]] : [kShape[1], kShape[2]];
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  const group = Hq / Hkv;
  const qAt = (b: number, h: number, i: number) => (bnhd ? ((b * Nq + i) * Hq + h) * D : ((b * Hq + h) * Nq + i) * D);
  const kAt = (b: number, h: number, j: number) => (bnhd ? ((b * Nk + j) * Hkv + h) * D : ((b * Hkv + h) * Nk + j) * D);
  // bias broadcast: right-aligned against [B, Hq, Nq, Nk]
  const bs = opts.biasShape ?? [];
  const bStride = [0, 0, 0, 0];
  for (let i = 3, acc = 1; i >= 0; i--) {
    const ib = i - (4 - bs.length);
    const d = ib >= 0 ? bs[ib] : 1;
    bStride[i] = d === 1 ? 0 : acc;
    acc *= d;
  }
  const left = opts.window ? opts.window[0] : Infinity;
  let right = opts.window ? opts.window[1] : Infinity;
  if (opts.causal) right = Math.min(right, 0);
  const off = Nk - Nq;

  const out = new Float64Array(B * Hq * Nq * D);
  const lse = new Float64Array(B * Hq * Nq);
  const s = new Float64Array(Nk);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < Hq; h++) {
      const hk = Math.floor(h / group);
      for (let i = 0; i < Nq; i++) {
        const qo = qAt(b, h, i);
        const ip = i + off;
        let max = -Infinity;
        for (let j = 0; j < Nk; j++) {
          const visible =
            j >= ip - left && j <= ip + right && (!opts.keyPaddingMask || Number(opts.keyPaddingMask[b * Nk + j]) !== 0);
          if (!visible) {
            s[j] = -Infinity;
            continue;
          }
          const ko = kAt(b, hk, j);
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[qo + d] * k[ko + d];
          s[j] = scale * dot;
          if (opts.bias) s[j] += opts.bias[b * bStride[0] + h * bStride[1] + i * bStride[2] + j * bStride[3]];
          max = Math.max(max, s[j]);
        }
        const oo = qo; // output has q's layout
        if (max === -Infinity) {
          lse[(b * Hq + h) * Nq + i] = -Infinity;
          continue; // out stays 0
        }
        let sum = 0;
        for (let j = 0; j < Nk; j++) sum += Math.exp(s[j] - max);
        lse[(b * Hq + h) * Nq + i] = max + Math.log(sum);
        for (let j = 0; j < Nk; j++) {
          const p = Math.exp(s[j] - max) / sum;
          if (p === 0) continue;
          const vo = kAt(b, hk, j);
          for (let d = 0; d < D; d++) out[oo + d] += p * v[vo + d];
        }
      }
    }
  }
  return { out, lse };
}
