/**
 * Tensor: a TypedArray plus {shape, dtype}, always contiguous and row-major. It crosses into native code
 * without a copy. f16 and bf16 are stored as Uint16Array bit patterns, i64 as BigInt64Array.
 */
import { binding, type DType, type DTypeArrays, type RawTensor, type TypedArray } from './native';
import { Rng } from './random';

export type { DType, DTypeArrays, RawTensor, TypedArray } from './native';

export const DTYPES: readonly DType[] = ['f32', 'f16', 'bf16', 'i8', 'u8', 'i32', 'i64'];
export const MAX_DIMS = 8;

const BYTES: Record<DType, number> = { f32: 4, f16: 2, bf16: 2, i8: 1, u8: 1, i32: 4, i64: 8 };
const ARRAY_NAME: Record<DType, string> = {
  f32: 'Float32Array', f16: 'Uint16Array', bf16: 'Uint16Array', i8: 'Int8Array', u8: 'Uint8Array',
  i32: 'Int32Array', i64: 'BigInt64Array',
};

/** Bytes per element of a dtype. */
export function dtypeSize(dtype: DType): number {
  checkDType(dtype, 'dtype');
  return BYTES[dtype];
}

export function isDType(x: unknown): x is DType {
  return typeof x === 'string' && (DTYPES as readonly string[]).includes(x);
}

function checkDType(dtype: unknown, name: string): asserts dtype is DType {
  if (!isDType(dtype)) throw new TypeError(`${name} must be one of ${DTYPES.join(', ')}, got ${describe(dtype)}`);
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return `[${x.map(describe).join(', ')}]`;
  if (ArrayBuffer.isView(x)) return x.constructor.name;
  if (typeof x === 'string') return `'${x}'`;
  if (typeof x === 'object') return 'an object';
  return String(x);
}

/** Checks a shape (array of at most 8 non-negative safe integers) and returns its element count. */
export function checkShape(shape: unknown, name = 'shape'): number {
  if (!Array.isArray(shape)) throw new TypeError(`${name} must be an array of non-negative integers, got ${describe(shape)}`);
  if (shape.length > MAX_DIMS) throw new RangeError(`${name} has ${shape.length} dimensions; at most ${MAX_DIMS} are supported`);
  let n = 1;
  for (let i = 0; i < shape.length; i++) {
    const d: unknown = shape[i];
    if (typeof d !== 'number' || !Number.isInteger(d)) throw new TypeError(`${name}[${i}] must be a non-negative integer, got ${describe(d)}`);
    if (d < 0 || !Number.isSafeInteger(d)) throw new RangeError(`${name}[${i}] must be a non-negative integer, got ${d}`);
    n *= d;
  }
  if (!Number.isSafeInteger(n)) throw new RangeError(`${name}: the element count of [${shape.join(', ')}] overflows`);
  return n;
}

function arrayMatches(data: TypedArray, dtype: DType): boolean {
  switch (dtype) {
    case 'f32': return data instanceof Float32Array;
    case 'f16': case 'bf16': return data instanceof Uint16Array;
    case 'i8': return data instanceof Int8Array;
    case 'u8': return data instanceof Uint8Array || data instanceof Uint8ClampedArray;
    case 'i32': return data instanceof Int32Array;
    case 'i64': return data instanceof BigInt64Array;
  }
}

function inferDType(data: ArrayBufferView): DType | undefined {
  if (data instanceof Float32Array) return 'f32';
  if (data instanceof Int8Array) return 'i8';
  if (data instanceof Uint8Array) return 'u8';
  if (data instanceof Int32Array) return 'i32';
  if (data instanceof BigInt64Array) return 'i64';
  return undefined;
}

function newArray<D extends DType>(dtype: D, n: number): DTypeArrays[D] {
  switch (dtype) {
    case 'f32': return new Float32Array(n) as DTypeArrays[D];
    case 'f16': case 'bf16': return new Uint16Array(n) as DTypeArrays[D];
    case 'i8': return new Int8Array(n) as DTypeArrays[D];
    case 'u8': return new Uint8Array(n) as DTypeArrays[D];
    case 'i32': return new Int32Array(n) as DTypeArrays[D];
    case 'i64': return new BigInt64Array(n) as DTypeArrays[D];
  }
  throw new TypeError(`unknown dtype ${String(dtype)}`);
}

