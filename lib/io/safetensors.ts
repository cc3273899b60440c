/**
 * Reads and writes the safetensors format (https://github.com/huggingface/safetensors).
 *
 * Layout: an 8-byte little-endian u64 `N`, then `N` bytes of UTF-8 JSON (the header), then the data
 * section. The header maps each tensor name to `{"dtype", "shape", "data_offsets": [begin, end]}`
 * (offsets relative to the start of the data section) and may hold `"__metadata__"`, a string-to-string
 * map. The tensors tile the data section exactly: no gaps, no overlaps, nothing after the last one.
 *
 * Files are memory-mapped through the addon (copy-on-write: writes into a tensor never reach the file)
 * and tensors are zero-copy views into the mapping whenever their data is aligned to the element size.
 *
 * Checkpoints are untrusted input: the header length, the JSON, every dtype, shape and offset are checked
 * before any tensor is touched, and every problem is reported as a {@link SafetensorsError} that names
 * the file, the tensor and the field at fault.
 *
 * @example
 * ```ts
 * using file = openSafetensors('model.safetensors');
 * const w = file.tensor('embeddings.word_embeddings.weight'); // Tensor<'f32'>, a view into the mapping
 * console.log(file.metadata.format, w.shape);
 * ```
 * @example
 * ```ts
 * saveSafetensors('out.safetensors', { w: Tensor.randn([4, 4]) }, { format: 'pt' });
 * ```
 */
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readSync, renameSync, statSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { open as openAsync, unlink as unlinkAsync, rename as renameAsync } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

import { binding, type DType, type RawTensor, type TypedArray } from '../native';
import { inspectCustom, isDType, MAX_DIMS, Tensor } from '../tensor';

// ---------------------------------------------------------------------------------------------------
// dtypes

/** The element types of the safetensors format, in the reference implementation's order. */
export type SafetensorsDType =
  | 'BOOL' | 'U8' | 'I8' | 'F8_E5M2' | 'F8_E4M3' | 'I16' | 'U16' | 'F16' | 'BF16'
  | 'I32' | 'U32' | 'F32' | 'F64' | 'I64' | 'U64';

/**
 * Every safetensors dtype, in the order of the reference implementation's `Dtype` enum. The writer lays
 * tensors out in the reverse of this order (then by name), exactly as the reference does.
 */
export const SAFETENSORS_DTYPES: readonly SafetensorsDType[] = Object.freeze([
  'BOOL', 'U8', 'I8', 'F8_E5M2', 'F8_E4M3', 'I16', 'U16', 'F16', 'BF16', 'I32', 'U32', 'F32', 'F64', 'I64', 'U64',
] as const);

const ELEMENT_SIZE: Readonly<Record<SafetensorsDType, number>> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8,
};

const RANK = new Map<string, number>(SAFETENSORS_DTYPES.map((d, i) => [d, i]));

/** The safetensors dtypes a `Tensor` holds directly (BOOL is read as u8: one byte, 0 or 1). */
const TO_TENSOR: Readonly<Partial<Record<SafetensorsDType, DType>>> = {
  F32: 'f32', F16: 'f16', BF16: 'bf16', I8: 'i8', U8: 'u8', BOOL: 'u8', I32: 'i32', I64: 'i64',
};

const FROM_TENSOR: Readonly<Record<DType, SafetensorsDType>> = {
  f32: 'F32', f16: 'F16', bf16: 'BF16', i8: 'I8', u8: 'U8', i32: 'I32', i64: 'I64',
};

/** True when `x` is one of {@link SAFETENSORS_DTYPES}. */
export function isSafetensorsDType(x: unknown): x is SafetensorsDType {
  return typeof x === 'string' && RANK.has(x);
}

/** Bytes per element of a safetensors dtype. */
export function safetensorsDTypeSize(dtype: SafetensorsDType): number {
  if (!isSafetensorsDType(dtype)) throw new TypeError(`dtype must be one of ${SAFETENSORS_DTYPES.join(', ')}, got ${show(dtype)}`);
  return ELEMENT_SIZE[dtype];
}

/**
 * The `Tensor` dtype that holds a safetensors dtype without conversion (`BOOL` -> `'u8'`), or
 * `undefined` for F64, I16, U16, U32, U64, F8_E4M3 and F8_E5M2 (read those with `{ as: 'f32' }`).
 */
export function tensorDTypeOf(dtype: SafetensorsDType): DType | undefined {
  return TO_TENSOR[dtype];
}

/** The safetensors dtype that the writer uses for a `Tensor` dtype (`'u8'` -> `U8`). */
export function safetensorsDTypeOf(dtype: DType): SafetensorsDType {
  if (!isDType(dtype)) throw new TypeError(`dtype must be a Tensor dtype, got ${show(dtype)}`);
  return FROM_TENSOR[dtype];
}

/** The largest header the reader accepts, in bytes (the reference implementation's limit). */
export const MAX_HEADER_SIZE = 100_000_000;

// ---------------------------------------------------------------------------------------------------
// errors

/** What went wrong, one code per kind of problem (tests and callers can switch on it). */
export type SafetensorsErrorCode =
  /** The file is shorter than the 8-byte header length. */
  | 'FileTooSmall'
  /** The header length is above {@link MAX_HEADER_SIZE}. */
  | 'HeaderTooLarge'
  /** The header length runs past the end of the file. */
  | 'HeaderPastEnd'
  /** The header bytes are not valid UTF-8. */
  | 'InvalidUtf8'
  /** The header is not a JSON object. */
  | 'InvalidJson'
  /** `__metadata__` is not an object of string values. */
  | 'InvalidMetadata'
  /** A tensor entry is not an object. */
  | 'InvalidEntry'
  | 'InvalidDtype'
  | 'InvalidShape'
  | 'InvalidOffsets'
  /** The element count or byte size of a shape does not fit in a safe integer. */
  | 'Overflow'
  /** `end - begin` differs from `product(shape) * dtype size`. */
  | 'SizeMismatch'
  /** A tensor ends past the end of the data section. */
  | 'OutOfBounds'
  /** Two tensors share bytes. */
  | 'Overlap'
  /** Bytes of the data section between tensors (or before the first) belong to no tensor. */
  | 'Gap'
  /** Bytes after the last tensor belong to no tensor. */
  | 'TrailingBytes'
  | 'TensorNotFound'
  /** The dtype has no `Tensor` counterpart and no conversion was asked for. */
  | 'UnsupportedDtype'
  /** More dimensions than a `Tensor` supports. */
  | 'UnsupportedShape'
  /** The file was disposed. */
  | 'Disposed'
  /** The file cannot be opened or read (missing, a directory, no permission...). */
  | 'Io';

