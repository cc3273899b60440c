/** Float64 oracle for softmax / log-softmax over the last axis with an additive mask broadcast to x. */

/** Offset into a mask of `mShape` (right-aligned against xShape, 1 = broadcast) of the element at x index `idx`. */
function maskOffset(idx: number[], mShape: readonly number[]): number {
  const off = idx.length - mShape.length;
  let flat = 0;
  for (let i = 0; i < mShape.length; i++) flat = flat * mShape[i] + (mShape[i] === 1 ? 0 : idx[off + i]);
  return flat;
}

export function softmax(
  x: ArrayLike<number>,
  shape: readonly number[],
  mask: ArrayLike<number> | null = null,
  mShape: readonly number[] = [],
  log = false,
): Float64Array {
  const n = shape[shape.length - 1];
  const out = new Float64Array(x.length);
  const idx = new Array<number>(shape.length).fill(0);
  const row = new Float64Array(n);
  for (let r = 0; r * n < x.length; r++) {
    // x index of the row start, for the mask
    let q = r;
    for (let d = shape.length - 2; d >= 0; d--) {
      idx[d] = q % shape[d];
      q = Math.floor(q / shape[d]);
    }
    let max = -Infinity;
    for (let i = 0; i < n; i++) {
      idx[shape.length - 1] = i;
      row[i] = x[r * n + i] + (mask ? mask[maskOffset(idx, mShape)] : 0);
      max = Math.max(max, row[i]); // Math.max propagates NaN
    }
    if (max === -Infinity) {
      for (let i = 0; i < n; i++) out[r * n + i] = log ? -Infinity : 0;
      continue;
    }
    let sum = 0;
    for (let i = 0; i < n; i++) sum += Math.exp(row[i] - max);
    for (let i = 0; i < n; i++) out[r * n + i] = log ? row[i] - max - Math.log(sum) : Math.exp(row[i] - max) / sum;
  }
  return out;
}
