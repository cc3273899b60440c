#!/usr/bin/env node
// Quantized linear benchmark: qlinear (q8_0, q4_0, int8, int4/g32) at M = 1, 8, 32, 128 with K = N = 4096 (and
// K = 4096, N = 11008 for M = 1, 8: weights too large for the L3 cache), against our fp32 linear and
// onnxruntime-node's MatMulNBits (4-bit, block 32, accuracy_level 4) and DynamicQuantizeMatMul (int8 per
// column) in the same interleaved rounds. Reports ms, GFLOP/s (2·M·N·K), GB/s of weight bytes against the read
// bandwidth measured by bandwidthProbe in the same run, and speed-ups.
//
//   npm run build && node bench/quant.bench.mjs           one thread (about a minute on 2 cores)
//   node bench/quant.bench.mjs --threads 2 --quick         fewer rounds, another thread count
//   node bench/quant.bench.mjs --no-ort --no-large         skip the peer / the N = 11008 shape
//   node bench/quant.bench.mjs --json bench/results/quant.json
import { writeFileSync } from 'node:fs';

import { DT, buildModel, session } from './peers/onnx.mjs';
import { flag, loadDist, option, require } from './common.mjs';

const [{ binding }] = loadDist('native');

const quick = flag('--quick');
const rounds = Number(option('--rounds', quick ? 2 : 3));
const threads = Number(option('--threads', '1'));
const minTime = quick ? 0.1 : 0.25; // seconds per measurement
let ort = null;
if (!flag('--no-ort')) {
  try {
    ort = require('onnxruntime-node');
  } catch {
    console.log('onnxruntime-node is not installed: no peer columns');
  }
}
binding.setNumThreads(threads);

function tensor(shape, seed) {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    data[i] = x / 4294967296 - 0.5;
  }
  return { data, shape, dtype: 'f32' };
}

async function timeIt(fn) {
  await fn(); // warm-up
  let reps = 0;
  const t0 = process.hrtime.bigint();
  let t;
  do {
    await fn();
    reps++;
    t = Number(process.hrtime.bigint() - t0) * 1e-9;
  } while (t < minTime);
  return t / reps;
}

// ORT graphs: 4-bit MatMulNBits from our int4/g32 weight (the same codes, scales and zero points), and
// DynamicQuantizeMatMul from our int8 weight (codes transposed to [K, N], per-column scales).
function nbitsModel(M, K, N, qw) {
  const nb = K / 32;
  const codes = qw.data.subarray(0, (N * K) / 2); // [N, nb, 16]: element 2i low nibble, 2i+1 high: MatMulNBits' order
  const scales = new Float32Array(qw.data.buffer.slice(qw.data.byteOffset + (N * K) / 2, qw.data.byteOffset + (N * K) / 2 + N * nb * 4));
  const zeros = qw.data.subarray((N * K) / 2 + N * nb * 4);
  const zp = new Uint8Array(N * Math.ceil(nb / 2));
  for (let n = 0; n < N; n++)
    for (let b = 0; b < nb; b++) zp[n * Math.ceil(nb / 2) + (b >> 1)] |= zeros[n * nb + b] << (b & 1 ? 4 : 0);
  return buildModel({
    nodes: [{ op: 'MatMulNBits', domain: 'com.microsoft', inputs: ['A', 'B', 'scales', 'zp'], outputs: ['C'], attrs: { K, N, bits: 4, block_size: 32, accuracy_level: 4 } }],
    inputs: [{ name: 'A', elemType: DT.float, shape: [M, K] }],
    outputs: [{ name: 'C', elemType: DT.float, shape: [M, N] }],
    initializers: [
      { name: 'B', dataType: DT.uint8, dims: [N, nb, 16], data: codes },
      { name: 'scales', dataType: DT.float, dims: [N * nb], data: scales },
      { name: 'zp', dataType: DT.uint8, dims: [N * Math.ceil(nb / 2)], data: zp },
    ],
    opsets: { '': 17, 'com.microsoft': 1 },
  });
}

function dqmmModel(M, K, N, qw) {
  const codes = new Int8Array(qw.data.buffer, qw.data.byteOffset, N * K);
  const bt = new Int8Array(K * N);
  for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) bt[k * N + n] = codes[n * K + k];
  const scales = new Float32Array(qw.data.buffer.slice(qw.data.byteOffset + N * K, qw.data.byteOffset + N * K + 4 * N));
  return buildModel({
    nodes: [{ op: 'DynamicQuantizeMatMul', domain: 'com.microsoft', inputs: ['A', 'B', 'b_scale'], outputs: ['C'] }],
    inputs: [{ name: 'A', elemType: DT.float, shape: [M, K] }],
    outputs: [{ name: 'C', elemType: DT.float, shape: [M, N] }],
    initializers: [
      { name: 'B', dataType: DT.int8, dims: [K, N], data: bt },
      { name: 'b_scale', dataType: DT.float, dims: [N], data: scales },
    ],
    opsets: { '': 17, 'com.microsoft': 1 },
  });
}