/**
 * A problem with a safetensors file or buffer. The message names the file (or `<memory>`), the tensor
 * and the field at fault; `code` says which kind of problem it is.
 */
export class SafetensorsError extends Error {
  override readonly name = 'SafetensorsError';
  readonly code: SafetensorsErrorCode;
  /** The file path, or the name given to an in-memory buffer. */
  readonly source: string;
  /** The tensor at fault, when there is one. */
  readonly tensor: string | undefined;

  constructor(code: SafetensorsErrorCode, source: string, detail: string, tensor?: string, options?: { cause?: unknown }) {
    super(`safetensors '${source}': ${detail}`, options);
    this.code = code;
    this.source = source;
    this.tensor = tensor;
  }
}

function fail(code: SafetensorsErrorCode, source: string, detail: string, tensor?: string, cause?: unknown): never {
  throw new SafetensorsError(code, source, detail, tensor, cause === undefined ? undefined : { cause });
}

/** A short, printable form of any JSON value or argument (messages stay short even for hostile input). */
function show(x: unknown): string {
  if (typeof x === 'string') return JSON.stringify(x.length > 48 ? `${x.slice(0, 48)}...` : x);
  if (typeof x === 'bigint') return `${x}n`;
  if (x === null || typeof x !== 'object') return String(x);
  if (ArrayBuffer.isView(x)) return x.constructor.name;
  let s: string | undefined;
  try {
    s = JSON.stringify(x);
  } catch {
    s = undefined;
  }
  if (s === undefined) return Array.isArray(x) ? 'an array' : 'an object';
  return s.length > 64 ? `${s.slice(0, 64)}...` : s;
}

/** A shape for a message (very long shapes are cut). */
function fmt(shape: readonly number[]): string {
  return `[${shape.length > 12 ? `${shape.slice(0, 12).join(', ')}, ... (${shape.length} dims)` : shape.join(', ')}]`;
}

/** A tensor name quoted for a message (very long names are cut). */
function q(name: string): string {
  return `'${name.length > 120 ? `${name.slice(0, 120)}...` : name}'`;
}

// ---------------------------------------------------------------------------------------------------
// header parsing and validation

interface Entry {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  /** Elements. */
  readonly count: number;
  /** Offsets in the data section. */
  readonly begin: number;
  readonly end: number;
}

interface Header {
  readonly headerLength: number;
  readonly metadata: Readonly<Record<string, string>>;
  readonly hasMetadata: boolean;
  /** Sorted by offset (then end, then name). */
  readonly entries: readonly Entry[];
}

/** Reads and checks the 8-byte header length. `fileLength` is undefined when reading a stream. */
function readHeaderLength(head: Uint8Array, fileLength: number | undefined, src: string): number {
  const have = fileLength ?? head.length;
  if (head.length < 8 || have < 8) {
    fail('FileTooSmall', src, have === 0
      ? 'the file is empty; a safetensors file starts with an 8-byte little-endian header length'
      : `the file is only ${have} bytes; a safetensors file starts with an 8-byte little-endian header length`);
  }
  const n = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_SIZE)) {
    fail('HeaderTooLarge', src, `the header length ${n} is above the limit of ${MAX_HEADER_SIZE} bytes (corrupt, or not a safetensors file)`);
  }
  const len = Number(n);
  if (fileLength !== undefined && 8 + len > fileLength) {
    fail('HeaderPastEnd', src, `the header length ${len} runs past the end of the file (${fileLength} bytes, so at most ${fileLength - 8} bytes of header)`);
  }
  return len;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Defines `key` as an own enumerable property (safe for keys such as `__proto__`). */
