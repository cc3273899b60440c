/**
 * Float64 oracles for the element-wise ops: numpy broadcasting written as plain index arithmetic, and the
 * activations from their definitions (erf and erfc by series and continued fraction, since JS has no erf).
 */

/** numpy broadcast of two shapes, or null when they do not broadcast. */
export function broadcastShape(a: readonly number[], b: readonly number[]): number[] | null {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) return null;
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Row-major index of the element of a tensor of `shape` that broadcasts to output index `idx`. */
function sourceIndex(idx: number[], shape: readonly number[]): number {
  const off = idx.length - shape.length;
  let flat = 0;
  for (let i = 0; i < shape.length; i++) flat = flat * shape[i] + (shape[i] === 1 ? 0 : idx[off + i]);
  return flat;
}

export type BinaryName = 'add' | 'sub' | 'mul' | 'div';

/** a op b with broadcasting, in float64 (callers round with Math.fround to get the f32 answer). */
export function binary(
  op: BinaryName,
  a: ArrayLike<number>,
  aShape: readonly number[],
  b: ArrayLike<number>,
  bShape: readonly number[],
): { data: Float64Array; shape: number[] } {
  const shape = broadcastShape(aShape, bShape);
  if (!shape) throw new Error('shapes do not broadcast');
  const n = shape.reduce((p, d) => p * d, 1);
  const data = new Float64Array(n);
  const idx = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < n; i++) {
    const x = a[sourceIndex(idx, aShape)];
    const y = b[sourceIndex(idx, bShape)];
    data[i] = op === 'add' ? x + y : op === 'sub' ? x - y : op === 'mul' ? x * y : x / y;
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return { data, shape };
}

/** erf(x) for |x| <= 3 by the series 2/sqrt(pi) e^{-x^2} sum (2x^2)^n x / (1*3*...*(2n+1)) (no cancellation). */
function erfSeries(x: number): number {
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
    if (Math.abs(term) < 1e-17 * Math.abs(sum)) break;
  }
  return (2 / Math.sqrt(Math.PI)) * Math.exp(-x2) * sum;
}

/** erfc(x) for x >= 3 by the continued fraction e^{-x^2}/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))). */
function erfcFraction(x: number): number {
  let f = x;
  for (let k = 200; k >= 1; k--) f = x + k / 2 / f;
  return Math.exp(-x * x) / (Math.sqrt(Math.PI) * f);
}

export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x >= 3) return erfcFraction(x);
  if (x > -3) return 1 - erfSeries(x);
  return 2 - erfcFraction(-x);
}

export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (Math.abs(x) < 3) return erfSeries(x);
  return Math.sign(x) * (1 - erfcFraction(Math.abs(x)));
}

export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** The activations of lib/ops/elementwise.ts, from their definitions. */
export const activations = {
  // x Phi(x), Phi(x) = erfc(-x/sqrt2)/2: the same function as x/2 (1 + erf(x/sqrt2)), without the cancellation.
  gelu: (x) => 0.5 * x * erfc(-x / Math.SQRT2),
  // x/2 (1 + tanh(u)) = x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3)
  gelu_tanh: (x) => x * sigmoid(2 * Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)),
  silu: (x) => x * sigmoid(x),
  relu: (x) => (Number.isNaN(x) ? NaN : Math.max(x, 0)),
  relu6: (x) => (Number.isNaN(x) ? NaN : Math.min(Math.max(x, 0), 6)),
  relu2: (x) => (Number.isNaN(x) ? NaN : Math.max(x, 0) ** 2),
  sigmoid,
  tanh: Math.tanh,
  softplus: (x) => (x > 20 ? x : Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)))),
} satisfies Record<string, (x: number) => number>;

/** The spacing of f32 values at |v|: 2^(e-23) for a normal v of exponent e, 2^-149 for subnormals and 0. */
export function ulpF32(v: number): number {
  const bits = new Uint32Array(Float32Array.of(Math.abs(v)).buffer)[0];
  const e = (bits >>> 23) & 0xff;
  return e === 0 ? 2 ** -149 : 2 ** (e - 150);
}
