// Float64 oracles of Reformer attention, written from Hugging Face's LSHSelfAttention / LocalSelfAttention
// (transformers 4.41), quirks included: finite masks (−1e9, then −1e5 for a query's own position), the
// wrap-around of neighbouring chunks across rounds (a shift of a whole number of chunks or more is no shift,
// as torch.cat of slices gives), float32 rounding of every log-sum-exp (so an all-masked local row sums its
// values, and self-only rows carry upstream's rounding), the padding bucket, and N ≤ chunk = standard attention.
// Inputs [B, H, N, D] row-major; everything else in float64.

export interface ChunkOpts {
  chunkLength: number;
  numChunksBefore: number;
  numChunksAfter: number;
  causal: boolean;
  mask?: ArrayLike<number> | null; // [B, N], nonzero = attend
}

export interface LshHash {
  buckets: Int32Array; // [B, H, R, N], offsets included
  margin: Float64Array; // [B, H, R, N]: the smallest gap between the best and second-best candidate of any factor
}

/** Buckets as upstream _hash_vectors: argmax([xR, −xR]) per factor, padding bucket, round offsets. */
export function lshHash(qk: ArrayLike<number>, B: number, H: number, N: number, D: number, rot: ArrayLike<number> | null,
  R: number, factors: number[], mask?: ArrayLike<number> | null): LshHash {
  const rs2 = factors.reduce((a, f) => a + Math.floor(f / 2), 0);
  const nb = factors.reduce((a, f) => a * f, 1);
  let hasPad = false;
  if (mask) for (let i = 0; i < B * N; i++) if (Number(mask[i]) === 0) hasPad = true;
  const nbe = nb + (hasPad ? 1 : 0);
  const buckets = new Int32Array(B * H * R * N);
  const margin = new Float64Array(B * H * R * N).fill(Infinity);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let r = 0; r < R; r++) for (let i = 0; i < N; i++) {
    const at = ((b * H + h) * R + r) * N + i;
    const x = (b * H + h) * N * D + i * D;
    let bucket = 0;
    let mult = 1, off = 0;
    for (const f of factors) {
      const half = Math.floor(f / 2);
      const cand: number[] = [];
      for (let j = 0; j < half; j++) {
        let s = 0;
        for (let d = 0; d < D; d++) s += Number(qk[x + d]) * Number(rot![((h * D + d) * R + r) * rs2 + off + j]);
        cand.push(s);
      }
      const all = f === 1 ? [0] : [...cand, ...cand.map((c) => -c)];
      let best = 0;
      for (let j = 1; j < all.length; j++) if (all[j] > all[best]) best = j;
      for (let j = 0; j < all.length; j++) if (j !== best) margin[at] = Math.min(margin[at], all[best] - all[j]);
      bucket += mult * best;
      mult *= f;
      off += half;
    }
    if (mask && Number(mask[b * N + i]) === 0) bucket = nb;
    buckets[at] = bucket + r * nbe;
  }
  return { buckets, margin };
}

const f32 = Math.fround;

// One (batch, head): slots (positions, in order) cut into chunks; each chunk's queries attend to the chunk
// and its neighbours. Returns per slot the output row and the float32-rounded log-sum-exp.
function chunked(qrow: (p: number) => number[], krow: (p: number) => number[], vrow: (p: number) => number[],
  slots: number[], D: number, C: number, before: number, after: number, causal: boolean, selfMask: boolean,
  keep: (p: number) => boolean): { out: number[][]; lse: number[] } {
  const nch = slots.length / C;
  const out: number[][] = [];
  const lse: number[] = [];
  for (let c = 0; c < nch; c++) {
    const keys: number[] = [];
    for (let o = -before; o <= after; o++) {
      const sh = Math.abs(o) >= nch ? 0 : o;
      const cc = (((c + sh) % nch) + nch) % nch;
      for (let t = 0; t < C; t++) keys.push(slots[cc * C + t]);
    }
    for (let t = 0; t < C; t++) {
      const qp = slots[c * C + t];
      const q = qrow(qp);
      const s = keys.map((kp) => {
        const k = krow(kp);
        let dot = 0;
        for (let d = 0; d < D; d++) dot += q[d] * k[d];
        if (!keep(kp) || (causal && kp > qp)) dot = -1e9;
        if (selfMask && kp === qp) dot = -1e5;
        return dot;
      });
      const m = Math.max(...s);
      let l = 0;
      for (const x of s) l += Math.exp(x - m);
      const L = f32(m + Math.log(l)); // torch.logsumexp in float32
      const o = new Array<number>(D).fill(0);
      keys.forEach((kp, j) => {
        const p = Math.exp(s[j] - L);
        const v = vrow(kp);
        for (let d = 0; d < D; d++) o[d] += p * v[d];
      });
      out.push(o);
      lse.push(L);
    }
  }
  return { out, lse };
}

function rowsOf(x: ArrayLike<number>, base: number, D: number, scale: (p: number) => number = () => 1) {
  return (p: number) => {
    const r = new Array<number>(D);
    const f = scale(p);
    for (let d = 0; d < D; d++) r[d] = Number(x[base + p * D + d]) * f;
    return r;
  };
}

