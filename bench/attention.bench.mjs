#!/usr/bin/env node
// Flash attention benchmark: GFLOP/s (4·B·H·Nq·Nk·D flops, half of that for causal) of ops.attention at
// B = 1, 12 heads × 64, N = 512, 2048, 8192, causal and not, on 1 thread (default), side by side in the
// same run with
//   - a naive materialized softmax(scale·QKᵀ + mask)·V built from our own ops (matmul + softmax + matmul),
//     where its N×N score matrices fit (default up to N = 2048; --naive-max 8192 to go further);
//   - onnxruntime-node's com.microsoft MultiHeadAttention (`unidirectional` for causal) on the same data
//     ([1, N, 768] is our 'bnhd' layout, read in place by both), when it is installed;
// and the machine's FMA peak (probe). Peak memory: each implementation runs once in a child process per
// shape, which reports its peak RSS (Linux VmHWM, reset just before the run) above its RSS with the inputs
// allocated and the peer's session created (--no-mem skips this).
// --reuse-out: the timed calls of flash and of the naive path write their result into a preallocated output
// (opts.out; the naive path's score and probability matrices stay fresh, they are its algorithm), so the
// ratios measure the kernels, not the page faults of a fresh output; onnxruntime's session.run cannot take
// one (it allocates its outputs), so its column keeps that cost. The memory children always use fresh
// outputs. The header line says which mode ran; the default is fresh outputs.
// Flash and onnxruntime run in turn for --rounds rounds (default 3, one call each a round, after a warm-up call):
// "x ort" is the ratio of their best times, "x ort (median)" the median of the per-round ratios (the VM's speed
// can change between calls, so a single pair of calls, as at N = 4096 with one call each, says little).
//
//   npm run build && node bench/attention.bench.mjs        (about 4 minutes: N = 8192 and the peer's n×n causal path dominate)
//   node bench/attention.bench.mjs --sizes 512,2048       (under a minute)
//   node bench/attention.bench.mjs --sizes 512,2048 --threads 2 --no-ort --no-mem --json out.json
//   node bench/attention.bench.mjs --sizes 2048 --reuse-out --no-mem
//   node bench/attention.bench.mjs --sizes 4096,8192 --no-mem --rounds 5     (the ORT comparison)
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { freemem } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

import { loadOrt, mhaModel, session } from './peers/onnx.mjs';
import { flag, loadDist, option, randomTensor } from './common.mjs';

const here = fileURLToPath(import.meta.url);
const [{ binding }] = loadDist('native');

const H = 12;
const D = 64;
const sizes = option('--sizes', '512,2048,8192').split(',').map(Number);
const threads = Number(option('--threads', '1'));
const naiveMax = Number(option('--naive-max', '2048'));
const rounds = Number(option('--rounds', '3'));
const jsonFile = option('--json', '');
const reuseOut = flag('--reuse-out') && !flag('--child');


// The three implementations over inputs in 'bnhd' order [1, N, H, D] (= [1, N, H·D]).
function inputs(N) {
  return { q: randomTensor([1, N, H, D], 1), k: randomTensor([1, N, H, D], 2), v: randomTensor([1, N, H, D], 3) };
}
// x.out / x.naiveOut: the preallocated outputs of --reuse-out (undefined: a fresh output per call)
function flashRun(x, causal) {
  return () => binding.attention(x.q, x.k, x.v, { causal, layout: 'bnhd', out: x.out });
}
function naiveRun(x, N, causal) {
  // [B, H, N, D] copies (the naive path's matmuls want heads outermost), then scores [1, H, N, N]
  const q = binding.permute(x.q, [0, 2, 1, 3]);
  const k = binding.permute(x.k, [0, 2, 1, 3]);
  const v = binding.permute(x.v, [0, 2, 1, 3]);
  let mask = null;
  if (causal) {
    mask = { data: new Float32Array(N * N), shape: [N, N], dtype: 'f32' };
    for (let i = 0; i < N; i++) mask.data.fill(-Infinity, i * N + i + 1, (i + 1) * N);
  }
  return () => {
    const s = binding.matmul(q, k, { transB: true, alpha: 1 / Math.sqrt(D) });
    const p = binding.softmax(s, mask);
    return binding.matmul(p, v, { out: x.naiveOut });
  };
}
async function ortRun(ort, x, N, causal) {
  const sess = await session(ort, mhaModel(N, H, D, causal), threads);
  const feeds = {
    q: new ort.Tensor('float32', x.q.data, [1, N, H * D]),
    k: new ort.Tensor('float32', x.k.data, [1, N, H * D]),
    v: new ort.Tensor('float32', x.v.data, [1, N, H * D]),
  };
  return { run: () => sess.run(feeds), release: () => sess.release() };
}

