// Encoding of recorded binding arguments as JSON (typed arrays as base64, except large Float32Arrays, kept
// as a length and regenerated; bigints and non-finite numbers tagged), shared by the recorder and the fuzzer.
const TYPED = {
  Float32Array, Float64Array, Int8Array, Uint8Array, Int16Array, Uint16Array, Int32Array, Uint32Array,
  BigInt64Array, BigUint64Array,
};

/** The value as JSON-able data, or undefined when it holds more than `maxBytes` of array data or a function. */
export function encodeValue(v, maxBytes) {
  let budget = maxBytes;
  const enc = (x) => {
    if (x instanceof Float32Array && x.length > 64) {
      // large f32 contents (activations, weights) are stored as their length only and regenerated: their
      // values do not steer validation, and their bytes would make the corpus megabytes
      return { $f32: x.length };
    }
    if (ArrayBuffer.isView(x)) {
      budget -= x.byteLength;
      if (budget < 0) throw new RangeError('too large');
      return { $typed: x.constructor.name, b64: Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('base64') };
    }
    if (typeof x === 'bigint') return { $bigint: String(x) };
    if (typeof x === 'number' && !Number.isFinite(x)) return { $num: String(x) };
    if (typeof x === 'function' || typeof x === 'symbol') throw new TypeError('not recordable');
    if (x === undefined) return { $undef: true };
    if (Array.isArray(x)) return x.map(enc);
    if (x && typeof x === 'object') {
      // a Tensor (its data, shape and dtype may be getters): the three fields the binding reads
      if (ArrayBuffer.isView(x.data) && Array.isArray(x.shape) && typeof x.dtype === 'string') {
        return { data: enc(x.data), shape: enc([...x.shape]), dtype: x.dtype };
      }
      const o = {};
      for (const k of Object.keys(x)) o[k] = enc(x[k]);
      return o;
    }
    return x;
  };
  try {
    return enc(v);
  } catch {
    return undefined;
  }
}

export function decodeValue(x) {
  if (Array.isArray(x)) return x.map(decodeValue);
  if (x && typeof x === 'object') {
    if ('$typed' in x) {
      const buf = Buffer.from(x.b64, 'base64');
      const C = TYPED[x.$typed];
      const ab = new ArrayBuffer(buf.length);
      new Uint8Array(ab).set(buf);
      return new C(ab, 0, buf.length / C.BYTES_PER_ELEMENT);
    }
    if ('$f32' in x) {
      // deterministic values in [-1, 1) (an LCG seeded by the length)
      const a = new Float32Array(x.$f32);
      let st = (x.$f32 * 2654435761) >>> 0;
      for (let i = 0; i < a.length; ++i) {
        st = (Math.imul(st, 1664525) + 1013904223) >>> 0;
        a[i] = st / 2147483648 - 1;
      }
      return a;
    }
    if ('$bigint' in x) return BigInt(x.$bigint);
    if ('$num' in x) return Number(x.$num);
    if ('$undef' in x) return undefined;
    const o = {};
    for (const k of Object.keys(x)) o[k] = decodeValue(x[k]);
    return o;
  }
  return x;
}

/** A short description of the structure of the arguments (shapes, dtypes, option keys), for deduplication. */
export function signature(v) {
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${v.length})`;
  if (Array.isArray(v)) return `[${v.map(signature).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v).map((k) => `${k}:${signature(v[k])}`).join(',')}}`;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') return String(v);
  return typeof v;
}
