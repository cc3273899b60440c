/**
 * Float64 oracle for BigBird block-sparse self-attention, written from Hugging Face's
 * BigBirdBlockSparseAttention.bigbird_block_sparse_attention (transformers 4.41): per query block row, the key
 * blocks concatenated in upstream's order (repeats kept), upstream's additive −10000 penalties built from its
 * masks (to_mask for the global blocks and the first and last rows, band_mask = from · to for the sliding
 * blocks of the middle rows, rand_mask = from · to for the random blocks, the minimum of both in the second and
 * second-to-last rows), one softmax, then the context multiplied by from_mask. q, k, v [B, H, N, D] ('bhnd')
 * or [B, N, H, D] ('bnhd'); table [H, nb − 2, r] (absent: zeros, upstream's eval mode).
 */

const PENALTY = -10000;

export interface RefBigBirdOptions {
  block: number;
  numRandomBlocks: number;
  randomTable?: ArrayLike<number | bigint> | null;
  layout?: 'bhnd' | 'bnhd';
  scale?: number;
  /** [B, N], nonzero = token. */
  attentionMask?: ArrayLike<number | bigint> | null;
}

export function bigbirdAttention(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  shape: readonly number[],
  opts: RefBigBirdOptions,
): Float64Array {
  const bnhd = opts.layout === 'bnhd';
  const [B, a1, a2, D] = shape;
  const [H, N] = bnhd ? [a2, a1] : [a1, a2];
  const at = (b: number, h: number, i: number) => (bnhd ? ((b * N + i) * H + h) * D : ((b * H + h) * N + i) * D);
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  const bs = opts.block;
  const nb = N / bs;
  const r = opts.numRandomBlocks;
  const mask = (b: number, i: number) => (opts.attentionMask ? (Number(opts.attentionMask[b * N + i]) !== 0 ? 1 : 0) : 1);
  const rand = (h: number, row: number, t: number) => (opts.randomTable ? Number(opts.randomTable[(h * (nb - 2) + row) * r + t]) : 0);
  const out = new Float64Array(B * H * N * D);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let qb = 0; qb < nb; qb++) {
        // the key blocks of this row with the kind of mask upstream applies to each: 'to' (key only) or 'both'
        const blocks: { c: number; kind: 'to' | 'both' }[] = [];
        const randoms = () => {
          for (let t = 0; t < r; t++) blocks.push({ c: rand(h, qb - 1, t), kind: 'both' });
        };
        if (qb === 0 || qb === nb - 1) {
          for (let c = 0; c < nb; c++) blocks.push({ c, kind: 'to' });
        } else if (qb === 1) {
          for (const c of [0, 1, 2, nb - 1]) blocks.push({ c, kind: 'to' });
          randoms();
        } else if (qb === nb - 2) {
          for (const c of [0, nb - 3, nb - 2, nb - 1]) blocks.push({ c, kind: 'to' });
          randoms();
        } else {
          blocks.push({ c: 0, kind: 'to' });
          for (const c of [qb - 1, qb, qb + 1]) blocks.push({ c, kind: 'both' });
          randoms();
          blocks.push({ c: nb - 1, kind: 'to' });
        }
        for (let i = qb * bs; i < (qb + 1) * bs; i++) {
          const from = mask(b, i);
          const s: number[] = [];
          const vo: number[] = [];
          for (const { c, kind } of blocks) {
            for (let j = c * bs; j < (c + 1) * bs; j++) {
              let dot = 0;
              for (let d = 0; d < D; d++) dot += q[at(b, h, i) + d] * k[at(b, h, j) + d];
              const m = kind === 'to' ? mask(b, j) : from * mask(b, j);
              s.push(dot * scale + (1 - m) * PENALTY);
              vo.push(at(b, h, j));
            }
          }
          const max = Math.max(...s);
          let sum = 0;
          for (const x of s) sum += Math.exp(x - max);
          const o = at(b, h, i);
          for (let t = 0; t < s.length; t++) {
            const p = (Math.exp(s[t] - max) / sum) * from;
            for (let d = 0; d < D; d++) out[o + d] += p * v[vo[t] + d];
          }
        }
      }
    }
  }
  return out;
}
