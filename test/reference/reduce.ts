/** Float64 oracles for sum / mean over an axis and top-k over the last axis (plain loops). */

/** Sum (or mean) over `axis` of x with `shape`; axis null reduces everything. Returns float64 values. */
export function reduce(x: ArrayLike<number>, shape: readonly number[], axis: number | null, mean: boolean): Float64Array {
  if (axis === null) {
    let s = 0;
    for (let i = 0; i < x.length; i++) s += x[i];
    return Float64Array.of(mean ? s / x.length : s);
  }
  const a = axis < 0 ? axis + shape.length : axis;
  const outer = shape.slice(0, a).reduce((p, d) => p * d, 1);
  const len = shape[a];
  const inner = shape.slice(a + 1).reduce((p, d) => p * d, 1);
  const out = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      let s = 0;
      for (let k = 0; k < len; k++) s += x[(o * len + k) * inner + i];
      out[o * inner + i] = mean ? s / len : s;
    }
  return out;
}

/**
 * Top-k of each row by sorting the row's indices: larger first (smaller with !largest), NaN above every
 * number, -0 equal to +0, ties to the lower index.
 */
export function topk(x: ArrayLike<number>, n: number, k: number, largest = true): { values: number[]; indices: number[] } {
  const values: number[] = [];
  const indices: number[] = [];
  const rank = (v: number) => (Number.isNaN(v) ? Infinity : v);
  for (let r = 0; r * n < x.length; r++) {
    const idx = Array.from({ length: n }, (_, i) => i);
    idx.sort((i, j) => {
      const a = x[r * n + i];
      const b = x[r * n + j];
      const an = Number.isNaN(a);
      const bn = Number.isNaN(b);
      if (an !== bn) return an ? (largest ? -1 : 1) : largest ? 1 : -1;
      if (!an && rank(a) !== rank(b)) return largest ? rank(b) - rank(a) : rank(a) - rank(b);
      return i - j;
    });
    for (const i of idx.slice(0, k)) {
      values.push(x[r * n + i]);
      indices.push(i);
    }
  }
  return { values, indices };
}