// ---- child mode: one run of one implementation, print peak RSS above the RSS with inputs allocated ----
if (flag('--child')) {
  const [impl, N, causal] = [option('--impl', 'flash'), Number(option('--n', '512')), flag('--causal')];
  binding.setNumThreads(threads);
  const x = inputs(N);
  let fn;
  let ortSession = null;
  if (impl === 'ort') {
    const { ort } = await loadOrt();
    ortSession = await ortRun(ort, x, N, causal);
    fn = ortSession.run;
  } else {
    fn = impl === 'flash' ? flashRun(x, causal) : naiveRun(x, N, causal);
  }
  // Linux: writing 5 to /proc/self/clear_refs resets the peak RSS (VmHWM) to the current RSS, so the peak
  // read after the run is the run's own (elsewhere: NaN, no measurement).
  const hwm = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
  let peak = NaN;
  try {
    const base = process.memoryUsage().rss;
    writeFileSync('/proc/self/clear_refs', '5');
    await fn();
    peak = Math.max(hwm() - base, 0);
  } catch {
    await fn();
  }
  process.stdout.write(JSON.stringify({ peakMiB: peak / 2 ** 20 }));
  process.exit(0);
}

function childPeak(impl, N, causal) {
  const r = spawnSync(process.execPath, [here, '--child', '--impl', impl, '--n', String(N), '--threads', String(threads), ...(causal ? ['--causal'] : [])], { encoding: 'utf8', timeout: 300_000 });
  try {
    return JSON.parse(r.stdout).peakMiB;
  } catch {
    return NaN;
  }
}

// ---- main: interleaved timing ----
const { ort, reason } = flag('--no-ort') ? { ort: null, reason: '--no-ort' } : await loadOrt();
if (!ort) console.log(`no onnxruntime column: ${reason}`);
binding.setNumThreads(threads);
if (ort) {
  // the peer must compute the same thing: compare outputs on a small shape, both modes
  const N = 70;
  const x = inputs(N);
  const errs = [];
  for (const causal of [false, true]) {
    const s = await ortRun(ort, x, N, causal);
    const o = (await s.run()).o.data;
    await s.release();
    const ours = binding.attention(x.q, x.k, x.v, { causal, layout: 'bnhd' }).data;
    let num = 0;
    let den = 0;
    for (let i = 0; i < o.length; i++) {
      num += (o[i] - ours[i]) ** 2;
      den += ours[i] ** 2;
    }
    errs.push(`${causal ? 'causal' : 'full'} ${Math.sqrt(num / den).toExponential(1)}`);
  }
  console.log(`peer check (N = 70, relative difference of the outputs): ${errs.join(', ')}`);
}
const info = binding.info();
const peak = Math.max(...[0, 1, 2].map(() => binding.peakProbe(20_000_000, threads).gflops));
console.log(`turboformer flash attention — isa ${info.isa.active}, ${threads} thread${threads > 1 ? 's' : ''}, B = 1, ${H} heads × ${D}; FMA peak ${peak.toFixed(1)} GFLOP/s; outputs: ${reuseOut ? 'reused (--reuse-out: flash and naive write into a preallocated output; onnxruntime cannot, its outputs stay fresh)' : 'fresh per call (default; --reuse-out to reuse one)'}`);