/** LSHSelfAttention on projected vectors; `buckets` from lshHash (or any [B, H, R, N] offset buckets). */
export function lshAttention(qk: ArrayLike<number>, v: ArrayLike<number>, B: number, H: number, N: number, D: number,
  o: ChunkOpts & { numHashes: number; buckets?: Int32Array | null }): Float64Array {
  const out = new Float64Array(B * H * N * D);
  const standard = N <= o.chunkLength;
  const R = standard ? 1 : o.numHashes;
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
    const base = (b * H + h) * N * D;
    const keep = (p: number) => !o.mask || Number(o.mask[b * N + p]) !== 0;
    const knorm = (p: number) => {
      let ss = 0;
      for (let d = 0; d < D; d++) ss += Number(qk[base + p * D + d]) ** 2;
      return 1 / Math.sqrt(ss / D + 1e-6) / Math.sqrt(D);
    };
    const q = rowsOf(qk, base, D), k = rowsOf(qk, base, D, knorm), vv = rowsOf(v, base, D);
    let slots: number[];
    if (standard) {
      slots = Array.from({ length: N }, (_, i) => i);
    } else {
      // stable sort of the R·N flat indices by offset bucket (rounds stay in order: their offsets differ)
      const bk = o.buckets!;
      const flat = Array.from({ length: R * N }, (_, i) => i);
      const at = (i: number) => bk[(b * H + h) * R * N + i];
      flat.sort((x, y) => at(x) - at(y) || x - y);
      slots = flat.map((i) => i % N);
    }
    const C = standard ? N : o.chunkLength;
    const res = chunked(q, k, vv, slots, D, C, standard ? 0 : o.numChunksBefore, standard ? 0 : o.numChunksAfter, o.causal, true, keep);
    // undo the sort: per position, its R rounds' outputs and lse
    const per: { out: number[]; lse: number }[][] = Array.from({ length: N }, () => []);
    slots.forEach((p, s) => { per[p][Math.floor(s / N)] = { out: res.out[s], lse: res.lse[s] }; });
    for (let p = 0; p < N; p++) {
      const rows = per[p];
      const dst = base + p * D;
      if (R === 1) {
        for (let d = 0; d < D; d++) out[dst + d] = rows[0].out[d];
        continue;
      }
      const m = Math.max(...rows.map((r) => r.lse));
      let s = 0;
      for (const r of rows) s += Math.exp(r.lse - m);
      const L = f32(m + Math.log(s));
      for (const r of rows) {
        const w = Math.exp(r.lse - L);
        for (let d = 0; d < D; d++) out[dst + d] += w * r.out[d];
      }
    }
  }
  return out;
}

/** LocalSelfAttention on projected vectors. */
export function localAttention(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, B: number, H: number, N: number,
  D: number, o: ChunkOpts): Float64Array {
  const out = new Float64Array(B * H * N * D);
  const standard = N <= o.chunkLength;
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) {
    const base = (b * H + h) * N * D;
    const keep = (p: number) => !o.mask || Number(o.mask[b * N + p]) !== 0;
    const slots = Array.from({ length: N }, (_, i) => i);
    const res = chunked(rowsOf(q, base, D), rowsOf(k, base, D, () => 1 / Math.sqrt(D)), rowsOf(v, base, D), slots, D,
      standard ? N : o.chunkLength, standard ? 0 : o.numChunksBefore, standard ? 0 : o.numChunksAfter, o.causal, false, keep);
    for (let p = 0; p < N; p++) for (let d = 0; d < D; d++) out[base + p * D + d] = res.out[p][d];
  }
  return out;
}

/** Full shared-QK attention with the self mask (no chunks, no hashing), for the identity test. */
export function sharedQkAttention(qk: ArrayLike<number>, v: ArrayLike<number>, B: number, H: number, N: number, D: number,
  causal: boolean): Float64Array {
  const out = new Float64Array(B * H * N * D);
  for (let bh = 0; bh < B * H; bh++) {
    const base = bh * N * D;
    const row = (p: number) => Array.from({ length: D }, (_, d) => Number(qk[base + p * D + d]));
    for (let i = 0; i < N; i++) {
      const q = row(i);
      const w: number[] = [];
      for (let j = 0; j < N; j++) {
        const k = row(j);
        const n = Math.sqrt(k.reduce((a, x) => a + x * x, 0) / D + 1e-6) * Math.sqrt(D);
        // the self mask: a token sees itself only when nothing else is allowed (here: the first causal query)
        const allowed = (!causal || j <= i) && (j !== i || (causal && i === 0));
        w.push(allowed ? q.reduce((a, x, d) => a + x * k[d], 0) / n : -Infinity);
      }
      const m = Math.max(...w);
      const e = w.map((x) => Math.exp(x - m));
      const z = e.reduce((a, x) => a + x, 0);
      for (let j = 0; j < N; j++) for (let d = 0; d < D; d++) out[base + i * D + d] += (e[j] / z) * Number(v[base + j * D + d]);
    }
  }
  return out;
}
