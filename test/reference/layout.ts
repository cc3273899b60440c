/** Oracles for the layout ops: plain index arithmetic over flat arrays (values copied as they are). */

function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** out[j0, j1, ...] = x[i] where i_{axes[k]} = j_k. */
export function permute<T>(x: ArrayLike<T>, shape: readonly number[], axes: readonly number[]): { data: T[]; shape: number[] } {
  const outShape = axes.map((a) => shape[a]);
  const xs = strides(shape);
  const n = x.length;
  const data = new Array<T>(n);
  const idx = new Array<number>(outShape.length).fill(0);
  for (let o = 0; o < n; o++) {
    let src = 0;
    for (let k = 0; k < axes.length; k++) src += idx[k] * xs[axes[k]];
    data[o] = x[src];
    for (let d = outShape.length - 1; d >= 0; d--) {
      if (++idx[d] < outShape[d]) break;
      idx[d] = 0;
    }
  }
  return { data, shape: outShape };
}

/** Concatenation along `axis` of flat arrays with the given shapes. */
export function concat<T>(parts: { data: ArrayLike<T>; shape: readonly number[] }[], axis: number): T[] {
  const shape = parts[0].shape;
  const outer = shape.slice(0, axis).reduce((p, d) => p * d, 1);
  const inner = shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const out: T[] = [];
  for (let o = 0; o < outer; o++)
    for (const p of parts) {
      const len = p.shape[axis] * inner;
      for (let i = 0; i < len; i++) out.push(p.data[o * len + i]);
    }
  return out;
}

/** rows of table [vocab, dim] at ids. */
export function embedding<T>(ids: ArrayLike<number | bigint>, table: ArrayLike<T>, dim: number): T[] {
  const out: T[] = [];
  for (let i = 0; i < ids.length; i++) {
    const id = Number(ids[i]);
    for (let j = 0; j < dim; j++) out.push(table[id * dim + j]);
  }
  return out;
}
