#!/usr/bin/env node
// Quantized linear benchmark: qlinear (q8_0, q4_0, int8, int4/g32) at M = 1, 8, 32, 128, 512 with K = N = 4096,
// and at M = 1, 8 with K = 4096, N = 11008 in a rotation of weight sets whose bytes together exceed the L3 cache
// (so every call reads its weights from DRAM), against our fp32 linear and onnxruntime-node's MatMulNBits (4-bit,
// block 32, accuracy_level 4), DynamicQuantizeMatMul and DynamicQuantizeLinear + MatMulInteger (int8, per column)
// in the same interleaved rounds. Reports ms, GFLOP/s (2·M·N·K), GB/s of weight bytes against the read bandwidth
// measured by bandwidthProbe at the same thread count in the same rounds (the best probe; bytes: the whole quantized
// weight, codes, scales and zero points, which each call reads once), the speed-up over our fp32 linear and over
// the ORT peer of the same width, and each ORT peer's output distance from ours.
//
//   npm run build && node bench/quant.bench.mjs           one thread (a few minutes on 2 cores)
//   node bench/quant.bench.mjs --threads 2 --quick         fewer rounds, another thread count
//   node bench/quant.bench.mjs --m 1,16,48 --no-ort       these M (any; 1 and 8 also on the large shape); no peers
//   node bench/quant.bench.mjs --no-large                 skip the DRAM-bound N = 11008 shape
//   node bench/quant.bench.mjs --l3 32                    L3 size in MiB the rotation must exceed (default 32)
//   node bench/quant.bench.mjs --json bench/results/quant.json
import { writeFileSync } from 'node:fs';

import { DT, buildModel, session } from './peers/onnx.mjs';
import { flag, loadDist, option, randomTensor, require } from './common.mjs';

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

