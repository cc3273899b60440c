#!/usr/bin/env node
// Boundary fuzzer for the raw binding: takes real calls recorded from the test suite
// (test/fixtures/fuzz/corpus.json, see record.mjs), applies one to three random mutations to each (tensor
// shapes, dtypes and contents, option values, missing or extra arguments) and makes the call. Every call
// must either return or throw an Error; a crash, an abort or a hang ends this process, and the last line it
// wrote names the call that did it. One call in eight goes through the op's Async form (awaited). The test (test/fuzz.test.ts) runs this in a child process.
//
//   node scripts/fuzz/fuzz.mjs --seed 1 --iterations 5000          all functions
//   node scripts/fuzz/fuzz.mjs --seed 7 --fn attention --verbose    one function, every call printed
//   options: --isa scalar|avx2|avx512 (the dispatch level to run at), --threads N, --corpus FILE
//
// Output: one line per call with --verbose (written before the call, synchronously), else one line per
// 500; then `done N calls, T threw, F failures` and, per failure, `FAIL ...`. Exit code 1 when a call
// threw something that is not an Error (or an Error without a message).
import { readFileSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { decodeValue } from './codec.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const seed = Number(opt('--seed', '1'));
const iterations = Number(opt('--iterations', '2000'));
const onlyFn = opt('--fn', '');
const verbose = args.includes('--verbose');
const corpusFile = opt('--corpus', join(root, 'test', 'fixtures', 'fuzz', 'corpus.json'));

const binding = createRequire(import.meta.url)(join(root, 'dist', 'native.js')).binding;
const corpus = JSON.parse(readFileSync(corpusFile, 'utf8'));
const names = Object.keys(corpus).filter((n) => corpus[n].length > 0 && (!onlyFn || n === onlyFn) && typeof binding[n] === 'function');
if (names.length === 0) throw new Error(`no recorded calls${onlyFn ? ` for ${onlyFn}` : ''} in ${corpusFile}`);

// xorshift128+ on two 32-bit halves is overkill here: a 32-bit xorshift with a splitmix start is enough.
let state = (seed * 0x9e3779b1) >>> 0 || 1;
const next = () => {
  state ^= state << 13;
  state >>>= 0;
  state ^= state >>> 17;
  state ^= state << 5;
  state >>>= 0;
  return state / 4294967296;
};
const pick = (a) => a[Math.floor(next() * a.length)];
const int = (n) => Math.floor(next() * n);

const DTYPES = {
  f32: Float32Array, f16: Uint16Array, bf16: Uint16Array, i8: Int8Array, u8: Uint8Array, i32: Int32Array, i64: BigInt64Array,
};
const isTensor = (v) => v && typeof v === 'object' && !Array.isArray(v) && ArrayBuffer.isView(v.data) && Array.isArray(v.shape);
const numel = (shape) => shape.reduce((a, b) => a * b, 1);

function randomTensor() {
  const dtype = pick(Object.keys(DTYPES));
  const rank = int(5);
  const shape = Array.from({ length: rank }, () => int(6));
  const C = DTYPES[dtype];
  const data = new C(numel(shape));
  for (let i = 0; i < data.length; ++i) {
    const x = next() * 4 - 2;
    data[i] = C === BigInt64Array ? BigInt(Math.round(x)) : C === Float32Array ? x : Math.round(x * 20);
  }
  return { data, shape, dtype };
}

const SPECIAL_NUMBERS = [0, -1, 1, 2, 3, 7, 8, 64, 0.5, -0.5, NaN, Infinity, -Infinity, 1e9, 2 ** 31, 2 ** 32 + 1, 2 ** 53, -(2 ** 31), 1e-30];
function randomValue(others) {
  const r = int(12);
  switch (r) {
    case 0: return undefined;
    case 1: return null;
    case 2: return pick(SPECIAL_NUMBERS);
    case 3: return pick(['', 'f32', 'i32', 'bogus', 'avx2', 'scalar', 'bnhd', 'bhnd', 'softmax', 'relu']);
    case 4: return next() < 0.5;
    case 5: return [];
    case 6: return [int(5), int(5)];
    case 7: return {};
    case 8: case 9: return randomTensor();
    default: return others.length ? structuredCloneTensor(pick(others)) : randomTensor();
  }
}
function structuredCloneTensor(t) {
  return { data: t.data.slice(), shape: [...t.shape], dtype: t.dtype };
}

// Every place in the argument tree: [container, key, value].
function places(root) {
  const out = [];
  const walk = (c, k) => {
    const v = c[k];
    out.push([c, k, v]);
    if (isTensor(v) || ArrayBuffer.isView(v)) return;
    if (Array.isArray(v)) v.forEach((_, i) => walk(v, i));
    else if (v && typeof v === 'object') for (const key of Object.keys(v)) walk(v, key);
  };
  root.forEach((_, i) => walk(root, i));
  return out;
}

// The tensor with a new shape and its data resized to match (cycled); a shape that earlier mutations made
// invalid (negative, fractional, not numbers) or too large keeps the old data: a length mismatch.
function resized(t, shape) {
  const n = numel(shape);
  if (!Number.isSafeInteger(n) || n < 0 || n > 1 << 22) return { ...t, shape };
  const C = t.data.constructor;
  const data = new C(n);
  if (t.data.length) for (let i = 0; i < data.length; ++i) data[i] = t.data[i % t.data.length];
  return { ...t, data, shape };
}

function specialElement(C) {
  if (C === Float32Array || C === Float64Array) return pick([NaN, Infinity, -Infinity, 3e38, -3e38, -0, 1e-45]);
  if (C === BigInt64Array) return pick([-1n, 2n ** 62n, -(2n ** 63n), 2n ** 31n, 1000000n]);
  if (C === Int32Array) return pick([-1, 2 ** 31 - 1, -(2 ** 31), 1000000, 65536]);
  if (C === Uint16Array) return pick([0x7c00, 0xfc00, 0x7e00, 0xffff, 0x7f80, 0x7fc0]);
  if (C === Int8Array) return pick([-128, 127, -1]);
  if (C === Uint8Array) return pick([255, 0, 128]);
  return 0;
}

// One mutation of the argument list; returns its description. Most mutations keep the call valid or
// nearly so (contents, consistent sizes, option values), so that the kernels run on what they produce.
function mutate(argv, keyPool) {
  const all = places(argv);
  const tensors = all.filter(([, , v]) => isTensor(v));
  const r = next();
  // bare typed arrays (e.g. the packed dtype/shape records of the fast step bindings): elements nudged or special
  const bare = all.filter(([c, , v]) => ArrayBuffer.isView(v) && !isTensor(c));
  if (r < 0.3 && bare.length && (next() < 0.5 || !tensors.length)) {
    const [c, k, a] = pick(bare);
    if (a.length) {
      const data = a.slice();
      const i = int(data.length);
      const x = data[i];
      data[i] = typeof x === 'bigint' ? x + 1n : next() < 0.5 ? specialElement(data.constructor) : pick([x + 1, x - 1, 0, x * 2, x + 0.5]);
      c[k] = data;
      return `${String(k)}: element [${i}] ${x} -> ${data[i]}`;
    }
  }
  if (r < 0.3 && tensors.length) {
    // special values in the contents (NaN, infinities, ids and indices out of range, ...)
    const [c, k, t] = pick(tensors);
    if (t.data.length) {
      const data = t.data.slice();
      const n = 1 + int(Math.min(4, data.length));
      const vals = [];
      for (let q = 0; q < n; ++q) {
        const i = int(data.length);
        data[i] = specialElement(data.constructor);
        vals.push(`[${i}]=${data[i]}`);
      }
      c[k] = { ...t, data };
      return `${String(k)}: data ${vals.join(' ')}`;
    }
  }
  if (r < 0.55 && tensors.length) {
    // one size changed everywhere it appears (every tensor dim and every number option equal to it)
    const dims = [...new Set(tensors.flatMap(([, , t]) => t.shape))].filter((d) => d > 0);
    if (dims.length) {
      const d = pick(dims);
      const nd = Math.max(0, pick([d - 1, d + 1, 1, 2 * d, d + 7, 0, 3]));
      for (const [c, k, t] of tensors) if (t.shape.includes(d)) c[k] = resized(t, t.shape.map((x) => (x === d ? nd : x)));
      if (next() < 0.5) for (const [c, k, v] of all) if (v === d && !Array.isArray(c)) c[k] = nd;
      return `size ${d} -> ${nd} everywhere`;
    }
  }
  if (r < 0.7) {
    const leaves = all.filter(([, , v]) => typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string' || v === undefined);
    if (leaves.length) {
      const [c, k, v] = pick(leaves);
      const nv = typeof v === 'number' && next() < 0.6 ? pick([v + 1, v - 1, v * 2, -v, v + 0.5, v * 1000, 0]) : randomValue([]);
      c[k] = nv;
      return `${String(k)}: ${fmt(v)} -> ${fmt(nv)}`;
    }
  }
  if (r < 0.8) {
    const objs = all.filter(([, , v]) => v && typeof v === 'object' && !Array.isArray(v) && !isTensor(v) && !ArrayBuffer.isView(v));
    if (objs.length && keyPool.length) {
      const [, k, o] = pick(objs);
      const key = pick(keyPool);
      o[key] = randomValue(tensors.map(([, , t]) => t));
      return `${String(k)}.${key} = ${fmt(o[key])}`;
    }
  }
  if (r < 0.9 && tensors.length) {
    const [c, k, t] = pick(tensors);
    const kind = int(4);
    if (kind === 0 && t.shape.length > 1) {
      const s = [...t.shape];
      const i = int(s.length), j = int(s.length);
      [s[i], s[j]] = [s[j], s[i]];
      c[k] = { ...t, shape: s };
      return `${String(k)}: shape [${t.shape}] -> [${s}] (dims swapped)`;
    }
    if (kind === 1 && t.shape.length) {
      const s = [...t.shape];
      const i = int(s.length);
      s[i] = Math.max(0, s[i] + pick([-1, 1, 2, -s[i], s[i]]));
      c[k] = resized(t, s);
      return `${String(k)}: shape [${t.shape}] -> [${s}] (data resized)`;
    }
    if (kind === 2) {
      const s = next() < 0.5 ? [1, ...t.shape] : t.shape.slice(1);
      c[k] = resized(t, s);
      return `${String(k)}: rank ${t.shape.length} -> ${s.length} ([${s}])`;
    }
    const dtype = pick(Object.keys(DTYPES));
    const C = DTYPES[dtype];
    const data = new C(t.data.length);
    for (let i = 0; i < data.length; ++i) {
      const x = Number(t.data[i]);
      data[i] = C === BigInt64Array ? BigInt(Number.isFinite(x) ? Math.trunc(x) : 0) : x;
    }
    c[k] = { ...t, data, dtype };
    return `${String(k)}: dtype ${t.dtype} -> ${dtype}`;
  }
  if (next() < 0.5 || !argv.length) {
    const i = int(argv.length + 1);
    const v = randomValue(tensors.map(([, , t]) => t));
    if (i < argv.length) argv[i] = v;
    else argv.push(v);
    return `argument ${i} = ${fmt(v)}`;
  }
  const i = int(argv.length);
  argv.length = i;
  return `arguments cut to ${i}`;
}

function fmt(v) {
  if (isTensor(v)) return `tensor ${v.dtype}[${v.shape}]`;
  if (Array.isArray(v)) return `[${v.map(fmt).join(', ')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v).join(',')}}`;
  if (typeof v === 'string') return JSON.stringify(v);
  return String(v);
}

// Every option key seen in the corpus, to be added where it was not.
const keyPool = [];
{
  const seen = new Set();
  const walk = (v) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object' && !('$typed' in v)) {
      for (const k of Object.keys(v)) {
        if (!['data', 'shape', 'dtype', 'b64', '$typed'].includes(k) && !seen.has(k)) {
          seen.add(k);
          keyPool.push(k);
        }
        walk(v[k]);
      }
    }
  };
  walk(corpus);
}

