/**
 * Float64 oracle for block-sparse attention: the element mask is spelled out from the block layout and each
 * row's scores are materialized (plain loops, written for clarity). q [B, Hq, Nq, D], k and v [B, Hkv, Nk, D]
 * ('bhnd') or [B, N, H, D] ('bnhd'); layout [Hl, Nq/block, Nk/block] with Hl = 1 or Hq, nonzero = present.
 */

export interface RefBlockSparseOptions {
  block: number;
  layout?: 'bhnd' | 'bnhd';
  causal?: boolean;
  scale?: number;
  /** [B, Nk], nonzero = attend. */
  keyPaddingMask?: ArrayLike<number | bigint> | null;
}

export function blockSparseAttention(
  q: ArrayLike<number>,
  qShape: readonly number[],
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  kShape: readonly number[],
  layout: ArrayLike<number | bigint>,
  layoutHeads: number,
  opts: RefBlockSparseOptions,
): { out: Float64Array; lse: Float64Array } {
  const bnhd = opts.layout === 'bnhd';
  const [B, a1, a2, D] = qShape;
  const [Hq, Nq] = bnhd ? [a2, a1] : [a1, a2];
  const [Hkv, Nk] = bnhd ? [kShape[2], kShape[1]] : [kShape[1], kShape[2]];
  const blk = opts.block;
  const nqb = Nq / blk;
  const nkb = Nk / blk;
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  const group = Hq / Hkv;
  const qAt = (b: number, h: number, i: number) => (bnhd ? ((b * Nq + i) * Hq + h) * D : ((b * Hq + h) * Nq + i) * D);
  const kAt = (b: number, h: number, j: number) => (bnhd ? ((b * Nk + j) * Hkv + h) * D : ((b * Hkv + h) * Nk + j) * D);
  const out = new Float64Array(B * Hq * Nq * D);
  const lse = new Float64Array(B * Hq * Nq);
  const s = new Float64Array(Nk);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < Hq; h++) {
      const lh = layoutHeads === 1 ? 0 : h;
      const hk = Math.floor(h / group);
      for (let i = 0; i < Nq; i++) {
        const qo = qAt(b, h, i);
        let max = -Infinity;
        for (let j = 0; j < Nk; j++) {
          const present = Number(layout[(lh * nqb + Math.floor(i / blk)) * nkb + Math.floor(j / blk)]) !== 0;
          const visible =
            present &&
            (!opts.causal || j <= i + Nk - Nq) &&
            (!opts.keyPaddingMask || Number(opts.keyPaddingMask[b * Nk + j]) !== 0);
          if (!visible) {
            s[j] = -Infinity;
            continue;
          }
          const ko = kAt(b, hk, j);
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[qo + d] * k[ko + d];
          s[j] = scale * dot;
          max = Math.max(max, s[j]);
        }
        if (max === -Infinity) {
          lse[(b * Hq + h) * Nq + i] = -Infinity;
          continue;
        }
        let sum = 0;
        for (let j = 0; j < Nk; j++) sum += Math.exp(s[j] - max);
        lse[(b * Hq + h) * Nq + i] = max + Math.log(sum);
        for (let j = 0; j < Nk; j++) {
          if (s[j] === -Infinity) continue;
          const p = Math.exp(s[j] - max) / sum;
          const vo = kAt(b, hk, j);
          for (let d = 0; d < D; d++) out[qo + d] += p * v[vo + d];
        }
      }
    }
  }
  return { out, lse };
}