function relDiff(a, b) {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

const shapes = [];
for (const M of [1, 8, 32, 128]) shapes.push({ M, K: 4096, N: 4096 });
if (!flag('--no-large')) for (const M of [1, 8]) shapes.push({ M, K: 4096, N: 11008 });

const bw0 = binding.bandwidthProbe(256, threads, 2);
console.log(`threads ${threads}, isa ${binding.info().isa.active}, read bandwidth ${bw0.gbps.toFixed(1)} GB/s (256 MiB probe)` + (ort ? `, onnxruntime-node ${require('onnxruntime-node/package.json').version}` : ''));
const rows = [];
let weights = null;
for (const { M, K, N } of shapes) {
  if (!weights || weights.N !== N) {
    const w = tensor([N, K], 1 + N);
    weights = { N, w, q: {} };
    for (const [name, f, g] of [['q8_0', 'q8_0'], ['q4_0', 'q4_0'], ['int8', 'int8'], ['int4/g32', 'int4', 32]]) weights.q[name] = binding.quantize(w, f, g);
    weights.sess = {};
    if (ort) {
      weights.models = { nbits: (m) => nbitsModel(m, K, N, weights.q['int4/g32']), dqmm: (m) => dqmmModel(m, K, N, weights.q.int8) };
    }
  }
  const x = tensor([M, K], 7 + M);
  const cases = [['fp32 linear', () => binding.linear(x, weights.w), N * K * 4]];
  for (const [name, q] of Object.entries(weights.q)) cases.push([name, () => binding.qlinear(x, q), q.data.byteLength]);
  const ref = {};
  if (ort) {
    const feeds = { A: new ort.Tensor('float32', x.data, [M, K]) };
    for (const [name, key, q] of [['ort MatMulNBits 4b', 'nbits', 'int4/g32'], ['ort DynQuantMatMul i8', 'dqmm', 'int8']]) {
      try {
        const s = await session(ort, weights.models[key](M), threads);
        const out = (await s.run(feeds)).C.data;
        ref[name] = relDiff(out, binding.qlinear(x, weights.q[q]).data);
        cases.push([name, () => s.run(feeds), weights.q[q].data.byteLength]);
      } catch (e) {
        console.log(`${name}: ${e.message.split('\n')[0]}`);
      }
    }
  }
  const times = new Map(cases.map(([n]) => [n, []]));
  for (let r = 0; r < rounds; r++) for (const [n, fn] of cases) times.get(n).push(await timeIt(fn));
  const bw = binding.bandwidthProbe(256, threads, 1).gbps;
  for (const [n, , bytes] of cases) {
    const t = times.get(n).sort((a, b) => a - b)[Math.floor(rounds / 2)];
    rows.push({ M, K, N, case: n, ms: t * 1e3, gflops: (2 * M * N * K) / t * 1e-9, weightGBs: bytes / t * 1e-9, bwFraction: bytes / t * 1e-9 / bw, bytes, vsOrt: ref[n] });
  }
  const get = (n) => rows.find((r) => r.M === M && r.N === N && r.case === n);
  console.log(`\nM ${M}, K ${K}, N ${N} (bandwidth now ${bw.toFixed(1)} GB/s)`);
  console.log('case                      ms      GFLOP/s  weight GB/s  of bw   vs fp32  note');
  for (const [n] of cases) {
    const r = get(n);
    const peer = n.startsWith('int4') ? get('ort MatMulNBits 4b') : n.startsWith('int8') ? get('ort DynQuantMatMul i8') : null;
    const note = peer ? `${(peer.ms / r.ms).toFixed(2)}x ort` : r.vsOrt !== undefined ? `output vs ours rel ${r.vsOrt.toExponential(1)}` : '';
    console.log(`${n.padEnd(24)}${r.ms.toFixed(3).padStart(9)}${r.gflops.toFixed(1).padStart(11)}${r.weightGBs.toFixed(1).padStart(12)}${(r.bwFraction * 100).toFixed(0).padStart(7)}%${(get('fp32 linear').ms / r.ms).toFixed(2).padStart(8)}x  ${note}`);
  }
}
const file = option('--json', '');
if (file) writeFileSync(file, JSON.stringify({ threads, bandwidth: bw0.gbps, rows }, null, 2));
