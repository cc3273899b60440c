import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import {
  loadSafetensors,
  openSafetensors,
  openSafetensorsAsync,
  parseSafetensors,
  saveSafetensors,
  saveSafetensorsAsync,
  SafetensorsError,
  SafetensorsFile,
  serializeSafetensors,
  type SafetensorsErrorCode,
} from '../lib/io/safetensors';
import { binding } from '../lib/native';
import { Tensor } from '../lib/tensor';

const FIXTURES = join(__dirname, 'fixtures');
const BERT = join(FIXTURES, 'hf', 'bert', 'model.safetensors');
const BERT_IO = join(FIXTURES, 'hf', 'bert', 'io.safetensors');
const BERT_CONFIG = join(FIXTURES, 'hf', 'bert', 'config.json');
const RWKV = join(FIXTURES, 'kernels', 'rwkv4_wkv.safetensors');

const TMP = mkdtempSync(join(tmpdir(), 'turboformer-safetensors-'));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));

let tmpCount = 0;
function tmpFile(bytes: Uint8Array, name = `f${tmpCount++}.safetensors`): string {
  const p = join(TMP, name);
  writeFileSync(p, bytes);
  return p;
}

/** The header of a safetensors file, parsed the plain way (independent of the module under test). */
function plainHeader(bytes: Buffer): { n: number; header: Record<string, any>; dataStart: number } {
  const n = Number(bytes.readBigUInt64LE(0));
  return { n, header: JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')), dataStart: 8 + n };
}

/** Tensor names sorted by begin offset, from a plain header. */
function namesByOffset(header: Record<string, any>): string[] {
  return Object.keys(header)
    .filter((k) => k !== '__metadata__')
    .sort((a, b) => header[a].data_offsets[0] - header[b].data_offsets[0]);
}

/** A file made by hand: u64 length, the header (space-padded to 8 bytes unless pad is false), the data. */
function build(header: string | object, data: Uint8Array | number = 0, pad = true): Buffer {
  let json = typeof header === 'string' ? header : JSON.stringify(header);
  if (pad) while (Buffer.byteLength(json) % 8 !== 0) json += ' ';
  const h = Buffer.from(json, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return Buffer.concat([len, h, typeof data === 'number' ? Buffer.alloc(data) : Buffer.from(data)]);
}

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error, but none was thrown');
}

function expectSafetensorsError(fn: () => unknown, code: SafetensorsErrorCode, ...fragments: string[]): SafetensorsError {
  const err = catchError(fn);
  expect(err).toBeInstanceOf(SafetensorsError);
  const e = err as SafetensorsError;
  expect(e.code, e.message).toBe(code);
  for (const f of fragments) expect(e.message).toContain(f);
  return e;
}

/** Runs the garbage collector and lets Node run finalizers (on the next ticks) until `cond` holds. */
async function settle(cond: () => boolean, ticks = 50): Promise<void> {
  for (let i = 0; i < ticks && !cond(); i++) {
    (globalThis as { gc?: () => void }).gc?.();
    await new Promise((r) => setImmediate(r));
  }
}

/** The values of a tensor as numbers. */
function values(t: Tensor): number[] {
  return Array.from(t.data as ArrayLike<number | bigint>, Number);
}

function bytesOf(v: ArrayBufferView): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

describe('reading the fixtures', () => {
  it('reads the BERT checkpoint: names, dtypes, shapes and bytes agree with a plain parse', () => {
    const bytes = readFileSync(BERT);
    const { header, dataStart } = plainHeader(bytes);
    const file = openSafetensors(BERT);
    try {
      expect(file.mapped).toBe(true);
      expect(file.byteLength).toBe(bytes.length);
      expect(file.dataOffset).toBe(dataStart);
      expect(file.metadata).toEqual({ format: 'pt' });
      expect(file.names()).toEqual(namesByOffset(header));
      expect(file.size).toBe(namesByOffset(header).length);
      expect(file.has('pooler.dense.weight')).toBe(true);
      expect(file.has('lm_head.weight')).toBe(false);
      for (const name of file.names()) {
        const h = header[name];
        const [begin, end] = h.data_offsets as [number, number];
        const info = file.info(name);
        expect(info).toMatchObject({ name, dtype: 'F32', tensorDType: 'f32', shape: h.shape, dataOffsets: [begin, end] });
        expect(info.byteOffset).toBe(dataStart + begin);
        expect(info.byteLength).toBe(end - begin);
        const expected = bytes.subarray(dataStart + begin, dataStart + end);
        expect(Buffer.compare(bytesOf(file.raw(name)), expected)).toBe(0);
        const t = file.tensor(name);
        expect(t.dtype).toBe('f32');
        expect(t.shape).toEqual(h.shape);
        const independent = new Float32Array(new Uint8Array(expected).buffer);
        expect(t.data).toEqual(independent);
      }
      // values read with Python's struct module from the upstream file
      const ln = file.tensor('embeddings.LayerNorm.weight').data;
      [1.020675778388977, 0.9544199109077454, 0.945988655090332, 1.0035185813903809].forEach((v, i) => expect(ln[i]).toBeCloseTo(v, 6));
      const pb = file.tensor('pooler.dense.bias').data;
      [-0.06947796791791916, 0.05834883451461792, -0.0719127282500267, -0.03637770935893059].forEach((v, i) => expect(pb[i]).toBeCloseTo(v, 6));
    } finally {
      file.dispose();
    }
  });

  it('agrees with config.json', () => {
    const cfg = JSON.parse(readFileSync(BERT_CONFIG, 'utf8'));
    const file = openSafetensors(BERT);
    try {
      expect(file.info('embeddings.word_embeddings.weight').shape).toEqual([cfg.vocab_size, cfg.hidden_size]);
      expect(file.info('embeddings.position_embeddings.weight').shape).toEqual([cfg.max_position_embeddings, cfg.hidden_size]);
      expect(file.info('embeddings.token_type_embeddings.weight').shape).toEqual([cfg.type_vocab_size, cfg.hidden_size]);
      expect(file.info('encoder.layer.0.intermediate.dense.weight').shape).toEqual([cfg.intermediate_size, cfg.hidden_size]);
      const layers = new Set(file.names().filter((n) => n.startsWith('encoder.layer.')).map((n) => n.split('.')[2]));
      expect(layers.size).toBe(cfg.num_hidden_layers);
    } finally {
      file.dispose();
    }
  });

  it('reads I64 inputs and the metadata of io.safetensors', () => {
    const file = openSafetensors(BERT_IO);
    try {
      expect(file.metadata).toMatchObject({ class: 'BertModel', seed: '1200', mode: 'eval' });
      const ids = file.tensor('input.input_ids');
      expect(ids.dtype).toBe('i64');
      expect(ids.shape).toEqual([2, 12]);
      expect(ids.data).toBeInstanceOf(BigInt64Array);
      // values read with Python's struct module
      const want = [3, 57, 125, 28, 72, 98, 97, 90, 17, 104, 127, 85, 117, 112, 92, 50, 27, 86, 80, 25, 59, 0, 0, 0];
      expect(Array.from(ids.data as BigInt64Array, Number)).toEqual(want);
      const mask = file.tensor('input.attention_mask', { as: 'f32' });
      expect(mask.dtype).toBe('f32');
      expect(Array.from(mask.data)).toEqual([...Array(21).fill(1), 0, 0, 0]);
      const types = file.tensor('input.token_type_ids', { as: 'i32' });
      expect(Array.from(types.data)).toEqual([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
      expect(file.info('output.last_hidden_state').shape).toEqual([2, 12, 32]);
    } finally {
      file.dispose();
    }
  });

  it('reads the RWKV kernel fixture and iterates every tensor', () => {
    const bytes = readFileSync(RWKV);
    const { header, dataStart } = plainHeader(bytes);
    const file = openSafetensors(RWKV);
    try {
      expect(file.metadata.function).toBe('rwkv_linear_attention_cpu');
      expect(file.info('key').shape).toEqual([2, 16, 8]);
      const seen: string[] = [];
      for (const [name, t] of file) {
        seen.push(name);
        const [b, e] = header[name].data_offsets;
        expect(t.data).toEqual(new Float32Array(new Uint8Array(bytes.subarray(dataStart + b, dataStart + e)).buffer));
      }
      expect(seen).toEqual(namesByOffset(header));
      expect(Object.keys(file.loadAll()).sort()).toEqual([...seen].sort());
    } finally {
      file.dispose();
    }
  });

  it('re-serializes the upstream files byte for byte (same layout, padding and header)', () => {
    for (const path of [BERT, BERT_IO, RWKV]) {
      const file = openSafetensors(path);
      try {
        const out = serializeSafetensors(file.loadAll(), file.hasMetadata ? file.metadata : undefined);
        expect(Buffer.compare(Buffer.from(out), readFileSync(path)), path).toBe(0);
      } finally {
        file.dispose();
      }
    }
  });

  it('opens asynchronously and loads everything at once', async () => {
    const file = await openSafetensorsAsync(RWKV);
    expect(file.size).toBe(13);
    file.dispose();
    const all = loadSafetensors(BERT_IO);
    expect(all['output.pooler_output'].shape).toEqual([2, 32]);
    expect(all['input.input_ids'].dtype).toBe('i64');
    expect(loadSafetensors(BERT_IO, { as: 'f32' })['input.input_ids'].dtype).toBe('f32');
  });
});

describe('writing', () => {
  it('writes a hand-computed file byte for byte', () => {
    // Layout: dtypes in descending reference order (I64, then F16, then U8), header padded to 8 bytes.
    const json = '{"__metadata__":{"k":"v"},'
      + '"y":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},'
      + '"x":{"dtype":"F16","shape":[2],"data_offsets":[8,12]},'
      + '"z":{"dtype":"U8","shape":[3],"data_offsets":[12,15]}}';
    expect(json.length).toBe(187);
    const expected = Buffer.concat([
      Buffer.from([192, 0, 0, 0, 0, 0, 0, 0]), // 187 rounded up to 192
      Buffer.from(json + '     ', 'ascii'),
      Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), // y = -1 (i64)
      Buffer.from([0x00, 0x3c, 0x00, 0xc0]), // x = [1, -2] (f16 0x3C00, 0xC000)
      Buffer.from([1, 2, 3]), // z
    ]);
    expect(expected.length).toBe(8 + 192 + 15);
    const out = serializeSafetensors(
      {
        z: Tensor.from(new Uint8Array([1, 2, 3]), [3]),
        x: Tensor.from([1, -2], [2], 'f16'),
        y: Tensor.from([-1n], [1], 'i64'),
      },
      { k: 'v' },
    );
    expect(Buffer.compare(Buffer.from(out), expected)).toBe(0);
    const p = join(TMP, 'hand.safetensors');
    saveSafetensors(p, { y: Tensor.from([-1n], [1], 'i64'), x: Tensor.from([1, -2], [2], 'f16'), z: Tensor.from(new Uint8Array([1, 2, 3]), [3]) }, { k: 'v' });
    expect(Buffer.compare(readFileSync(p), expected)).toBe(0);
  });

  it('writes an empty file as {} padded with spaces', () => {
    expect(Array.from(serializeSafetensors({}))).toEqual([8, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d, 32, 32, 32, 32, 32, 32]);
    const file = parseSafetensors(serializeSafetensors({}));
    expect(file.names()).toEqual([]);
    expect(file.hasMetadata).toBe(false);
  });

  it('round-trips every Tensor dtype, odd shapes and metadata', async () => {
    const tensors: Record<string, Tensor> = {
      f32: Tensor.from(new Float32Array([1.5, -0, Infinity, NaN, 3.4e38, 1e-45]), [2, 3]),
      f16: Tensor.from([1, -2, 0.5, 65504, 6e-8], [5], 'f16'),
      bf16: Tensor.from([1, -2, 3.140625, 1e30], [2, 2], 'bf16'),
      i8: Tensor.from(new Int8Array([-128, 127, 0]), [3]),
      u8: Tensor.from(new Uint8Array([0, 255, 7]), [3, 1]),
      i32: Tensor.from(new Int32Array([-2147483648, 2147483647, 5]), [1, 3]),
      i64: Tensor.from([-(2n ** 63n), 2n ** 63n - 1n, 42n], [3], 'i64'),
      scalar: Tensor.from([7], []),
      empty: Tensor.zeros([0, 4]),
      'weird "name" ü/\\\n': Tensor.from([1, 2], [2]),
      'deep': Tensor.zeros([1, 1, 1, 1, 1, 1, 1, 2], 'i32'),
    };
    const metadata = { format: 'pt', 'quote"': 'ünïcödé \n "x"', '': '' };
    const check = (file: SafetensorsFile): void => {
      expect(file.metadata).toEqual(metadata);
      expect(file.names().sort()).toEqual(Object.keys(tensors).sort());
      for (const [name, t] of Object.entries(tensors)) {
        const r = file.tensor(name);
        expect(r.dtype, name).toBe(t.dtype);
        expect(r.shape, name).toEqual(t.shape);
        expect(Buffer.compare(bytesOf(r.data), bytesOf(t.data)), name).toBe(0);
        // the writer's layout aligns every tensor to its element size
        expect(file.info(name).byteOffset % t.data.BYTES_PER_ELEMENT, name).toBe(0);
      }
      expect(file.info('bf16').dtype).toBe('BF16');
      expect(file.info('f16').dtype).toBe('F16');
      expect(file.info('i64').dtype).toBe('I64');
    };
    const p = join(TMP, 'roundtrip.safetensors');
    saveSafetensors(p, tensors, metadata);
    const file = openSafetensors(p);
    check(file);
    file.dispose();
    check(parseSafetensors(serializeSafetensors(tensors, metadata)));
    const pa = join(TMP, 'roundtrip-async.safetensors');
    await saveSafetensorsAsync(pa, new Map(Object.entries(tensors)), metadata);
    expect(Buffer.compare(readFileSync(pa), readFileSync(p))).toBe(0);
  });

  it('keeps a file with an empty __metadata__ apart from one without', () => {
    const w = { w: Tensor.from([1], [1]) };
    expect(parseSafetensors(serializeSafetensors(w, {})).hasMetadata).toBe(true);
    expect(parseSafetensors(serializeSafetensors(w)).hasMetadata).toBe(false);
  });

  it('round-trips raw entries of the dtypes a Tensor cannot hold and converts them with { as }', () => {
    const f64 = new Float64Array([1.5, -2.25, 1e300]);
    const bytes = serializeSafetensors({
      f64: { dtype: 'F64', shape: [3], data: f64 },
      i16: { dtype: 'I16', shape: [2], data: new Int16Array([-32768, 32767]) },
      u16: { dtype: 'U16', shape: [1], data: new Uint16Array([65535]) },
      u32: { dtype: 'U32', shape: [1], data: new Uint32Array([4294967295]) },
      u64: { dtype: 'U64', shape: [1], data: new BigUint64Array([2n ** 64n - 1n]) },
      bool: { dtype: 'BOOL', shape: [3], data: new Uint8Array([0, 1, 1]) },
      e4m3: { dtype: 'F8_E4M3', shape: [6], data: new Uint8Array([0x38, 0x7e, 0x01, 0xb8, 0x7f, 0x80]) },
      e5m2: { dtype: 'F8_E5M2', shape: [5], data: new Uint8Array([0x3c, 0x7b, 0x7c, 0xfc, 0x7d]) },
    });
    const file = parseSafetensors(bytes);
    expect(file.info('u64').dtype).toBe('U64');
    expect(file.info('u64').tensorDType).toBeUndefined();
    expect(Buffer.compare(bytesOf(file.raw('f64')), bytesOf(f64))).toBe(0);
    expectSafetensorsError(() => file.tensor('f64'), 'UnsupportedDtype', "'f64'", 'F64', "{ as: 'f32' }");
    expect(Array.from(file.tensor('f64', { as: 'f32' }).data)).toEqual([1.5, -2.25, Infinity]);
    expect(Array.from(file.tensor('i16', { as: 'f32' }).data)).toEqual([-32768, 32767]);
    expect(Array.from(file.tensor('i16', { as: 'i32' }).data)).toEqual([-32768, 32767]);
    expect(Array.from(file.tensor('u16', { as: 'f32' }).data)).toEqual([65535]);
    expect(Array.from(file.tensor('u32', { as: 'f32' }).data)).toEqual([4294967296]);
    expect(file.tensor('u64', { as: 'f32' }).data[0]).toBe(Math.fround(2 ** 64));
    const b = file.tensor('bool');
    expect(b.dtype).toBe('u8');
    expect(values(b)).toEqual([0, 1, 1]);
    // e4m3fn: 1, 448 (max), 2^-9 (smallest subnormal), -1, NaN, -0
    const e4 = Array.from(file.tensor('e4m3', { as: 'f32' }).data);
    expect(e4.slice(0, 4)).toEqual([1, 448, 2 ** -9, -1]);
    expect(e4[4]).toBeNaN();
    expect(Object.is(e4[5], -0)).toBe(true);
    // e5m2: 1, 57344 (max), inf, -inf, NaN
    const e5 = Array.from(file.tensor('e5m2', { as: 'f32' }).data);
    expect(e5.slice(0, 4)).toEqual([1, 57344, Infinity, -Infinity]);
    expect(e5[4]).toBeNaN();
    // re-serializing the raw entries gives the same bytes
    const again = serializeSafetensors(file.names().map((n) => [n, { dtype: file.info(n).dtype, shape: file.info(n).shape, data: file.raw(n) }] as const));
    expect(Buffer.compare(Buffer.from(again), Buffer.from(bytes))).toBe(0);
  });

  it('converts the Tensor dtypes with { as }', () => {
    const file = parseSafetensors(serializeSafetensors({
      h: Tensor.from([1, -2.5], [2], 'f16'),
      b: Tensor.from([3, 0.5], [2], 'bf16'),
      f: Tensor.from([1.25, -7], [2]),
      l: Tensor.from([5n, -6n], [2], 'i64'),
    }));
    expect(Array.from(file.tensor('h', { as: 'f32' }).data)).toEqual([1, -2.5]);
    expect(Array.from(file.tensor('b', { as: 'f32' }).data)).toEqual([3, 0.5]);
    expect(Array.from(file.tensor('l', { as: 'f32' }).data)).toEqual([5, -6]);
    expect(Array.from(file.tensor('f', { as: 'f16' }).toFloat32Array())).toEqual([1.25, -7]);
    expect(Array.from(file.tensor('f', { as: 'i32' }).data)).toEqual([1, -7]);
    const all = file.loadAll({ as: 'f32' });
    expect(Object.values(all).every((t) => t.dtype === 'f32')).toBe(true);
    expect(() => file.tensor('f', { as: 'f64' as never })).toThrow(TypeError);
    expect(() => file.tensor('f', { copy: 'yes' as never })).toThrow(TypeError);
  });

  it('rejects invalid input with TypeError/RangeError naming the tensor', () => {
    const w = Tensor.from([1, 2], [2]);
    expect(() => serializeSafetensors({ __hidden: w })).toThrow(RangeError);
    expect(() => serializeSafetensors({ __metadata__: w })).toThrow(/reserved/);
    expect(() => serializeSafetensors([['a', w], ['a', w]])).toThrow(/'a' appears twice/);
    expect(() => serializeSafetensors({ w }, { seed: 1200 as unknown as string })).toThrow(TypeError);
    expect(() => serializeSafetensors({ w }, { seed: 1200 as unknown as string })).toThrow(/metadata\["seed"\] must be a string/);
    expect(() => serializeSafetensors({ w }, ['x'] as unknown as Record<string, string>)).toThrow(TypeError);
    expect(() => serializeSafetensors({ w: { data: new Float32Array(3), shape: [2], dtype: 'f32' } })).toThrow(/tensor 'w'.*3 elements/);
    expect(() => serializeSafetensors({ w: { data: new Int32Array(2), shape: [2], dtype: 'f32' } })).toThrow(TypeError);
    expect(() => serializeSafetensors({ w: { dtype: 'F33' as never, shape: [1], data: new Uint8Array(4) } })).toThrow(/tensor 'w': dtype/);
    expect(() => serializeSafetensors({ w: { dtype: 'F64', shape: [2], data: new Uint8Array(8) } })).toThrow(/needs 16 bytes/);
    expect(() => serializeSafetensors({ w: { dtype: 'F64', shape: [-1], data: new Uint8Array(8) } })).toThrow(RangeError);
    expect(() => serializeSafetensors({ w: 5 as never })).toThrow(TypeError);
    const gone = Tensor.alloc([2]);
    gone.dispose();
    expect(() => serializeSafetensors({ gone })).toThrow(/tensor 'gone'.*disposed/);
    expect(() => serializeSafetensors(null as never)).toThrow(TypeError);
  });

  it('replaces a file that is open without disturbing its mapping', () => {
    const p = join(TMP, 'replaced.safetensors');
    saveSafetensors(p, { w: Tensor.from([1, 2, 3], [3]) });
    const file = openSafetensors(p);
    const w = file.tensor('w');
    saveSafetensors(p, { v: Tensor.from([9], [1]) });
    expect(values(w)).toEqual([1, 2, 3]);
    const replaced = openSafetensors(p);
    expect(replaced.names()).toEqual(['v']);
    replaced.dispose();
    file.dispose();
    expect(existsSync(p)).toBe(true);
  });
});

describe('memory: zero-copy views, copies, dispose', () => {
  it('views the mapping without a copy when aligned, copies on request', () => {
    const file = openSafetensors(BERT);
    try {
      const name = 'encoder.layer.0.attention.self.query.weight';
      const view = file.tensor(name);
      expect(view.data.buffer).toBe(file.raw(name).buffer);
      expect(view.data.byteOffset).toBe(file.info(name).byteOffset);
      const copy = file.tensor(name, { copy: true });
      expect(copy.data.buffer).not.toBe(file.raw(name).buffer);
      expect(copy.data).toEqual(view.data);
    } finally {
      file.dispose();
    }
  });

  it('copies a tensor whose data is not aligned to its element size', () => {
    // header of 54 bytes, no padding: the data section begins at byte 62, which is not a multiple of 4
    const json = '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
    const bytes = build(json, new Uint8Array(new Float32Array([1.5, -3]).buffer), false);
    expect(8 + json.length).toBe(62);
    const p = tmpFile(bytes);
    const file = openSafetensors(p);
    const w = file.tensor('w');
    expect(values(w)).toEqual([1.5, -3]);
    expect(w.data.buffer).not.toBe(file.raw('w').buffer);
    file.dispose();
    expect(values(w)).toEqual([1.5, -3]); // a copy outlives the mapping
    // in memory at an odd offset: still right
    const big = new Uint8Array(bytes.length + 3);
    big.set(bytes, 3);
    expect(values(parseSafetensors(big.subarray(3)).tensor('w'))).toEqual([1.5, -3]);
  });

  it('never writes a change to a tensor back to the file', () => {
    const p = join(TMP, 'cow.safetensors');
    copyFileSync(BERT, p);
    const before = readFileSync(p);
    const name = 'pooler.dense.bias';
    const file = openSafetensors(p);
    const t = file.tensor(name);
    const original = t.data[0];
    t.data[0] = 12345;
    (t.data as Float32Array).fill(-1, 1);
    expect(file.tensor(name).data[0]).toBe(12345); // same mapping, same memory
    expect(Buffer.compare(readFileSync(p), before)).toBe(0);
    const fresh = openSafetensors(p);
    expect(fresh.tensor(name).data[0]).toBe(original);
    fresh.dispose();
    file.dispose();
    expect(Buffer.compare(readFileSync(p), before)).toBe(0);
  });

  it('dispose releases the mapping, and the file and its views then throw', async () => {
    await settle(() => false, 5); // finalizers of earlier tests' garbage run first
    const base = binding.memoryStats().mappedFiles;
    const file = openSafetensors(BERT);
    expect(binding.memoryStats().mappedFiles).toBe(base + 1);
    const view = file.tensor('pooler.dense.weight');
    const copy = file.tensor('pooler.dense.weight', { copy: true });
    const converted = file.tensor('pooler.dense.weight', { as: 'f16' });
    file[Symbol.dispose]();
    expect(file.disposed).toBe(true);
    expect(() => view.data).toThrow(/disposed/);
    expect(copy.data.length).toBe(32 * 32);
    expect(converted.data.length).toBe(32 * 32);
    expectSafetensorsError(() => file.tensor('pooler.dense.weight'), 'Disposed', BERT);
    expectSafetensorsError(() => file.raw('pooler.dense.weight'), 'Disposed');
    expectSafetensorsError(() => file.names(), 'Disposed');
    expect(() => file.dispose()).not.toThrow();
    await settle(() => binding.memoryStats().mappedFiles === base);
    expect(binding.memoryStats().mappedFiles).toBe(base);
  });

  it('dispose of a parsed buffer leaves the caller\'s bytes alone', () => {
    const bytes = serializeSafetensors({ w: Tensor.from([4, 5], [2]) });
    const file = parseSafetensors(bytes, { name: 'weights.bin' });
    expect(file.path).toBe('weights.bin');
    file.dispose();
    expect(bytes.length).toBeGreaterThan(0);
    expect(parseSafetensors(bytes).tensor('w').data[1]).toBe(5);
  });
});

describe('untrusted files', () => {
  const f32 = (shape: number[], begin: number, end: number) => ({ dtype: 'F32', shape, data_offsets: [begin, end] });
  const openBytes = (bytes: Uint8Array) => {
    const p = tmpFile(bytes);
    return { p, open: () => openSafetensors(p) };
  };
  /** Writes `bytes`, expects openSafetensors to fail with `code`, the path and `fragments` in the message. */
  const rejects = (bytes: Uint8Array, code: SafetensorsErrorCode, ...fragments: string[]) => {
    const { p, open } = openBytes(bytes);
    const e = expectSafetensorsError(open, code, p, ...fragments);
    expect(e.source).toBe(p);
    // the in-memory parser applies the same checks
    expectSafetensorsError(() => parseSafetensors(bytes), code, '<memory>', ...fragments);
    return e;
  };
  const lengthOnly = (n: bigint, extra = 0) => {
    const b = Buffer.alloc(8 + extra, 0x20);
    b.writeBigUInt64LE(n);
    return b;
  };

  it('rejects files too short for the header length', () => {
    rejects(new Uint8Array(0), 'FileTooSmall', 'empty');
    rejects(new Uint8Array([1, 0, 0, 0, 0]), 'FileTooSmall', 'only 5 bytes');
  });

  it('rejects header lengths past the end of the file or above the cap', () => {
    rejects(lengthOnly(100n, 10), 'HeaderPastEnd', 'header length 100', '18 bytes');
    rejects(lengthOnly(2n ** 63n, 16), 'HeaderTooLarge', '9223372036854775808');
    rejects(lengthOnly(2n ** 64n - 1n, 16), 'HeaderTooLarge', '18446744073709551615');
    rejects(lengthOnly(100_000_001n, 16), 'HeaderTooLarge', '100000000');
  });

  it('rejects headers that are not a UTF-8 JSON object', () => {
    const badUtf8 = Buffer.concat([lengthOnly(8n), Buffer.from([0x7b, 0xff, 0xfe, 0x7d, 32, 32, 32, 32])]);
    rejects(badUtf8, 'InvalidUtf8', 'UTF-8');
    rejects(build('{"w": {"dtype": "F32", '), 'InvalidJson', 'not valid JSON');
    rejects(build('[1, 2, 3]'), 'InvalidJson', "starting with '{'");
    rejects(build('"text"'), 'InvalidJson', "starting with '{'");
    rejects(build(' {}'), 'InvalidJson', "starting with '{'");
    rejects(build('\ufeff{}'), 'InvalidJson', "starting with '{'");
    rejects(build('{} trailing'), 'InvalidJson', 'not valid JSON');
    rejects(lengthOnly(0n), 'InvalidJson', 'empty');
  });

  it('rejects bad metadata', () => {
    rejects(build({ __metadata__: { seed: 1200 } }), 'InvalidMetadata', '__metadata__["seed"] must be a string', 'number');
    rejects(build({ __metadata__: { a: null } }), 'InvalidMetadata', '"a"');
    rejects(build({ __metadata__: ['x'] }), 'InvalidMetadata', 'object of strings');
    rejects(build({ __metadata__: 'x' }), 'InvalidMetadata');
  });

  it('rejects bad entries, dtypes and shapes, naming the tensor and field', () => {
    rejects(build({ w: 5 }), 'InvalidEntry', "tensor 'w'", 'object');
    rejects(build({ w: { dtype: 'F33', shape: [1], data_offsets: [0, 4] } }, 4), 'InvalidDtype', "tensor 'w'", 'F33');
    rejects(build({ w: { dtype: 'f32', shape: [1], data_offsets: [0, 4] } }, 4), 'InvalidDtype', "'w'", '"f32"');
    rejects(build({ w: { shape: [1], data_offsets: [0, 4] } }, 4), 'InvalidDtype', "'w'", 'undefined');
    rejects(build({ w: f32([-1], 0, 4) }, 4), 'InvalidShape', "tensor 'w'", 'shape[0] is -1');
    rejects(build({ w: f32([2, 1.5], 0, 12) }, 12), 'InvalidShape', 'shape[1] is 1.5');
    rejects(build({ w: f32(['2'] as never, 0, 8) }, 8), 'InvalidShape', 'shape[0] is "2"');
    rejects(build({ w: { dtype: 'F32', shape: 'abc', data_offsets: [0, 4] } }, 4), 'InvalidShape', 'shape must be an array');
    rejects(build({ w: f32([2 ** 53], 0, 4) }, 4), 'InvalidShape', 'shape[0] = 9007199254740992 is too large');
    rejects(build({ w: f32([1e300], 0, 4) }, 4), 'InvalidShape', 'too large');
    rejects(build({ w: f32([2 ** 26, 2 ** 26, 2 ** 26], 0, 4) }, 4), 'Overflow', "tensor 'w'", 'element count');
    rejects(build({ w: f32([2 ** 26, 2 ** 26], 0, 4) }, 4), 'Overflow', 'byte size');
  });

  it('rejects offsets that do not match the shape or leave the data section', () => {
    rejects(build({ w: f32([2, 3], 0, 20) }, 20), 'SizeMismatch', "tensor 'w'", 'needs 24 bytes', 'span 20');
    rejects(build({ w: f32([1], 0, -4) }, 4), 'InvalidOffsets', "tensor 'w'", 'data_offsets');
    rejects(build({ w: f32([1], 0.5, 4.5) }, 4), 'InvalidOffsets', "'w'");
    rejects(build({ w: { dtype: 'F32', shape: [1], data_offsets: [0, 4, 8] } }, 8), 'InvalidOffsets', "'w'");
    rejects(build({ w: { dtype: 'F32', shape: [1], data_offsets: { begin: 0 } } }, 4), 'InvalidOffsets', "'w'");
    rejects(build({ w: f32([0], 8, 4) }, 8), 'InvalidOffsets', 'end before they begin');
    rejects(build({ w: f32([4], 0, 16) }, 8), 'OutOfBounds', "tensor 'w'", 'past the end of the data section (8 bytes)');
    // a huge tensor claimed by a tiny file: rejected from the header, nothing is allocated
    rejects(build({ w: f32([1e12], 0, 4e12) }, 8), 'OutOfBounds', "'w'");
  });

  it('requires the tensors to tile the data section', () => {
    rejects(build({ a: f32([2], 0, 8), b: f32([2], 4, 12) }, 12), 'Overlap', "tensor 'b'", "tensor 'a'");
    rejects(build({ a: f32([2], 0, 8), b: f32([2], 0, 8) }, 8), 'Overlap', "tensor 'b'", "'a'");
    rejects(build({ a: f32([2], 0, 8), b: f32([2], 12, 20) }, 20), 'Gap', "tensor 'b'", '4 bytes', "'a'");
    rejects(build({ a: f32([2], 4, 12) }, 12), 'Gap', "tensor 'a'", 'first 4 bytes');
    rejects(build({ a: f32([2], 0, 8) }, 12), 'TrailingBytes', '4 trailing bytes');
    rejects(build({}, 1), 'TrailingBytes', '1 trailing bytes');
    // the header order does not matter, only the offsets do
    const ok = build({ b: f32([1], 4, 8), a: f32([1], 0, 4), z: f32([0], 8, 8) }, 8);
    const file = parseSafetensors(ok);
    expect(file.names()).toEqual(['a', 'b', 'z']);
  });

  it('rejects a directory, a missing file and a device', () => {
    expectSafetensorsError(() => openSafetensors(TMP), 'Io', TMP, 'directory');
    const missing = join(TMP, 'nope', 'missing.safetensors');
    expectSafetensorsError(() => openSafetensors(missing), 'Io', missing, 'ENOENT');
    expect(() => openSafetensors('')).toThrow(TypeError);
    expect(() => openSafetensors(42 as never)).toThrow(TypeError);
    if (process.platform === 'linux') {
      // character devices go through the checked stream reader: /dev/zero gives header length 0
      expectSafetensorsError(() => openSafetensors('/dev/zero'), 'InvalidJson', '/dev/zero', 'empty');
      expectSafetensorsError(() => openSafetensors('/dev/null'), 'FileTooSmall', '/dev/null', 'empty');
      const urandom = catchError(() => openSafetensors('/dev/urandom'));
      expect(urandom).toBeInstanceOf(SafetensorsError);
    }
  });

  it.skipIf(process.platform === 'win32')('reads a valid file through the stream reader (a FIFO)', async () => {
    const { spawnSync, spawn } = await import('node:child_process');
    const fifo = join(TMP, 'pipe.safetensors');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const src = tmpFile(serializeSafetensors({ w: Tensor.from([1, 2, 3], [3]) }, { via: 'fifo' }));
    // a child process writes the file into the pipe while we read it synchronously
    const copy = "const fs = require('fs'); fs.writeFileSync(process.argv[2], fs.readFileSync(process.argv[1]))";
    const writer = spawn(process.execPath, ['-e', copy, src, fifo], { stdio: 'ignore' });
    const file = openSafetensors(fifo);
    expect(file.mapped).toBe(false);
    expect(file.metadata.via).toBe('fifo');
    expect(values(file.tensor('w'))).toEqual([1, 2, 3]);
    file.dispose();
    await new Promise((r) => writer.on('exit', r));
  });

  it('handles hostile names without touching prototypes', () => {
    const json = '{"__proto__":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"constructor":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}';
    const bytes = build(json, new Uint8Array([7, 8]));
    const file = parseSafetensors(bytes);
    expect(file.names()).toEqual(['__proto__', 'constructor']);
    const all = file.loadAll();
    expect(Object.keys(all)).toEqual(['__proto__', 'constructor']);
    expect(all['__proto__']).toBeInstanceOf(Tensor);
    expect(Object.getPrototypeOf(all)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).dtype).toBeUndefined();
  });

  it('reports a missing tensor, an unsupported dtype and too many dimensions by name', () => {
    const bytes = serializeSafetensors({
      w: Tensor.from([1], [1]),
      d: { dtype: 'F64', shape: [1], data: new Float64Array([1]) },
      nine: { dtype: 'U8', shape: [1, 1, 1, 1, 1, 1, 1, 1, 1], data: new Uint8Array([3]) },
    });
    const file = parseSafetensors(bytes, { name: 'ckpt' });
    expectSafetensorsError(() => file.tensor('missing'), 'TensorNotFound', "'ckpt'", "no tensor named 'missing'", "'w'");
    expectSafetensorsError(() => file.info('missing'), 'TensorNotFound');
    expectSafetensorsError(() => file.tensor('d'), 'UnsupportedDtype', "'d'", 'F64');
    expectSafetensorsError(() => file.tensor('nine'), 'UnsupportedShape', "'nine'", '9 dimensions');
    expect(Array.from(file.raw('nine'))).toEqual([3]);
    expect(() => file.tensor(5 as never)).toThrow(TypeError);
  });

  it('survives them all: invalid mappings are released, valid files still open', async () => {
    await settle(() => binding.memoryStats().mappedFiles === 0);
    const base = binding.memoryStats().mappedFiles;
    const p = tmpFile(build({ a: f32([2], 0, 8), b: f32([2], 4, 12) }, 12));
    for (let i = 0; i < 20; i++) expect(() => openSafetensors(p)).toThrow(SafetensorsError);
    await settle(() => binding.memoryStats().mappedFiles === base);
    expect(binding.memoryStats().mappedFiles).toBe(base);
    const file = openSafetensors(BERT);
    expect(file.tensor('pooler.dense.bias').shape).toEqual([32]);
    file.dispose();
  });
});