// The int8 weight through DynamicQuantizeLinear (A to uint8, per tensor) + MatMulInteger + the two rescales: the
// graph onnxruntime's own quantize_dynamic writes for a MatMul.
function mmiModel(M, K, N, qw) {
  const codes = new Int8Array(qw.data.buffer, qw.data.byteOffset, N * K);
  const bt = new Int8Array(K * N);
  for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) bt[k * N + n] = codes[n * K + k];
  const scales = new Float32Array(qw.data.buffer.slice(qw.data.byteOffset + N * K, qw.data.byteOffset + N * K + 4 * N));
  return buildModel({
    nodes: [
      { op: 'DynamicQuantizeLinear', inputs: ['A'], outputs: ['Aq', 'As', 'Az'] },
      { op: 'MatMulInteger', inputs: ['Aq', 'B', 'Az'], outputs: ['Ci'] },
      { op: 'Cast', inputs: ['Ci'], outputs: ['Cf'], attrs: { to: DT.float } },
      { op: 'Mul', inputs: ['Cf', 'As'], outputs: ['Cs'] },
      { op: 'Mul', inputs: ['Cs', 'b_scale'], outputs: ['C'] },
    ],
    inputs: [{ name: 'A', elemType: DT.float, shape: [M, K] }],
    outputs: [{ name: 'C', elemType: DT.float, shape: [M, N] }],
    initializers: [
      { name: 'B', dataType: DT.int8, dims: [K, N], data: bt },
      { name: 'b_scale', dataType: DT.float, dims: [N], data: scales },
    ],
    opsets: { '': 17 },
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

const onlyM = option('--m', '') ? option('--m', '').split(',').map(Number) : null;
const l3 = Number(option('--l3', '32')) * 2 ** 20;
const shapes = [];
for (const M of onlyM ?? [1, 8, 32, 128, 512]) shapes.push({ M, K: 4096, N: 4096 });
if (!flag('--no-large')) for (const M of [1, 8]) if (!onlyM || onlyM.includes(M)) shapes.push({ M, K: 4096, N: 11008, rotate: true });

const bw0 = binding.bandwidthProbe(256, threads, 2);
console.log(`threads ${threads}, isa ${binding.info().isa.active}, read bandwidth ${bw0.gbps.toFixed(1)} GB/s (256 MiB probe)` + (ort ? `, onnxruntime-node ${require('onnxruntime-node/package.json').version}` : ''));
const rows = [];
let weights = null;
const FORMATS = [['q8_0', 'q8_0'], ['q4_0', 'q4_0'], ['int8', 'int8'], ['int4/g32', 'int4', 32]];
const PEERS = [
  ['ort MatMulNBits 4b', 'nbits', 'int4/g32'],
  ['ort DynQuantMatMul i8', 'dqmm', 'int8'],
  ['ort MatMulInteger i8', 'mmi', 'int8'],
];
// Each case cycles through `sets` copies of its weight, enough that together they exceed twice the L3 size.
const setsFor = (bytes, rotate) => (rotate ? Math.max(1, Math.ceil((2 * l3) / bytes)) : 1);
for (const { M, K, N, rotate } of shapes) {
  if (!weights || weights.N !== N) {
    weights = null; // let the previous shape's weights and sessions go first
    const w = randomTensor([N, K], 1 + N);
    weights = { N, w, q: {}, sets: {} };
    for (const [name, f, g] of FORMATS) {
      const q = binding.quantize(w, f, g);
      weights.q[name] = q;
      weights.sets[name] = [q];
      for (let i = 1; i < setsFor(q.data.byteLength, rotate); i++) weights.sets[name].push({ ...q, data: q.data.slice() });
    }
    if (ort) {
      const make = { nbits: nbitsModel, dqmm: dqmmModel, mmi: mmiModel };
      weights.models = Object.fromEntries(PEERS.map(([, key, q]) => [key, (m) => make[key](m, K, N, weights.q[q])]));
    }
  }
  const x = randomTensor([M, K], 7 + M);
  const cycle = (list, run) => {
    let i = 0;
    return () => run(list[i++ % list.length]);
  };
  const cases = [['fp32 linear', () => binding.linear(x, weights.w), N * K * 4, 1]];
  for (const [name] of FORMATS) {
    const sets = weights.sets[name];
    cases.push([name, cycle(sets, (q) => binding.qlinear(x, q)), sets[0].data.byteLength, sets.length]);
  }
  const ref = {};
  if (ort) {
    const feeds = { A: new ort.Tensor('float32', x.data, [M, K]) };
    for (const [name, key, q] of PEERS) {
      try {
        const bytes = weights.q[q].data.byteLength;
        const model = weights.models[key](M);
        const sess = [];
        for (let i = 0; i < setsFor(bytes, rotate); i++) sess.push(await session(ort, model, threads));
        const out = (await sess[0].run(feeds)).C.data;
        ref[name] = relDiff(out, binding.qlinear(x, weights.q[q]).data);
        cases.push([name, cycle(sess, (s) => s.run(feeds)), bytes, sess.length]);
      } catch (e) {
        console.log(`${name}: ${e.message.split('\n')[0]}`);
      }
    }
  }
  const times = new Map(cases.map(([n]) => [n, []]));
  // the read bandwidth at the same thread count, probed once per round between the cases: the best probe is the
  // floor's reference (the best round of each case against the best the memory gave in the same minutes)
  let bw = 0;
  for (let r = 0; r < rounds; r++) {
    bw = Math.max(bw, binding.bandwidthProbe(256, threads, 1).gbps);
    for (const [n, fn] of cases) times.get(n).push(await timeIt(fn));
  }
  for (const [n, , bytes, sets] of cases) {
    const ts = times.get(n).sort((a, b) => a - b);
    const t = ts[0]; // the best round: the machine is shared, slower rounds are other load
    rows.push({ M, K, N, case: n, ms: t * 1e3, medianMs: ts[Math.floor(rounds / 2)] * 1e3, gflops: (2 * M * N * K) / t * 1e-9, weightGBs: bytes / t * 1e-9, bwFraction: bytes / t * 1e-9 / bw, bytes, sets, vsOrt: ref[n] });
  }
  const get = (n) => rows.find((r) => r.M === M && r.N === N && r.case === n);
  const best = (...names) => names.map(get).filter(Boolean).sort((a, b) => a.ms - b.ms)[0];
  console.log(`\nM ${M}, K ${K}, N ${N}${rotate ? ' (weights rotated: each case cycles through copies exceeding 2x L3)' : ''} (read bandwidth, best of ${rounds} probes at ${threads} thread${threads > 1 ? 's' : ''}: ${bw.toFixed(1)} GB/s)`);
  console.log('case                      best ms  median   GFLOP/s  weight GB/s  of bw  sets  vs fp32  note');
  for (const [n] of cases) {
    const r = get(n);
    const fourBit = n.startsWith('int4') || n.startsWith('q4');
    const peer = n.startsWith('ort') ? null : n.startsWith('fp32') ? null : fourBit ? get('ort MatMulNBits 4b') : best('ort DynQuantMatMul i8', 'ort MatMulInteger i8');
    const note = peer ? `${(peer.ms / r.ms).toFixed(2)}x ${peer.case.replace('ort ', 'ort ')}` : r.vsOrt !== undefined ? `output vs ours rel ${r.vsOrt.toExponential(1)}` : '';
    console.log(`${n.padEnd(24)}${r.ms.toFixed(3).padStart(9)}${r.medianMs.toFixed(3).padStart(9)}${r.gflops.toFixed(1).padStart(10)}${r.weightGBs.toFixed(1).padStart(12)}${(r.bwFraction * 100).toFixed(0).padStart(6)}%${String(r.sets).padStart(5)}${(get('fp32 linear').ms / r.ms).toFixed(2).padStart(8)}x  ${note}`);
  }
}
const file = option('--json', '');
if (file) writeFileSync(file, JSON.stringify({ threads, bandwidth: bw0.gbps, rows }, null, 2));