/** Values (numbers) into a fresh array of `dtype`; float formats round to nearest even. */
function fromNumbers<D extends DType>(values: ArrayLike<number | bigint>, dtype: D): DTypeArrays[D] {
  const n = values.length;
  if (dtype === 'f16' || dtype === 'bf16') {
    const f = new Float32Array(n);
    for (let i = 0; i < n; i++) f[i] = Number(values[i]);
    return binding.convert({ data: f, shape: [n], dtype: 'f32' }, dtype).data as DTypeArrays[D];
  }
  const out = newArray(dtype, n);
  if (dtype === 'i64') {
    const o = out as BigInt64Array;
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (typeof v === 'bigint') o[i] = v;
      else if (Number.isInteger(v)) o[i] = BigInt(v);
      else throw new TypeError(`data[${i}] must be an integer for dtype i64, got ${String(v)}`);
    }
  } else {
    const o = out as Exclude<TypedArray, BigInt64Array>;
    for (let i = 0; i < n; i++) o[i] = Number(values[i]);
  }
  return out;
}

export interface RandomOptions<D extends 'f32' | 'f16' | 'bf16' = 'f32' | 'f16' | 'bf16'> {
  /** Seed of the generator (default 0): the same seed gives the same values on every platform. */
  seed?: number;
  dtype?: D;
}

/** Node's util.inspect.custom, spelled so that the type declarations need no Node types. */
export const inspectCustom: unique symbol = Symbol.for('nodejs.util.inspect.custom') as never;

const disposedMessage = 'this tensor was disposed (or shares memory with one that was); it cannot be used';

export class Tensor<D extends DType = DType> implements RawTensor<D> {
  readonly dtype: D;
  readonly shape: readonly number[];
  /** Elements in the tensor. */
  readonly size: number;
  /**
   * True when the addon created the memory (alloc(), op outputs): dispose() releases it at once (and makes
   * every tensor sharing it unusable); otherwise the garbage collector frees it.
   */
  readonly nativeOwned: boolean;
  #data: DTypeArrays[D] | null;

  /** Wraps data without copying. Prefer Tensor.from(), which also accepts plain arrays. */
  constructor(data: DTypeArrays[D], shape: readonly number[], dtype: D, nativeOwned = false) {
    checkDType(dtype, 'dtype');
    const n = checkShape(shape, 'shape');
    if (!ArrayBuffer.isView(data) || data instanceof DataView || !arrayMatches(data as TypedArray, dtype)) {
      throw new TypeError(`data must be a ${ARRAY_NAME[dtype]} for dtype ${dtype}, got ${describe(data)}`);
    }
    if (data.length !== n) {
      throw new RangeError(`data has ${data.length} elements but shape [${shape.join(', ')}] needs ${n}`);
    }
    this.dtype = dtype;
    this.shape = Object.freeze([...shape]);
    this.size = n;
    this.nativeOwned = nativeOwned;
    this.#data = data;
  }

  /**
   * A tensor over `data` with `shape`. A TypedArray of the dtype's kind is used as is (no copy);
   * plain arrays and Float64Array are converted. Uint16Array needs an explicit 'f16' or 'bf16'.
   *
   * @example Tensor.from(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3])
   * @example Tensor.from([1, 2, 3], [3], 'f16')
   */
  static from<D extends DType = 'f32'>(
    data: TypedArray | Float64Array | ArrayLike<number> | readonly bigint[],
    shape: readonly number[],
    dtype?: D,
  ): Tensor<D> {
    if (dtype !== undefined) checkDType(dtype, 'dtype');
    checkShape(shape, 'shape');
    if (ArrayBuffer.isView(data) && !(data instanceof Float64Array)) {
      const inferred = inferDType(data);
      const dt = (dtype ?? inferred) as D | undefined;
      if (dt === undefined) {
        throw new TypeError(`data is a ${describe(data)}; pass dtype ('f16' or 'bf16' for Uint16Array)`);
      }
      if (!arrayMatches(data as TypedArray, dt)) {
        throw new TypeError(`data must be a ${ARRAY_NAME[dt]} for dtype ${dt}, got ${describe(data)}; convert the values first or pass them as a plain array`);
      }
      return new Tensor(data as DTypeArrays[D], shape, dt);
    }
    if (data === null || typeof data !== 'object' || typeof (data as ArrayLike<number>).length !== 'number') {
      throw new TypeError(`data must be a TypedArray or an array of numbers, got ${describe(data)}`);
    }
    const dt = (dtype ?? 'f32') as D;
    return new Tensor(fromNumbers(data as ArrayLike<number>, dt), shape, dt);
  }

  /** A zero-filled tensor in JS memory. */
  static zeros<D extends DType = 'f32'>(shape: readonly number[], dtype?: D): Tensor<D> {
    const dt = (dtype ?? 'f32') as D;
    checkDType(dt, 'dtype');
    return new Tensor(newArray(dt, checkShape(shape)), shape, dt);
  }