async function timeIt(fn, flops) {
  await fn(); // warm
  const reps = Math.max(1, Math.min(10, Math.round(4e10 / flops)));
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = process.hrtime.bigint();
    await fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return best;
}

const rows = [];
for (const N of sizes) {
  const x = inputs(N);
  if (reuseOut) {
    x.out = binding.alloc('f32', [1, N, H, D]);
    x.naiveOut = binding.alloc('f32', [1, H, N, D]);
  }
  for (const causal of [false, true]) {
    const flops = 4 * H * N * N * D * (causal ? 0.5 : 1);
    const row = { N, causal };
    // flash and onnxruntime timed in turn, --rounds rounds (a call each, after a warm-up call each): best of each, and
    // the median of the per-round ratios (steadier when the VM changes speed between rounds)
    const fRun = flashRun(x, causal);
    let s = null;
    if (ort) {
      try {
        s = await ortRun(ort, x, N, causal);
        await s.run();
      } catch (e) {
        row.ortError = `error: ${e.message.split('\n')[0].slice(0, 60)}`;
      }
    }
    await fRun();
    const tfs = [], tos = [];
    const once = async (fn) => {
      const t0 = process.hrtime.bigint();
      await fn();
      return Number(process.hrtime.bigint() - t0) / 1e9;
    };
    for (let r = 0; r < rounds; r++) {
      tfs.push(await once(fRun));
      if (s) tos.push(await once(s.run));
    }
    const tf = Math.min(...tfs);
    row['flash ms'] = Number((tf * 1e3).toFixed(1));
    row['flash GFLOP/s'] = Number((flops / tf / 1e9).toFixed(1));
    row['% peak'] = Number(((100 * flops) / tf / 1e9 / peak).toFixed(1));
    // naive: two N×N f32 buffers per head (scores, probabilities)
    const naiveBytes = 2 * H * N * N * 4;
    if (N <= naiveMax && naiveBytes < freemem() / 2) {
      const tn = await timeIt(naiveRun(x, N, causal), flops);
      row['naive GFLOP/s'] = Number((flops / tn / 1e9).toFixed(1));
      row['x naive'] = Number((tn / tf).toFixed(2));
    } else {
      row['naive GFLOP/s'] = '';
      row['x naive'] = '';
    }
    if (ort) {
      if (s) {
        await s.release();
        const to = Math.min(...tos);
        const ratios = tos.map((t, r) => t / tfs[r]).sort((a, b) => a - b);
        row['ort GFLOP/s'] = Number((flops / to / 1e9).toFixed(1));
        row['x ort'] = Number((to / tf).toFixed(2));
        row['x ort (median)'] = Number(ratios[Math.floor(ratios.length / 2)].toFixed(2));
      } else {
        row['ort GFLOP/s'] = row.ortError;
        delete row.ortError;
      }
    }
    rows.push(row);
    console.log(JSON.stringify(row));
  }
}
console.table(rows);

let mem = [];
if (!flag('--no-mem')) {
  console.log('\npeak RSS above the inputs (MiB), one run each in a child process:');
  for (const N of sizes) {
    for (const causal of [false, true]) {
      const m = { N, causal, flash: Number(childPeak('flash', N, causal).toFixed(1)) };
      if (N <= naiveMax) m.naive = Number(childPeak('naive', N, causal).toFixed(1));
      if (ort) m.ort = Number(childPeak('ort', N, causal).toFixed(1));
      m['out (MiB)'] = Number(((N * H * D * 4) / 2 ** 20).toFixed(1));
      mem.push(m);
      console.log(JSON.stringify(m));
    }
  }
  console.table(mem);
}

if (jsonFile) {
  mkdirSync(dirname(jsonFile), { recursive: true });
  writeFileSync(jsonFile, JSON.stringify({ date: new Date().toISOString(), isa: info.isa.active, threads, reuseOut, peakGflops: peak, rows, memory: mem }, null, 2));
  console.log(`wrote ${jsonFile}`);
}