if (opt('--isa', '')) binding.setIsa(opt('--isa', ''));
if (opt('--threads', '')) binding.setNumThreads(Number(opt('--threads', '')));
const startIsa = binding.info().isa.active;
const startThreads = binding.getNumThreads();
const log = (s) => writeSync(1, `${s}\n`);
let threw = 0;
const failures = [];
for (let it = 0; it < iterations; ++it) {
  const name = names[it % names.length];
  const list = corpus[name];
  const which = int(list.length);
  const argv = decodeValue(list[which]);
  const steps = next() < 0.7 ? 1 : 2;
  const what = [];
  for (let s = 0; s < steps; ++s) what.push(mutate(argv, keyPool));
  // one call in eight through the Async form where there is one (its own argument checks and worker)
  const fn = typeof binding[`${name}Async`] === 'function' && next() < 0.125 ? `${name}Async` : name;
  const line = `#${it} ${fn}[${which}] ${what.join('; ')}`;
  if (verbose || it % 500 === 0) log(line);
  try {
    const r = binding[fn](...argv);
    if (r instanceof Promise) await r;
  } catch (e) {
    threw += 1;
    if (!(e instanceof Error) || !e.message) failures.push(`${line}: threw ${String(e)}`);
  }
  if (name === 'setIsa' || name === 'setNumThreads') {
    binding.setIsa(startIsa);
    binding.setNumThreads(startThreads);
  }
}
log(`done ${iterations} calls, ${threw} threw, ${failures.length} failures`);
for (const f of failures) log(`FAIL ${f}`);
process.exit(failures.length ? 1 : 0);
