/** Float64 oracles for layer normalization and RMS normalization over the last axis (two-pass, plain loops). */

export function layerNorm(
  x: ArrayLike<number>,
  n: number,
  weight: ArrayLike<number> | null,
  bias: ArrayLike<number> | null,
  eps: number,
): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r * n < x.length; r++) {
    let mean = 0;
    for (let i = 0; i < n; i++) mean += x[r * n + i];
    mean /= n;
    let v = 0;
    for (let i = 0; i < n; i++) v += (x[r * n + i] - mean) ** 2;
    v /= n;
    const rstd = 1 / Math.sqrt(v + eps);
    for (let i = 0; i < n; i++) {
      out[r * n + i] = (x[r * n + i] - mean) * rstd * (weight ? weight[i] : 1) + (bias ? bias[i] : 0);
    }
  }
  return out;
}

export function rmsNorm(x: ArrayLike<number>, n: number, weight: ArrayLike<number> | null, eps: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r * n < x.length; r++) {
    let ms = 0;
    for (let i = 0; i < n; i++) ms += x[r * n + i] ** 2;
    ms /= n;
    const rstd = 1 / Math.sqrt(ms + eps);
    for (let i = 0; i < n; i++) out[r * n + i] = x[r * n + i] * rstd * (weight ? weight[i] : 1);
  }
  return out;
}
