/**
 * Float64 oracles of the GEMM family, written for clarity (plain loops), not speed.
 */

export interface RefTensor {
  data: ArrayLike<number>;
  shape: readonly number[];
}

export interface RefMatmulOptions {
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  beta?: number;
  /** C's previous contents (the result's shape), scaled by beta. */
  c?: ArrayLike<number>;
}

/**
 * One product: alpha·op(A)·op(B) + beta·C, with A stored row-major as M x K (K x M when transA) and B as
 * K x N (N x K when transB), starting at the given offsets.
 */
export function gemmRef(
  a: ArrayLike<number>, aOffset: number,
  b: ArrayLike<number>, bOffset: number,
  m: number, n: number, k: number,
  opts: RefMatmulOptions = {}, cOffset = 0,
): Float64Array {
  const { transA = false, transB = false, alpha = 1, beta = 0, c } = opts;
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) {
        const av = transA ? a[aOffset + p * m + i] : a[aOffset + i * k + p];
        const bv = transB ? b[bOffset + j * k + p] : b[bOffset + p * n + j];
        s += av * bv;
      }
      out[i * n + j] = alpha * s + (beta !== 0 && c ? beta * c[cOffset + i * n + j] : 0);
    }
  }
  return out;
}

/** The broadcast result shape of matmul(a, b), or throws. */
export function matmulShape(aShape: readonly number[], bShape: readonly number[], transA = false, transB = false): number[] {
  const m = transA ? aShape[aShape.length - 1] : aShape[aShape.length - 2];
  const n = transB ? bShape[bShape.length - 2] : bShape[bShape.length - 1];
  const ba = aShape.slice(0, -2);
  const bb = bShape.slice(0, -2);
  const nd = Math.max(ba.length, bb.length);
  const batch: number[] = [];
  for (let d = 0; d < nd; d++) {
    const da = ba[d - (nd - ba.length)] ?? 1;
    const db = bb[d - (nd - bb.length)] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error(`batch dims do not broadcast: ${da} vs ${db}`);
    batch.push(da === 1 ? db : da); // 0 against 1 is 0
  }
  return [...batch, m, n];
}

/** numpy-style batched matmul: every batch index of the result maps to a (broadcast) index of a and b. */
export function matmulRef(a: RefTensor, b: RefTensor, opts: RefMatmulOptions = {}): { data: Float64Array; shape: number[] } {
  const { transA = false, transB = false } = opts;
  const shape = matmulShape(a.shape, b.shape, transA, transB);
  const m = shape[shape.length - 2];
  const n = shape[shape.length - 1];
  const k = transA ? a.shape[a.shape.length - 2] : a.shape[a.shape.length - 1];
  const batch = shape.slice(0, -2);
  const count = batch.reduce((x, y) => x * y, 1);
  const out = new Float64Array(count * m * n);
  const ba = a.shape.slice(0, -2);
  const bb = b.shape.slice(0, -2);
  // Offset (in matrices) of batch index `idx` in an operand with batch shape `own` (right-aligned).
  const offsetOf = (idx: number[], own: readonly number[]): number => {
    let off = 0;
    for (let d = 0; d < own.length; d++) {
      const i = idx[d + (idx.length - own.length)];
      off = off * own[d] + (own[d] === 1 ? 0 : i);
    }
    return off;
  };
  for (let t = 0; t < count; t++) {
    const idx: number[] = [];
    let r = t;
    for (let d = batch.length - 1; d >= 0; d--) {
      idx[d] = r % batch[d];
      r = Math.floor(r / batch[d]);
    }
    const aOff = offsetOf(idx, ba) * m * k;
    const bOff = offsetOf(idx, bb) * k * n;
    out.set(gemmRef(a.data, aOff, b.data, bOff, m, n, k, opts, t * m * n), t * m * n);
  }
  return { data: out, shape };
}

/** x·weightᵀ + bias with weight [out, in]. */
export function linearRef(x: RefTensor, weight: RefTensor, bias?: ArrayLike<number>): { data: Float64Array; shape: number[] } {
  const [nOut, nIn] = weight.shape;
  const rows = x.shape.slice(0, -1).reduce((p, q) => p * q, 1);
  const out = new Float64Array(rows * nOut);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < nOut; j++) {
      let s = bias ? bias[j] : 0;
      for (let p = 0; p < nIn; p++) s += x.data[i * nIn + p] * weight.data[j * nIn + p];
      out[i * nOut + j] = s;
    }
  }
  return { data: out, shape: [...x.shape.slice(0, -1), nOut] };
}