function put<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Parses the JSON header and checks every entry on its own (dtype, shape, offsets, byte size). */
function parseHeaderJson(bytes: Uint8Array, src: string): { metadata: Record<string, string>; hasMetadata: boolean; entries: Entry[] } {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch (cause) {
    fail('InvalidUtf8', src, `the ${bytes.length}-byte header is not valid UTF-8`, undefined, cause);
  }
  if (text.length === 0) fail('InvalidJson', src, 'the header is empty (header length 0); it must be a JSON object');
  if (text[0] !== '{') {
    fail('InvalidJson', src, `the header must be a JSON object starting with '{', but it starts with ${show(text.slice(0, 24))}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    fail('InvalidJson', src, `the header is not valid JSON: ${(cause as Error).message}`, undefined, cause);
  }
  if (!isRecord(json)) fail('InvalidJson', src, `the header must be a JSON object, got ${show(json)}`);

  const metadata: Record<string, string> = {};
  let hasMetadata = false;
  const entries: Entry[] = [];
  for (const [name, value] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (!isRecord(value)) fail('InvalidMetadata', src, `__metadata__ must be an object of strings, got ${show(value)}`);
      for (const [k, v] of Object.entries(value)) {
        if (typeof v !== 'string') fail('InvalidMetadata', src, `__metadata__[${show(k)}] must be a string, got ${typeof v} ${show(v)}`);
        put(metadata, k, v);
      }
      hasMetadata = true;
      continue;
    }
    entries.push(checkEntry(name, value, src));
  }
  return { metadata: Object.freeze(metadata), hasMetadata, entries };
}

function checkEntry(name: string, value: unknown, src: string): Entry {
  const at = `tensor ${q(name)}`;
  if (!isRecord(value)) {
    fail('InvalidEntry', src, `${at}: the entry must be an object {"dtype", "shape", "data_offsets"}, got ${show(value)}`, name);
  }
  const { dtype, shape, data_offsets: offsets } = value;
  if (!isSafetensorsDType(dtype)) {
    fail('InvalidDtype', src, `${at}: unknown dtype ${show(dtype)}; expected one of ${SAFETENSORS_DTYPES.join(', ')}`, name);
  }
  if (!Array.isArray(shape)) {
    fail('InvalidShape', src, `${at}: shape must be an array of non-negative integers, got ${show(shape)}`, name);
  }
  let zero = false;
  for (let i = 0; i < shape.length; i++) {
    const d: unknown = shape[i];
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) {
      fail('InvalidShape', src, `${at}: shape[${i}] is ${show(d)}; dimensions must be non-negative integers`, name);
    }
    if (!Number.isSafeInteger(d)) fail('InvalidShape', src, `${at}: shape[${i}] = ${d} is too large`, name);
    if (d === 0) zero = true;
  }
  const dims = shape as number[];
  let count = 1;
  if (zero) count = 0;
  else {
    for (const d of dims) {
      count *= d;
      if (!Number.isSafeInteger(count)) fail('Overflow', src, `${at}: the element count of shape ${fmt(dims)} overflows`, name);
    }
  }
  const nbytes = count * ELEMENT_SIZE[dtype];
  if (!Number.isSafeInteger(nbytes)) fail('Overflow', src, `${at}: the byte size of shape ${fmt(dims)} of ${dtype} overflows`, name);

  if (!Array.isArray(offsets) || offsets.length !== 2
    || !offsets.every((o: unknown) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0)) {
    fail('InvalidOffsets', src, `${at}: data_offsets must be [begin, end], two non-negative integers, got ${show(offsets)}`, name);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) fail('InvalidOffsets', src, `${at}: data_offsets [${begin}, ${end}] end before they begin`, name);
  if (end - begin !== nbytes) {
    fail('SizeMismatch', src, `${at}: shape ${fmt(dims)} of ${dtype} needs ${nbytes} bytes, but data_offsets [${begin}, ${end}] span ${end - begin}`, name);
  }
  return { name, dtype, shape: Object.freeze([...dims]), count, begin, end };
}

/**
 * Checks that the tensors tile the data section as the reference implementation requires: sorted by
 * offset, each begins where the previous one ended, the first at 0, the last at the end of the data
 * section. Sorts `entries` in place and returns the end of the last tensor.
 */
function checkLayout(entries: Entry[], dataLength: number | undefined, src: string): number {
  if (dataLength !== undefined) {
    for (const e of entries) {
      if (e.end > dataLength) {
        fail('OutOfBounds', src, `tensor ${q(e.name)}: data_offsets [${e.begin}, ${e.end}] run past the end of the data section (${dataLength} bytes)`, e.name);
      }
    }
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let pos = 0;
  let prev: Entry | undefined;
  for (const e of entries) {
    if (e.begin < pos) {
      const p = prev as Entry;
      fail('Overlap', src, `tensor ${q(e.name)}: data_offsets [${e.begin}, ${e.end}] overlap tensor ${q(p.name)} at [${p.begin}, ${p.end}]`, e.name);
    }
    if (e.begin > pos) {
      fail('Gap', src, prev
        ? `tensor ${q(e.name)}: ${e.begin - pos} bytes between the end of tensor ${q(prev.name)} (${pos}) and the start of ${q(e.name)} (${e.begin}) belong to no tensor`
        : `tensor ${q(e.name)}: the first ${e.begin} bytes of the data section belong to no tensor (the first tensor begins at ${e.begin}, not 0)`, e.name);
    }
    pos = e.end;
    prev = e;
  }
  if (dataLength !== undefined && pos !== dataLength) {
    fail('TrailingBytes', src, `the data section is ${dataLength} bytes but the tensors end at ${pos}: ${dataLength - pos} trailing bytes belong to no tensor`);
  }
  return pos;
}

/** Validates a whole file held in `bytes` (header length, JSON, every entry, the layout). */
function parseWhole(bytes: Uint8Array, src: string): Header {
  const headerLength = readHeaderLength(bytes, bytes.length, src);
  const h = parseHeaderJson(bytes.subarray(8, 8 + headerLength), src);
  checkLayout(h.entries, bytes.length - 8 - headerLength, src);
  return { headerLength, metadata: h.metadata, hasMetadata: h.hasMetadata, entries: h.entries };
}

// ---------------------------------------------------------------------------------------------------
// bytes, endianness, conversions

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function swapInPlace(b: Uint8Array, size: number): void {
  for (let i = 0; i + size <= b.length; i += size) {
    for (let lo = i, hi = i + size - 1; lo < hi; lo++, hi--) {
      const t = b[lo];
      b[lo] = b[hi];
      b[hi] = t;
    }
  }
}

/**
 * Little-endian element bytes at an offset aligned to `size`, in native order: `src` itself when it
 * can be viewed as is (and no copy is forced), else a fresh copy (byte-swapped on big-endian hosts).
 */
function nativeBytes(src: Uint8Array, size: number, forceCopy: boolean): Uint8Array {
  if (!forceCopy && (LITTLE_ENDIAN || size === 1) && src.byteOffset % size === 0) return src;
  const out = new Uint8Array(src.length);
  out.set(src);
  if (!LITTLE_ENDIAN && size > 1) swapInPlace(out, size);
  return out;
}

/** The bytes of a TypedArray in little-endian order (a view on little-endian hosts). */
function littleEndianBytes(view: ArrayBufferView, size: number): Uint8Array {
  const u8 = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  if (LITTLE_ENDIAN || size === 1) return u8;
  const out = u8.slice();
  swapInPlace(out, size);
  return out;
}

function typedView(dtype: DType, b: Uint8Array, n: number): TypedArray {
  const { buffer, byteOffset } = b;
  switch (dtype) {
    case 'f32': return new Float32Array(buffer, byteOffset, n);
    case 'f16': case 'bf16': return new Uint16Array(buffer, byteOffset, n);
    case 'i8': return new Int8Array(buffer, byteOffset, n);
    case 'u8': return new Uint8Array(buffer, byteOffset, n);
    case 'i32': return new Int32Array(buffer, byteOffset, n);
    case 'i64': return new BigInt64Array(buffer, byteOffset, n);
  }
}

/** Decoding table of an 8-bit float: `ieee` formats (E5M2) have infinities; E4M3 (fn) has NaN only at S.1111.111. */
function fp8Table(expBits: number, manBits: number, bias: number, ieee: boolean): Float32Array {
  const t = new Float32Array(256);
  const expMax = (1 << expBits) - 1;
  const manMax = (1 << manBits) - 1;
  for (let b = 0; b < 256; b++) {
    const sign = b & 0x80 ? -1 : 1;
    const e = (b >> manBits) & expMax;
    const m = b & manMax;
    let v: number;
    if (e === 0) v = m * 2 ** (1 - bias - manBits);
    else if (ieee && e === expMax) v = m === 0 ? Infinity : NaN;
    else if (!ieee && e === expMax && m === manMax) v = NaN;
    else v = (1 + m / (manMax + 1)) * 2 ** (e - bias);
    t[b] = sign * v;
  }
  return t;
}

let e4m3: Float32Array | undefined;
let e5m2: Float32Array | undefined;

/** Values of a dtype that `Tensor` cannot hold, as f32 (`b` is aligned, native byte order). */
function decodeToF32(dtype: SafetensorsDType, b: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  const { buffer, byteOffset } = b;
  switch (dtype) {
    case 'F64': out.set(new Float64Array(buffer, byteOffset, n)); break;
    case 'I16': out.set(new Int16Array(buffer, byteOffset, n)); break;
    case 'U16': out.set(new Uint16Array(buffer, byteOffset, n)); break;
    case 'U32': out.set(new Uint32Array(buffer, byteOffset, n)); break;
    case 'U64': {
      const s = new BigUint64Array(buffer, byteOffset, n);
      for (let i = 0; i < n; i++) out[i] = Number(s[i]);
      break;
    }
    case 'F8_E4M3': case 'F8_E5M2': {
      const t = dtype === 'F8_E4M3' ? (e4m3 ??= fp8Table(4, 3, 7, false)) : (e5m2 ??= fp8Table(5, 2, 15, true));
      for (let i = 0; i < n; i++) out[i] = t[b[i]];
      break;
    }
    default: throw new Error(`internal: no decoder for ${dtype}`);
  }
  return out;
}

/** Releases an ArrayBuffer now: the addon's detach (unmaps a mapping at once), else a transfer. */
function releaseBuffer(ab: ArrayBuffer): void {
  if (ab.byteLength === 0) return;
  if (binding.detach(ab)) return; // throws while a pending async op uses it: the caller keeps the file open
  try {
    structuredClone(ab, { transfer: [ab] });
  } catch {
    // not detachable: the garbage collector frees it
  }
}

// ---------------------------------------------------------------------------------------------------
// reading

/** Where a tensor lives and what it holds, from the header. */
export interface SafetensorsTensorInfo {
  name: string;
  /** The dtype string of the file (`'F32'`, `'BF16'`, `'I64'`...). */
  dtype: SafetensorsDType;
  /** The `Tensor` dtype it loads as without conversion, or undefined (then read it with `{ as: 'f32' }` or `raw()`). */
  tensorDType: DType | undefined;
  shape: readonly number[];
  /** Elements. */
  size: number;
  /** `data_offsets` as written in the header: relative to the start of the data section. */
  dataOffsets: readonly [number, number];
  /** Offset of the first byte in the file (8 + header length + begin). */
  byteOffset: number;
  byteLength: number;
}

/** Options of {@link SafetensorsFile.tensor}. */
export interface TensorReadOptions<D extends DType = DType> {
  /**
   * Always copy into fresh JS memory, even when a zero-copy view of the mapping is possible
   * (default false: a view when the data is aligned to the element size, else a copy).
   */
  copy?: boolean;
  /**
   * Convert to this dtype. Dtypes a `Tensor` holds (F32, F16, BF16, I8, U8, BOOL, I32, I64) load as
   * their own dtype, then go through `Tensor.to()` (f16/bf16 <-> f32 natively, others through numbers).
   * The others are decoded to f32 first: F64 (rounded to f32), I16, U16 (exact), U32, U64 (rounded to
   * the nearest f32), F8_E4M3 (the `float8_e4m3fn` format: no infinities, NaN at 0x7F/0xFF) and F8_E5M2.
   * When the dtype is already `as`, this is the same as no conversion (zero-copy where possible).
   */
  as?: D;
}

function checkReadOptions(opts: unknown): TensorReadOptions {
  if (opts === undefined) return {};
  if (!isRecord(opts)) throw new TypeError(`options must be an object { copy?, as? }, got ${show(opts)}`);
  const { copy, as } = opts;
  if (copy !== undefined && typeof copy !== 'boolean') throw new TypeError(`options.copy must be a boolean, got ${show(copy)}`);
  if (as !== undefined && !isDType(as)) throw new TypeError(`options.as must be a Tensor dtype (f32, f16, bf16, i8, u8, i32, i64), got ${show(as)}`);
  return { copy, as };
}

/** Chunk size of the stream reader: a lying header can make it allocate at most this much beyond the input. */
const STREAM_CHUNK = 16 << 20;

/** Reads a non-regular file (a pipe, a character device) with every length checked before it is read. */
function readStream(path: string): Uint8Array {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (cause) {
    fail('Io', path, `cannot open the file: ${(cause as Error).message}`, undefined, cause);
  }
  try {
    const readUpTo = (n: number): Uint8Array => {
      const chunks: Uint8Array[] = [];
      let got = 0;
      while (got < n) {
        const want = Math.min(STREAM_CHUNK, n - got);
        const buf = new Uint8Array(want);
        let filled = 0;
        while (filled < want) {
          const k = readSync(fd, buf, filled, want - filled, null);
          if (k === 0) break;
          filled += k;
        }
        chunks.push(buf.subarray(0, filled));
        got += filled;
        if (filled < want) break;
      }
      return concat(chunks, got);
    };
    const head = readUpTo(8);
    const headerLength = readHeaderLength(head, undefined, path);
    const header = readUpTo(headerLength);
    if (header.length < headerLength) {
      fail('HeaderPastEnd', path, `the header length ${headerLength} runs past the end of the file (${8 + header.length} bytes)`);
    }
    const h = parseHeaderJson(header, path);
    const dataLength = checkLayout(h.entries, undefined, path);
    const data = readUpTo(dataLength);
    if (data.length < dataLength) {
      const short = h.entries.find((e) => e.end > data.length) as Entry;
      fail('OutOfBounds', path, `tensor ${q(short.name)}: data_offsets [${short.begin}, ${short.end}] run past the end of the data section (${data.length} bytes)`, short.name);
    }
    if (readUpTo(1).length > 0) {
      fail('TrailingBytes', path, `the file continues after the end of the last tensor (${dataLength} bytes into the data section): trailing bytes belong to no tensor`);
    }
    return concat([head, header, data], 8 + headerLength + dataLength);
  } catch (err) {
    if (err instanceof SafetensorsError) throw err;
    fail('Io', path, `cannot read the file: ${(err as Error).message}`, undefined, err);
  } finally {
    closeSync(fd);
  }
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1 && parts[0].length === total) return parts[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * A file path: a string or a `file:` URL object. Spelled structurally so that the type declarations
 * need neither Node's nor the DOM's `URL` type.
 */
export type FilePath = string | { readonly href: string; readonly protocol: string };

function toPath(path: unknown): string {
  if (path instanceof URL) return fileURLToPath(path);
  if (typeof path !== 'string' || path.length === 0) throw new TypeError(`path must be a non-empty string or a file: URL, got ${show(path)}`);
  return path;
}

/**
 * An open safetensors file (or buffer): the validated header plus the bytes, memory-mapped when it
 * comes from a file. Tensors are zero-copy views into the mapping when their data is aligned to the
 * element size (always the case for files written by the reference implementation or by
 * {@link saveSafetensors}), else copies. The mapping is private: writes into a tensor are seen by other
 * tensors of this file object but never reach the file on disk.
 *
 * The mapping lives as long as this object or any tensor viewing it is reachable; `dispose()` (or a
 * `using` declaration) releases it at once, after which this object and every tensor viewing the
 * mapping throw when used.
 *
 * @example
 * ```ts
 * using file = SafetensorsFile.open('model.safetensors');
 * for (const name of file.names()) console.log(name, file.info(name).dtype, file.info(name).shape);
 * const ids = file.tensor('input.input_ids');            // Tensor<'i64'>
 * const x = file.tensor('weights.f64', { as: 'f32' });   // F64 decoded to f32
 * ```
 */
export class SafetensorsFile implements Iterable<[string, Tensor]> {
  /** The file path (or the name given to an in-memory buffer). */
  readonly path: string;
  /** True when the bytes are a memory mapping of the file (false: read into memory, or an in-memory buffer). */
  readonly mapped: boolean;
  /** Size of the whole file, in bytes. */
  readonly byteLength: number;
  /** The header length N (JSON bytes, padding included). */
  readonly headerLength: number;
  /** Offset of the data section in the file: 8 + N. */
  readonly dataOffset: number;
  /** The `__metadata__` record (empty when the file has none). */
  readonly metadata: Readonly<Record<string, string>>;
  /** True when the header has a `__metadata__` entry (possibly empty). */
  readonly hasMetadata: boolean;

  #bytes: Uint8Array | null;
  readonly #owned: boolean;
  readonly #order: readonly Entry[];
  readonly #byName: Map<string, Entry>;

  /** Use {@link SafetensorsFile.open} or {@link parseSafetensors}. */
  private constructor(bytes: Uint8Array, source: string, owned: boolean, mapped: boolean) {
    const h = parseWhole(bytes, source);
    this.path = source;
    this.mapped = mapped;
    this.byteLength = bytes.length;
    this.headerLength = h.headerLength;
    this.dataOffset = 8 + h.headerLength;
    this.metadata = h.metadata;
    this.hasMetadata = h.hasMetadata;
    this.#bytes = bytes;
    this.#owned = owned;
    this.#order = Object.freeze(h.entries);
    this.#byName = new Map(h.entries.map((e) => [e.name, e]));
  }

  /**
   * Opens and validates a file, memory-mapping it (copy-on-write) when it is a regular file; pipes and
   * devices are read into memory with every length checked first.
   *
   * @throws SafetensorsError when the file is missing, unreadable, or not a valid safetensors file.
   * @example using file = SafetensorsFile.open('model.safetensors');
   */
  static open(path: FilePath): SafetensorsFile {
    const p = toPath(path);
    let st: Stats;
    try {
      st = statSync(p);
    } catch (cause) {
      fail('Io', p, `cannot open the file: ${(cause as Error).message}`, undefined, cause);
    }
    if (st.isDirectory()) fail('Io', p, 'is a directory, not a safetensors file');
    if (!st.isFile()) return new SafetensorsFile(readStream(p), p, true, false);
    let m: { buffer: ArrayBuffer; mapped: boolean };
    try {
      m = binding.mapFile(p);
    } catch (cause) {
      fail('Io', p, `cannot map the file: ${(cause as Error).message}`, undefined, cause);
    }
    try {
      return new SafetensorsFile(new Uint8Array(m.buffer), p, true, m.mapped);
    } catch (err) {
      releaseBuffer(m.buffer); // an invalid file: unmap it now rather than at the next GC
      throw err;
    }
  }

  /**
   * Validates a safetensors file held in memory. Tensors view `bytes` (no copy when aligned), and
   * `dispose()` leaves `bytes` untouched.
   *
   * @param name names the buffer in error messages (default `<memory>`).
   * @example const file = SafetensorsFile.fromBytes(serializeSafetensors({ w }));
   */
  static fromBytes(bytes: Uint8Array | ArrayBuffer, name = '<memory>'): SafetensorsFile {
    let b: Uint8Array;
    if (bytes instanceof ArrayBuffer) b = new Uint8Array(bytes);
    else if (ArrayBuffer.isView(bytes)) b = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    else throw new TypeError(`bytes must be a Uint8Array or an ArrayBuffer, got ${show(bytes)}`);
    if (typeof name !== 'string') throw new TypeError(`name must be a string, got ${show(name)}`);
    return new SafetensorsFile(b, name, false, false);
  }

  /** True after `dispose()`. */
  get disposed(): boolean {
    return this.#bytes === null;
  }

  /** Number of tensors. */
  get size(): number {
    this.#live();
    return this.#order.length;
  }

  /** The tensor names, in file order (by data offset). */
  names(): string[] {
    this.#live();
    return this.#order.map((e) => e.name);
  }

  /** Alias of {@link names}. */
  keys(): string[] {
    return this.names();
  }

  has(name: string): boolean {
    this.#live();
    return typeof name === 'string' && this.#byName.has(name);
  }

  /** Dtype, shape and location of a tensor, from the header (reads no tensor data). */
  info(name: string): SafetensorsTensorInfo {
    this.#live();
    const e = this.#entry(name);
    return {
      name: e.name,
      dtype: e.dtype,
      tensorDType: TO_TENSOR[e.dtype],
      shape: e.shape,
      size: e.count,
      dataOffsets: Object.freeze([e.begin, e.end] as const),
      byteOffset: this.dataOffset + e.begin,
      byteLength: e.end - e.begin,
    };
  }

  /** The tensor's bytes as stored (little-endian), a view into the mapping (never a copy). */
  raw(name: string): Uint8Array {
    const bytes = this.#live();
    const e = this.#entry(name);
    return bytes.subarray(this.dataOffset + e.begin, this.dataOffset + e.end);
  }

  /**
   * A tensor. F32, F16, BF16, I8, U8, BOOL (as u8), I32 and I64 load as the matching `Tensor` dtype,
   * zero-copy when the data is aligned to the element size; other dtypes need `{ as }`.
   *
   * @throws SafetensorsError `TensorNotFound`, `UnsupportedDtype` (e.g. F64 without `{ as: 'f32' }`),
   *   `UnsupportedShape` (more than 8 dimensions), `Disposed`.
   * @example file.tensor('pooler.dense.weight')                   // Tensor<'f32'>, a view
   * @example file.tensor('lm_head.weight', { as: 'f32' })          // BF16 checkpoint decoded to f32
   * @example file.tensor('pooler.dense.weight', { copy: true })    // independent of the mapping
   */
  tensor<D extends DType>(name: string, opts: TensorReadOptions<D> & { as: D }): Tensor<D>;
  tensor(name: string, opts?: TensorReadOptions): Tensor;
  tensor(name: string, opts?: TensorReadOptions): Tensor {
    const bytes = this.#live();
    const e = this.#entry(name);
    const { copy = false, as } = checkReadOptions(opts);
    if (e.shape.length > MAX_DIMS) {
      fail('UnsupportedShape', this.path, `tensor ${q(e.name)} has ${e.shape.length} dimensions; a Tensor holds at most ${MAX_DIMS} (its bytes are available through raw())`, e.name);
    }
    const src = bytes.subarray(this.dataOffset + e.begin, this.dataOffset + e.end);
    const size = ELEMENT_SIZE[e.dtype];
    const native = TO_TENSOR[e.dtype];
    if (native !== undefined) {
      const t = new Tensor(typedView(native, nativeBytes(src, size, copy), e.count), e.shape, native);
      return as === undefined || as === native ? t : t.to(as);
    }
    if (as === undefined) {
      fail('UnsupportedDtype', this.path, `tensor ${q(e.name)} has dtype ${e.dtype}, which a Tensor cannot hold; read it with tensor(name, { as: 'f32' }) or its bytes with raw(name)`, e.name);
    }
    const t = new Tensor(decodeToF32(e.dtype, nativeBytes(src, size, false), e.count), e.shape, 'f32');
    return as === 'f32' ? t : t.to(as);
  }

  /** Every tensor, in file order, as `[name, tensor]` pairs (same options as {@link tensor}). */
  *tensors(opts?: TensorReadOptions): Generator<[string, Tensor], void, undefined> {
    this.#live();
    for (const e of this.#order) yield [e.name, this.tensor(e.name, opts)];
  }

  [Symbol.iterator](): Iterator<[string, Tensor]> {
    return this.tensors();
  }

  /**
   * Every tensor by name (same options as {@link tensor}).
   * @example const weights = openSafetensors('model.safetensors').loadAll();
   */
  loadAll<D extends DType>(opts: TensorReadOptions<D> & { as: D }): Record<string, Tensor<D>>;
  loadAll(opts?: TensorReadOptions): Record<string, Tensor>;
  loadAll(opts?: TensorReadOptions): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const [name, t] of this.tensors(opts)) put(out, name, t);
    return out;
  }

  /**
   * Releases the mapping now (an in-memory buffer given to {@link parseSafetensors} is left alone).
   * Afterwards this object throws when used, and so does every tensor that views the mapping; copies
   * and converted tensors stay valid. Throws while a pending async operation still uses one of the
   * tensors (await it, then dispose). Calling it twice is harmless.
   */
  dispose(): void {
    const b = this.#bytes;
    if (b === null) return;
    if (this.#owned) releaseBuffer(b.buffer as ArrayBuffer);
    this.#bytes = null;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  toString(): string {
    return `SafetensorsFile('${this.path}', ${this.#order.length} tensors${this.mapped ? ', mapped' : ''}${this.disposed ? ', disposed' : ''})`;
  }

  [inspectCustom](): string {
    return this.toString();
  }

  #live(): Uint8Array {
    const b = this.#bytes;
    if (b === null) fail('Disposed', this.path, 'this file was disposed; open it again to read it');
    return b;
  }

  #entry(name: string): Entry {
    if (typeof name !== 'string') throw new TypeError(`name must be a string, got ${show(name)}`);
    const e = this.#byName.get(name);
    if (e === undefined) {
      const some = this.#order.slice(0, 5).map((x) => q(x.name)).join(', ');
      fail('TensorNotFound', this.path, `no tensor named ${q(name)} (the file has ${this.#order.length} tensor${this.#order.length === 1 ? '' : 's'}${some ? `: ${some}${this.#order.length > 5 ? ', ...' : ''}` : ''})`, name);
    }
    return e;
  }
}

/**
 * Opens a safetensors file, memory-mapped. See {@link SafetensorsFile}.
 * @example
 * ```ts
 * using file = openSafetensors('model.safetensors');
 * const w = file.tensor('encoder.layer.0.attention.self.query.weight');
 * ```
 */
export function openSafetensors(path: FilePath): SafetensorsFile {
  return SafetensorsFile.open(path);
}

/** {@link openSafetensors} as a promise (mapping is quick; the header is validated synchronously). */
export async function openSafetensorsAsync(path: FilePath): Promise<SafetensorsFile> {
  return SafetensorsFile.open(path);
}

/**
 * Validates a safetensors file held in memory (same checks as a file); tensors view `bytes`.
 * @example const file = parseSafetensors(await fetchBytes(url), { name: url });
 */
export function parseSafetensors(bytes: Uint8Array | ArrayBuffer, opts: { name?: string } = {}): SafetensorsFile {
  return SafetensorsFile.fromBytes(bytes, opts.name);
}

/**
 * Every tensor of a file by name. The mapping stays alive while any of the tensors is reachable.
 * @example const { 'pooler.dense.weight': w } = loadSafetensors('model.safetensors');
 */
export function loadSafetensors<D extends DType>(path: FilePath, opts: TensorReadOptions<D> & { as: D }): Record<string, Tensor<D>>;
export function loadSafetensors(path: FilePath, opts?: TensorReadOptions): Record<string, Tensor>;
export function loadSafetensors(path: FilePath, opts?: TensorReadOptions): Record<string, Tensor> {
  const file = SafetensorsFile.open(path);
  try {
    return file.loadAll(opts);
  } catch (err) {
    file.dispose();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------------
// writing

/**
 * A tensor of any safetensors dtype given as raw bytes: `data`'s bytes are written as they are
 * (little-endian element order) and must be exactly `product(shape) * size(dtype)` long. Use it for the
 * dtypes a `Tensor` cannot hold (F64, I16, U16, U32, U64, F8_*) and for BOOL.
 */
export interface SafetensorsEntry {
  dtype: SafetensorsDType;
  shape: readonly number[];
  data: ArrayBufferView;
}

/** What the writer accepts: a record, a Map, or any iterable of `[name, tensor]` pairs. */
export type SafetensorsInput =
  | Readonly<Record<string, RawTensor | SafetensorsEntry>>
  | Iterable<readonly [string, RawTensor | SafetensorsEntry]>;

interface Item {
  name: string;
  nameBytes: Buffer;
  dtype: SafetensorsDType;
  shape: readonly number[];
  bytes: Uint8Array;
}

interface Prepared {
  /** The 8-byte length and the padded JSON header. */
  head: Uint8Array;
  /** Tensor bytes in file order. */
  parts: Uint8Array[];
  total: number;
}

function toItem(name: string, t: unknown): Item {
  const at = `tensor ${q(name)}`;
  if (t === null || typeof t !== 'object') throw new TypeError(`${at} must be a Tensor or { dtype, shape, data }, got ${show(t)}`);
  const dtype = (t as { dtype?: unknown }).dtype;
  const nameBytes = Buffer.from(name, 'utf8');
  if (isDType(dtype)) {
    let tensor: Tensor;
    try {
      const raw = t as RawTensor;
      tensor = raw instanceof Tensor ? raw : new Tensor(raw.data, raw.shape, dtype);
      void tensor.data; // throws when disposed
    } catch (err) {
      const E = err instanceof RangeError ? RangeError : TypeError;
      throw new E(`${at}: ${(err as Error).message}`, { cause: err });
    }
    const st = FROM_TENSOR[dtype];
    return { name, nameBytes, dtype: st, shape: tensor.shape, bytes: littleEndianBytes(tensor.data, ELEMENT_SIZE[st]) };
  }
  if (!isSafetensorsDType(dtype)) {
    throw new TypeError(`${at}: dtype must be a Tensor dtype (${Object.keys(FROM_TENSOR).join(', ')}) or a safetensors dtype (${SAFETENSORS_DTYPES.join(', ')}), got ${show(dtype)}`);
  }
  const { shape, data } = t as SafetensorsEntry;
  if (!Array.isArray(shape)) throw new TypeError(`${at}: shape must be an array of non-negative integers, got ${show(shape)}`);
  let count = 1;
  shape.forEach((d: unknown, i) => {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) throw new RangeError(`${at}: shape[${i}] must be a non-negative integer, got ${show(d)}`);
    count *= d;
  });
  const nbytes = count * ELEMENT_SIZE[dtype];
  if (!Number.isSafeInteger(nbytes)) throw new RangeError(`${at}: the byte size of shape ${fmt(shape)} overflows`);
  if (!ArrayBuffer.isView(data)) throw new TypeError(`${at}: data must be a TypedArray, DataView or Buffer, got ${show(data)}`);
  if (data.byteLength !== nbytes) {
    throw new RangeError(`${at}: shape ${fmt(shape)} of ${dtype} needs ${nbytes} bytes, but data has ${data.byteLength}`);
  }
  return { name, nameBytes, dtype, shape: [...shape], bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

function checkMetadata(metadata: unknown): [string, string][] | undefined {
  if (metadata === undefined) return undefined;
  if (!isRecord(metadata)) throw new TypeError(`metadata must be an object of strings, got ${show(metadata)}`);
  const out = Object.entries(metadata);
  for (const [k, v] of out) {
    if (typeof v !== 'string') throw new TypeError(`metadata[${show(k)}] must be a string, got ${typeof v} ${show(v)}`);
  }
  return out as [string, string][];
}

function prepare(tensors: SafetensorsInput, metadata: unknown): Prepared {
  if (tensors === null || typeof tensors !== 'object') throw new TypeError(`tensors must be a record, a Map or an iterable of [name, tensor] pairs, got ${show(tensors)}`);
  const meta = checkMetadata(metadata);
  const iterable = typeof (tensors as Partial<Iterable<unknown>>)[Symbol.iterator] === 'function';
  const pairs: Iterable<unknown> = iterable ? (tensors as Iterable<unknown>) : Object.entries(tensors);
  const items: Item[] = [];
  const seen = new Set<string>();
  for (const pair of pairs) {
    if (!Array.isArray(pair) || pair.length !== 2) throw new TypeError(`tensors must be given as [name, tensor] pairs, got ${show(pair)}`);
    const name: unknown = pair[0];
    if (typeof name !== 'string') throw new TypeError(`tensor names must be strings, got ${show(name)}`);
    if (name.startsWith('__')) {
      throw new RangeError(`tensor name ${q(name)} is reserved: names starting with '__' are kept for the header's own entries such as __metadata__`);
    }
    if (seen.has(name)) throw new RangeError(`tensor name ${q(name)} appears twice`);
    seen.add(name);
    items.push(toItem(name, pair[1]));
  }
  // The reference layout: dtypes in descending enum order (largest alignment first), then names byte-wise.
  items.sort((a, b) => (RANK.get(b.dtype) as number) - (RANK.get(a.dtype) as number) || Buffer.compare(a.nameBytes, b.nameBytes));

  const fields: string[] = [];
  if (meta) fields.push(`"__metadata__":{${meta.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`);
  let offset = 0;
  for (const it of items) {
    const end = offset + it.bytes.length;
    fields.push(`${JSON.stringify(it.name)}:{"dtype":"${it.dtype}","shape":[${it.shape.join(',')}],"data_offsets":[${offset},${end}]}`);
    offset = end;
  }
  const json = Buffer.from(`{${fields.join(',')}}`, 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded > MAX_HEADER_SIZE) throw new RangeError(`the header would be ${padded} bytes, above the readers' limit of ${MAX_HEADER_SIZE}`);
  const head = new Uint8Array(8 + padded).fill(0x20, 8 + json.length);
  new DataView(head.buffer).setBigUint64(0, BigInt(padded), true);
  head.set(json, 8);
  return { head, parts: items.map((it) => it.bytes), total: head.length + offset };
}

/**
 * The safetensors bytes of `tensors` (and `metadata`, written as `__metadata__` when given), laid out as
 * the reference implementation does: header JSON padded with spaces to a multiple of 8 bytes, tensors
 * sorted by dtype (8-byte dtypes first, as the reference's `Dtype` order, so every tensor is aligned) then
 * by name (byte-wise UTF-8), contiguous. Metadata keys keep their order. The same input gives the same
 * bytes; files from the reference writer re-serialize byte for byte.
 *
 * @throws TypeError/RangeError naming the tensor: an invalid or disposed tensor, a name starting with
 *   `'__'`, a name given twice, a metadata value that is not a string.
 * @example
 * ```ts
 * const bytes = serializeSafetensors({ w: Tensor.from([1, 2, 3, 4], [2, 2]) }, { format: 'pt' });
 * ```
 */
export function serializeSafetensors(tensors: SafetensorsInput, metadata?: Record<string, string>): Uint8Array {
  const p = prepare(tensors, metadata);
  const out = new Uint8Array(p.total);
  out.set(p.head, 0);
  let at = p.head.length;
  for (const part of p.parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

const WRITE_CHUNK = 1 << 30;

function writeAll(fd: number, b: Uint8Array): void {
  let done = 0;
  while (done < b.length) done += writeSync(fd, b, done, Math.min(WRITE_CHUNK, b.length - done));
}

function tempPath(path: string): string {
  return `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
}

/**
 * Writes `tensors` to `path` in the layout of {@link serializeSafetensors}, streaming each tensor's bytes
 * (no whole-file copy in memory). The file is written beside `path` under a temporary name and renamed
 * over it at the end, so a reader never sees a half-written file, and a file that is open (mapped) keeps
 * its old contents instead of changing underneath the mapping.
 *
 * @example saveSafetensors('model.safetensors', file.loadAll(), { format: 'pt' });
 */
export function saveSafetensors(path: FilePath, tensors: SafetensorsInput, metadata?: Record<string, string>): void {
  const p = toPath(path);
  const prepared = prepare(tensors, metadata);
  const tmp = tempPath(p);
  const fd = openSync(tmp, 'wx');
  try {
    writeAll(fd, prepared.head);
    for (const part of prepared.parts) writeAll(fd, part);
    closeSync(fd);
  } catch (err) {
    try { closeSync(fd); } catch { /* already closed */ }
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw err;
  }
  try {
    renameSync(tmp, p);
  } catch (err) {
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw err;
  }
}

/** {@link saveSafetensors} without blocking the event loop. Do not change the tensors until it settles. */
export async function saveSafetensorsAsync(path: FilePath, tensors: SafetensorsInput, metadata?: Record<string, string>): Promise<void> {
  const p = toPath(path);
  const prepared = prepare(tensors, metadata);
  const tmp = tempPath(p);
  const fh = await openAsync(tmp, 'wx');
  try {
    for (const part of [prepared.head, ...prepared.parts]) {
      let done = 0;
      while (done < part.length) {
        const { bytesWritten } = await fh.write(part, done, Math.min(WRITE_CHUNK, part.length - done));
        done += bytesWritten;
      }
    }
    await fh.close();
    await renameAsync(tmp, p);
  } catch (err) {
    await fh.close().catch(() => undefined);
    await unlinkAsync(tmp).catch(() => undefined);
    throw err;
  }
}