  /** A tensor filled with `value`. */
  static full<D extends DType = 'f32'>(shape: readonly number[], value: number | bigint, dtype?: D): Tensor<D> {
    const dt = (dtype ?? 'f32') as D;
    checkDType(dt, 'dtype');
    const n = checkShape(shape);
    return new Tensor(fromNumbers(new Array<number | bigint>(n).fill(value), dt), shape, dt);
  }

  /** A zero-filled tensor in native memory (64-byte aligned; dispose() frees it at once). */
  static alloc<D extends DType = 'f32'>(shape: readonly number[], dtype?: D): Tensor<D> {
    const dt = (dtype ?? 'f32') as D;
    checkDType(dt, 'dtype');
    checkShape(shape);
    return Tensor.fromNative(binding.alloc(dt, shape));
  }

  /** Wraps a tensor that the addon returned (its memory is native-owned). */
  static fromNative<D extends DType>(raw: RawTensor<D>): Tensor<D> {
    return new Tensor(raw.data, raw.shape, raw.dtype, true);
  }

  /** Normal samples (Box-Muller over a seeded xoshiro128** generator). */
  static randn<D extends 'f32' | 'f16' | 'bf16' = 'f32'>(
    shape: readonly number[],
    opts: RandomOptions<D> & { mean?: number; std?: number } = {},
  ): Tensor<D> {
    const n = checkShape(shape);
    const rng = new Rng(opts.seed ?? 0);
    const mean = opts.mean ?? 0;
    const std = opts.std ?? 1;
    const f = new Float32Array(n);
    for (let i = 0; i < n; i++) f[i] = mean + std * rng.normal();
    return new Tensor(f, shape, 'f32').to((opts.dtype ?? 'f32') as D);
  }

  /** Uniform samples in [low, high) (default [0, 1)). */
  static rand<D extends 'f32' | 'f16' | 'bf16' = 'f32'>(
    shape: readonly number[],
    opts: RandomOptions<D> & { low?: number; high?: number } = {},
  ): Tensor<D> {
    const n = checkShape(shape);
    const rng = new Rng(opts.seed ?? 0);
    const low = opts.low ?? 0;
    const high = opts.high ?? 1;
    const f = new Float32Array(n);
    for (let i = 0; i < n; i++) f[i] = low + (high - low) * rng.next();
    return new Tensor(f, shape, 'f32').to((opts.dtype ?? 'f32') as D);
  }

  /** The elements (a TypedArray of the dtype's kind). Throws once the tensor is disposed. */
  get data(): DTypeArrays[D] {
    const d = this.#data;
    if (d === null || d.length !== this.size) throw new Error(disposedMessage);
    return d;
  }

  get ndim(): number {
    return this.shape.length;
  }

  /** Row-major strides, in elements. */
  get strides(): number[] {
    const s = new Array<number>(this.shape.length);
    let acc = 1;
    for (let i = this.shape.length - 1; i >= 0; i--) {
      s[i] = acc;
      acc *= this.shape[i];
    }
    return s;
  }

  get nbytes(): number {
    return this.size * BYTES[this.dtype];
  }

  get disposed(): boolean {
    return this.#data === null;
  }

  /** The same memory with another shape; one dimension may be -1 (inferred). Never copies. */
  reshape(shape: readonly number[]): Tensor<D> {
    if (!Array.isArray(shape)) throw new TypeError(`shape must be an array of integers, got ${describe(shape)}`);
    const holes = shape.filter((d) => d === -1).length;
    if (holes > 1) throw new RangeError('shape may contain at most one -1');
    let resolved = shape;
    if (holes === 1) {
      const known = shape.reduce((a, d) => (d === -1 ? a : a * d), 1);
      if (known === 0 || this.size % known !== 0) {
        throw new RangeError(`cannot reshape [${this.shape.join(', ')}] (${this.size} elements) to [${shape.join(', ')}]`);
      }
      resolved = shape.map((d) => (d === -1 ? this.size / known : d));
    }
    const n = checkShape(resolved, 'shape');
    if (n !== this.size) {
      throw new RangeError(`cannot reshape [${this.shape.join(', ')}] (${this.size} elements) to [${shape.join(', ')}] (${n} elements)`);
    }
    return new Tensor(this.data, resolved, this.dtype, this.nativeOwned);
  }

  /** PyTorch-style alias of reshape(): tensors are always contiguous, so a view never copies. */
  view(shape: readonly number[]): Tensor<D> {
    return this.reshape(shape);
  }

