#!/usr/bin/env node
// fp32 GEMM benchmark: GFLOP/s of matmul/linear on square, decode and skinny (8-128 rows x·Wᵀ) shapes at 1
// and 2 threads, as a fraction of the machine's FMA peak and memory read bandwidth, both measured by probes in the same run
// (interleaved with the cases: on a shared machine absolute numbers drift, ratios much less).
//
//   npm run build && node bench/gemm.bench.mjs            plain table (20-30 s on 2 cores)
//   node bench/gemm.bench.mjs --quick                      fewer rounds
//   node bench/gemm.bench.mjs --threads 1,2,4              other thread counts
//   node bench/gemm.bench.mjs --json bench/results/gemm.json   also write the numbers as JSON
//   node bench/gemm.bench.mjs --benny                      also run the cases as a benny suite (JSON in bench/results/)
//   node bench/gemm.bench.mjs --no-ort                     skip the onnxruntime-node side-by-side
//
// Peer: onnxruntime-node's MatMul (when installed, a dev dependency of the benchmarks only), run on the
// same shapes in the same interleaved rounds, with B as a graph initializer (prepacked: its fast path)
// and its intra-op pool set to the same thread count, spinning off (so it does not steal the CPU from the
// cases measured after it).
// The products write into a preallocated `out` (steady state of a model that reuses its buffers); the
// "fresh result" row allocates the result each call, as the peer always does (the like-for-like ratio).
// The addon is the one lib/native.ts loads (build/Release, or TURBOFORMER_ADDON).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { matmulModel, session } from './peers/onnx.mjs';
import { flag, loadDist, option, randomTensor, require, root } from './common.mjs';

const [{ binding }] = loadDist('native');

const quick = flag('--quick');
const rounds = Number(option('--rounds', quick ? 2 : 5));
const threadCounts = option('--threads', '1,2').split(',').map(Number);
const jsonFile = option('--json', '');

// ---- onnxruntime-node peer (optional) ----
let ort = null;
if (!flag('--no-ort')) {
  try {
    ort = require('onnxruntime-node');
  } catch {
    console.log('onnxruntime-node is not installed: no side-by-side column (npm i -D onnxruntime-node with ONNXRUNTIME_NODE_INSTALL=skip)');
  }
}

function peerVersion() {
  try {
    return JSON.parse(readFileSync(join(root, 'node_modules', 'onnxruntime-node', 'package.json'), 'utf8')).version;
  } catch {
    return '?';
  }
}
const ortSession = (model, threads) => session(ort, model, threads);

// Each case: a function running one product, its flop count and the bytes it must stream at least.
const cases = [];
function matmulCase(name, m, n, k, transB = false, peer = false) {
  const a = randomTensor([m, k], 1);
  const b = randomTensor(transB ? [n, k] : [k, n], 2);
  const out = binding.alloc('f32', [m, n]);
  const opts = { transB, out };
  const c = { name, shape: `${m}x${n}x${k}`, flops: 2 * m * n * k, bytes: 4 * (m * k + k * n + m * n), run: () => binding.matmul(a, b, opts) };
  if (peer && ort) c.peer = { model: matmulModel(m, k, n, b.data), feeds: { A: new ort.Tensor('float32', a.data, [m, k]) } };
  cases.push(c);
}
for (const n of [256, 512, 1024, 2048]) matmulCase(`square ${n}`, n, n, n, false, true);
matmulCase('square 1024, b transposed', 1024, 1024, 1024, true);
{
  const a = randomTensor([1024, 1024], 1);
  const b = randomTensor([1024, 1024], 2);
  const c = { name: 'square 1024, fresh result', shape: '1024x1024x1024', flops: 2 * 1024 ** 3, bytes: 12 * 1024 ** 2, run: () => binding.matmul(a, b) };
  if (ort) c.peer = { model: matmulModel(1024, 1024, 1024, b.data), feeds: { A: new ort.Tensor('float32', a.data, [1024, 1024]) } };
  cases.push(c);
}
matmulCase('decode K=N=4096', 1, 4096, 4096, false, true);
matmulCase('decode K=4096 N=11008', 1, 11008, 4096, false, true);
for (const [k, n] of [[4096, 4096], [4096, 11008]]) {
  const x = randomTensor([1, k], 3);
  const w = randomTensor([n, k], 4);
  cases.push({ name: `decode linear [${n}, ${k}]`, shape: `1x${n}x${k}`, flops: 2 * n * k, bytes: 4 * (k + k * n + n), run: () => binding.linear(x, w) });
}
// Few-token linear layers (BERT-base FFN shape), with the weight as is and packed once (packLinear); the
// peer gets the same weight as an initializer, which it prepacks too. Then decode with a packed weight.
function transpose(w, n, k) {
  const t = new Float32Array(n * k);
  for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) t[j * n + i] = w.data[i * k + j];
  return t;
}
for (const [m, k, n] of [[16, 768, 3072], [64, 768, 3072], [1, 4096, 11008]]) {
  const x = randomTensor([m, k], 5);
  const w = randomTensor([n, k], 6);
  const pw = binding.packLinear(w);
  const shape = `${m}x${n}x${k}`;
  const base = { shape, flops: 2 * m * n * k, bytes: 4 * (m * k + k * n + m * n) };
  if (m > 1) cases.push({ ...base, name: `linear [${n}, ${k}], ${m} rows`, run: () => binding.linear(x, w) });
  const c = { ...base, name: `linear [${n}, ${k}], ${m} row${m > 1 ? 's' : ''}, packed`, run: () => binding.linearPacked(x, pw.data, pw.kernel, n, k) };
  if (ort) c.peer = { model: matmulModel(m, k, n, transpose(w, n, k)), feeds: { A: new ort.Tensor('float32', x.data, [m, k]) } };
  cases.push(c);
}

// Skinny products (a few to 128 tokens through an [out, in] weight as is, K = N = 4096: matmul with transB,
// the linear() shape): the weight (64 MiB) is read from memory once per call. The peer gets the weight
// transposed as an initializer.
{
  const k = 4096;
  const n = 4096;
  const w = randomTensor([n, k], 7);
  const wt = ort ? transpose(w, n, k) : null;
  for (const m of [8, 32, 128]) {
    const x = randomTensor([m, k], 8);
    const out = binding.alloc('f32', [m, n]);
    const c = { name: `x·Wᵀ, ${m} rows`, shape: `${m}x${n}x${k}`, flops: 2 * m * n * k, bytes: 4 * (m * k + k * n + m * n), run: () => binding.matmul(x, w, { transB: true, out }) };
    if (ort) c.peer = { model: matmulModel(m, k, n, wt), feeds: { A: new ort.Tensor('float32', x.data, [m, k]) } };
    cases.push(c);
  }
}

// Seconds of each repetition (about 0.2 s of work per round and case, at least one repetition).
function timeCase(c) {
  c.run(); // warm: scratch buffers, page faults, caches
  const reps = Math.max(1, Math.min(50, Math.round(2e8 / c.flops)));
  const out = [];
  for (let r = 0; r < reps; r++) {
    const t0 = process.hrtime.bigint();
    c.run();
    out.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return out;
}

async function timePeer(session, feeds, flops) {
  await session.run(feeds);
  const reps = Math.max(1, Math.min(50, Math.round(2e8 / flops)));
  const out = [];
  for (let r = 0; r < reps; r++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    out.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return out;
}

const median = (xs) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)];
const info = binding.info();
const results = {
  machine: { isa: info.isa.active, hardwareThreads: info.threads.hardware, kernel: binding.peakProbe(1000, 1).kernel },
  peer: ort ? `onnxruntime-node ${peerVersion()}` : null,
  threads: {},
};

console.log(`turboformer fp32 GEMM — isa ${info.isa.active}, micro-kernel ${results.machine.kernel}, ${info.threads.hardware} hardware threads, ${rounds} interleaved rounds (best and median)${ort ? `; peer ${results.peer}` : ''}`);
for (const t of threadCounts) {
  binding.setNumThreads(t);
  const peaks = [];
  const bws = [];
  const times = cases.map(() => []);
  const peerTimes = cases.map(() => []);
  const sessions = await Promise.all(cases.map((c) => (c.peer ? ortSession(c.peer.model, t) : null)));
  for (let r = 0; r < rounds; r++) {
    peaks.push(binding.peakProbe(20_000_000, t).gflops);
    bws.push(binding.bandwidthProbe(256, t, 2).gbps);
    for (let i = 0; i < cases.length; i++) {
      times[i].push(...timeCase(cases[i]));
      if (sessions[i]) peerTimes[i].push(...(await timePeer(sessions[i], cases[i].peer.feeds, cases[i].flops)));
    }
  }
  await Promise.all(sessions.map((x) => x?.release()));
  const peak = Math.max(...peaks);
  const bw = Math.max(...bws);
  console.log(`\n${t} thread${t > 1 ? 's' : ''}: FMA peak ${peak.toFixed(1)} GFLOP/s (${(peak / t).toFixed(1)} per thread), read bandwidth ${bw.toFixed(1)} GB/s`);
  const rows = cases.map((c, i) => {
    const best = Math.min(...times[i]);
    const med = median(times[i]);
    const gf = c.flops / best / 1e9;
    const row = {
      case: c.name,
      'M x N x K': c.shape,
      'GFLOP/s': Number(gf.toFixed(1)),
      'median GFLOP/s': Number((c.flops / med / 1e9).toFixed(1)),
      '% FMA peak': Number((100 * gf / peak).toFixed(1)),
      'GB/s': Number((c.bytes / best / 1e9).toFixed(1)),
      '% bandwidth': Number((100 * c.bytes / best / 1e9 / bw).toFixed(1)),
    };
    if (ort) {
      const pt = peerTimes[i].length ? Math.min(...peerTimes[i]) : NaN;
      row['ort GFLOP/s'] = Number.isNaN(pt) ? '' : Number((c.flops / pt / 1e9).toFixed(1));
      row['x ort'] = Number.isNaN(pt) ? '' : Number((pt / best).toFixed(2));
    }
    return row;
  });
  console.table(rows);
  results.threads[t] = { peakGflops: peak, readGBps: bw, cases: rows };
}
binding.setNumThreads(info.threads.count);

if (jsonFile) {
  mkdirSync(dirname(jsonFile), { recursive: true });
  writeFileSync(jsonFile, JSON.stringify({ date: new Date().toISOString(), ...results }, null, 2));
  console.log(`\nwrote ${jsonFile}`);
}

if (flag('--benny')) {
  const b = require('benny');
  const folder = join(root, 'bench', 'results');
  mkdirSync(folder, { recursive: true });
  for (const t of threadCounts) {
    binding.setNumThreads(t);
    await b.suite(
      `gemm ${t} thread${t > 1 ? 's' : ''}`,
      ...cases.map((c) => b.add(`${c.name} (${c.shape})`, () => c.run())),
      b.configure({ cases: { maxTime: 1, minSamples: 3 } }),
      b.cycle(),
      b.complete(),
      b.save({ file: `gemm-${t}t`, folder, format: 'json' }),
    );
  }
  binding.setNumThreads(info.threads.count);
}