  /** Rows [start, end) along the first axis, sharing memory (no copy). */
  slice(start: number, end: number = this.shape[0]): Tensor<D> {
    if (this.ndim === 0) throw new RangeError('cannot slice a 0-dimensional tensor');
    const rows = this.shape[0];
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > rows || start > end) {
      throw new RangeError(`slice(${start}, ${end}) is out of range for a first dimension of ${rows}`);
    }
    const inner = rows === 0 ? 0 : this.size / rows;
    const data = this.data.subarray(start * inner, end * inner) as DTypeArrays[D];
    return new Tensor(data, [end - start, ...this.shape.slice(1)], this.dtype, this.nativeOwned);
  }

  /** Entry `index` of the first axis with that axis removed, sharing memory. */
  select(index: number): Tensor<D> {
    const t = this.slice(index, index + 1);
    return t.reshape(this.shape.slice(1));
  }

  /**
   * Converts to another dtype. f32 <-> f16/bf16 run natively (SIMD, round to nearest even); other
   * pairs go through numbers (integers are truncated toward zero, then wrap as the TypedArray does).
   * Returns this tensor when the dtype is already `dtype`.
   */
  to<T extends DType>(dtype: T): Tensor<T> {
    checkDType(dtype, 'dtype');
    if ((dtype as DType) === this.dtype) return this as unknown as Tensor<T>;
    const pair = `${this.dtype}->${dtype}`;
    if (pair === 'f32->f16' || pair === 'f32->bf16' || pair === 'f16->f32' || pair === 'bf16->f32') {
      return Tensor.fromNative(binding.convert(this, dtype));
    }
    if (this.dtype === 'f16' || this.dtype === 'bf16') return this.to('f32').to(dtype);
    if (dtype === 'f16' || dtype === 'bf16') return this.to('f32').to(dtype);
    const src = this.data;
    const out = newArray(dtype, this.size);
    if (dtype === 'i64') {
      const o = out as BigInt64Array;
      for (let i = 0; i < src.length; i++) o[i] = BigInt(Math.trunc(Number(src[i])));
    } else {
      const o = out as Exclude<TypedArray, BigInt64Array>;
      const isInt = dtype !== 'f32';
      for (let i = 0; i < src.length; i++) {
        const v = Number(src[i]);
        o[i] = isInt ? Math.trunc(v) : v;
      }
    }
    return new Tensor(out, this.shape, dtype);
  }

  /** Like to(), computed off the main thread for the native conversions. */
  async toAsync<T extends DType>(dtype: T): Promise<Tensor<T>> {
    checkDType(dtype, 'dtype');
    const pair = `${this.dtype}->${dtype}`;
    if (pair === 'f32->f16' || pair === 'f32->bf16' || pair === 'f16->f32' || pair === 'bf16->f32') {
      return Tensor.fromNative(await binding.convertAsync(this, dtype));
    }
    return this.to(dtype);
  }

  /** A copy in JS memory. */
  clone(): Tensor<D> {
    return new Tensor(this.data.slice() as DTypeArrays[D], this.shape, this.dtype);
  }

  /** The values as a Float32Array (f16/bf16 decoded; a copy unless the dtype is f32). */
  toFloat32Array(): Float32Array {
    return this.dtype === 'f32' ? (this.data as Float32Array) : this.to('f32').data;
  }

  /** Nested arrays of numbers (bigint for i64). */
  toArray(): unknown[] | number | bigint {
    const flat: (number | bigint)[] = this.dtype === 'f16' || this.dtype === 'bf16' ? Array.from(this.toFloat32Array()) : Array.from(this.data as ArrayLike<number | bigint>);
    const build = (dim: number, offset: number): unknown[] | number | bigint => {
      if (dim === this.shape.length) return flat[offset];
      const stride = this.shape.slice(dim + 1).reduce((a, b) => a * b, 1);
      return Array.from({ length: this.shape[dim] }, (_, i) => build(dim + 1, offset + i * stride));
    };
    return build(0, 0);
  }

  /**
   * Releases the memory. Native-owned memory is freed at once (every tensor sharing it becomes
   * unusable); JS memory is left to the garbage collector. Throws while a pending async operation uses
   * the tensor. Calling it twice is harmless.
   */
  dispose(): void {
    const d = this.#data;
    if (d === null) return;
    if (this.nativeOwned && d.length > 0) binding.detach(d.buffer as ArrayBuffer);
    this.#data = null;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  toString(): string {
    return `Tensor(${this.dtype}, [${this.shape.join(', ')}]${this.disposed ? ', disposed' : ''})`;
  }

  [inspectCustom](): string {
    if (this.disposed) return this.toString();
    const vals = Array.from(this.size > 8 ? this.toFloat32Array().subarray(0, 8) : (this.dtype === 'f16' || this.dtype === 'bf16' ? this.toFloat32Array() : (this.data as ArrayLike<number | bigint>)));
    const shown = vals.map((v) => (typeof v === 'number' ? Number(v.toPrecision(6)) : v)).join(', ');
    return `Tensor(${this.dtype}, [${this.shape.join(', ')}]) [${shown}${this.size > 8 ? ', ...' : ''}]`;
  }
}
