#!/usr/bin/env node
// A/B of the recurrent kernels between builds, interleaved in one process (each build's addon loaded from
// <dir>/build/Release/turboformer.node; the current worktree when no directory is given): on a shared, noisy
// machine the difference between two builds is clearer than across separate runs of recurrent.bench.mjs.
// Cases: the Mamba-130m step (dim 1536, N 16, Mamba options, opts.out) and full scan (L 2048), WKV C 2048 L 2048 and
// its step, RetNet retention h12 64x128 (recurrent and chunkwise 64, L 2048) and its recurrent step; the steps update
// their states in place and run through the raw binding and, where <dir>/dist is built, through lib/ops (which may
// take a faster argument path). Reports best and median of --rounds rounds (a round: 400 steps, or one full call, per
// case); --only keeps the cases whose name contains its value (case-insensitive).
//
//   node bench/recurrent-ab.bench.mjs --threads 1 /path/to/main /path/to/worktree
//   node bench/recurrent-ab.bench.mjs --threads 1 --rounds 101 --only step /path/to/main /path/to/worktree
//   node bench/recurrent-ab.bench.mjs --threads 1 --rounds 21 --cpu-time --only chunkwise /path/to/main /path/to/worktree
//
// --per-call: the per-token cases time every call on its own and report its 10th, 50th and 90th percentiles, next to
// a reference case of pure compute (expProbe of 20 passes, about 20k exps: no arguments, no allocation, no thread
// pool). On the shared build VM the Mamba step's calls fall in two modes, ~19 and ~27 µs at one thread, in stretches
// of hundreds of calls, and the reference slows by the same factor (~1.35x) in the same stretches (20000 calls: 8425
// both slow, 925 only the step, 306 only the reference; 4 GCs): the machine (another VM's load on the core), not the
// op. A median of rounds then depends on how much of the run the slow mode took.
//   node bench/recurrent-ab.bench.mjs --threads 1 --rounds 41 --only step --per-call /path/to/main /path/to/worktree
import { resolve } from 'node:path';
import { args, flag, option, randomTensor, require, root } from './common.mjs';

const threads = Number(option('--threads', '1'));
const rounds = Number(option('--rounds', '9'));
const only = option('--only', ''); // run only the cases whose name contains this (e.g. 'step': the per-token cases)
const perCall = flag('--per-call');
// --cpu-time: a round's time is this process's CPU time (user + system) instead of wall time: on a shared machine the
// stretches where another process runs instead of this one drop out (one thread: the pool's workers are not timed)
const cpuTime = flag('--cpu-time');
const boolFlags = ['--per-call', '--cpu-time'];
const dirs = args.filter((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1].startsWith('--') && !boolFlags.includes(args[i - 1])));
if (dirs.length === 0) dirs.push(root);
const builds = dirs.map((d) => require(resolve(d, 'build/Release/turboformer.node')));
// The lib wrappers of each build where its dist/ is compiled (the step's lib form may take a faster path than the raw
// binding with tensor objects).
const lib = dirs.map((d) => {
  try {
    const ops = ['ssm', 'retention', 'wkv'].map((f) => require(resolve(d, `dist/ops/${f}.js`)));
    return Object.assign({}, ...ops);
  } catch {
    return null;
  }
});

let seed = 1;
const rand = (shape, lo = -1, hi = 1) => randomTensor(shape, seed++, hi - lo, (lo + hi) / 2);
const dim = 1536, N = 16, L = 2048, C = 2048, RH = 12, RDK = 64, RDV = 128;
const A = rand([dim, N], -2, -0.05), D = rand([dim]), dtBias = rand([dim], -4, -2);
const u1 = rand([1, dim]), d1 = rand([1, dim]), z1 = rand([1, dim]), B1 = rand([1, N]), C1 = rand([1, N]);
const u = rand([1, dim, L]), delta = rand([1, dim, L]), z = rand([1, dim, L]), B = rand([1, N, L]), Cs = rand([1, N, L]);
const k = rand([1, L, C], -3, 3), v = rand([1, L, C]), decay = rand([C], -3, 1), first = rand([C]);
const rDecay = { data: Float32Array.from({ length: RH }, (_, h) => Math.log(1 - 2 ** (-5 - h))), shape: [RH], dtype: 'f32' };
const rq = rand([1, RH, L, RDK]), rk = rand([1, RH, L, RDK], -0.125, 0.125), rv = rand([1, L, RH * RDV]);
const q1 = rand([1, RH, 1, RDK]), k1 = rand([1, RH, 1, RDK], -0.125, 0.125), v1 = rand([1, 1, RH * RDV]);

const cases = []; // [build, name, fn, reps, unit divisor, unit]
builds.forEach((b, i) => {
  b.setNumThreads(threads);
  const state = { data: new Float32Array(dim * N), shape: [1, dim, N], dtype: 'f32' };
  const stepOpts = { D, z: z1, deltaBias: dtBias, deltaSoftplus: true, out: b.alloc('f32', [1, dim]) };
  const scanOpts = { D, z, deltaBias: dtBias, deltaSoftplus: true, out: b.alloc('f32', [1, dim, L]) };
  const wout = b.alloc('f32', [1, L, C]), rout = b.alloc('f32', [1, L, RH, RDV]), r1 = b.alloc('f32', [1, 1, RH, RDV]);
  let rs = b.retention(q1, k1, v1, rDecay, { form: 'recurrent' }).state;
  cases.push([i, `selectiveScanStep dim ${dim} N ${N}`, () => b.selectiveScanStep(state, u1, d1, A, B1, C1, stepOpts), 400, 1e3, 'µs']);
  if (lib[i]) {
    const s = lib[i].selectiveScanStep, lstate = { ...state, data: new Float32Array(dim * N) };
    cases.push([i, `selectiveScanStep (lib) dim ${dim} N ${N}`, () => s(lstate, u1, d1, A, B1, C1, stepOpts), 400, 1e3, 'µs']);
  }
  cases.push([i, `selectiveScan L ${L}`, () => b.selectiveScan(u, delta, A, B, Cs, scanOpts), 1, 1e6, 'ms']);
  cases.push([i, `wkv C ${C} L ${L}`, () => b.wkv(decay, first, k, v, null, { out: wout }), 1, 1e6, 'ms']);
  {
    const k1 = rand([1, 1, C], -3, 3), v1 = rand([1, 1, C]), o1 = b.alloc('f32', [1, 1, C]);
    let ws = b.wkv(decay, first, k1, v1).state;
    cases.push([i, `wkv step C ${C}`, () => {
      ws = b.wkv(decay, first, k1, v1, ws, { out: o1, updateState: true }).state;
    }, 400, 1e3, 'µs']);
    if (lib[i]) {
      const w = lib[i].wkv;
      let ls = b.wkv(decay, first, k1, v1).state;
      cases.push([i, `wkv step (lib) C ${C}`, () => {
        ls = w(decay, first, k1, v1, ls, { out: o1, updateState: true }).state;
      }, 400, 1e3, 'µs']);
    }
  }
  cases.push([i, `retention recurrent L ${L}`, () => b.retention(rq, rk, rv, rDecay, { form: 'recurrent', out: rout }), 1, 1e6, 'ms']);
  cases.push([i, `retention chunkwise L ${L}`, () => b.retention(rq, rk, rv, rDecay, { form: 'chunkwise', chunkSize: 64, out: rout }), 1, 1e6, 'ms']);
  cases.push([i, 'retention recurrent step', () => {
    rs = b.retention(q1, k1, v1, rDecay, { form: 'recurrent', state: rs, updateState: true, out: r1 }).state;
  }, 400, 1e3, 'µs']);
  if (lib[i]) {
    const ret = lib[i].retention;
    let ls = b.retention(q1, k1, v1, rDecay, { form: 'recurrent' }).state;
    cases.push([i, 'retention recurrent step (lib)', () => {
      ls = ret(q1, k1, v1, rDecay, { form: 'recurrent', state: ls, updateState: true, out: r1 }).state;
    }, 400, 1e3, 'µs']);
  }
});
if (only) cases.splice(0, cases.length, ...cases.filter((c) => c[1].toLowerCase().includes(only.toLowerCase())));
if (perCall) cases.push([0, 'reference: expProbe(20), pure compute', () => builds[0].expProbe(20), 400, 1e3, 'µs']);
const times = cases.map(() => []);
for (let r = 0; r < rounds; r++) {
  cases.forEach(([, , fn, reps, div], c) => {
    fn();
    if (perCall && reps > 1) {
      for (let j = 0; j < reps; j++) {
        const t0 = process.hrtime.bigint();
        fn();
        times[c].push(Number(process.hrtime.bigint() - t0) / div);
      }
      return;
    }
    if (cpuTime) {
      const c0 = process.cpuUsage();
      for (let j = 0; j < reps; j++) fn();
      const d = process.cpuUsage(c0);
      times[c].push(((d.user + d.system) * 1e3) / div / reps);
      return;
    }
    const t0 = process.hrtime.bigint();
    for (let j = 0; j < reps; j++) fn();
    times[c].push(Number(process.hrtime.bigint() - t0) / div / reps);
  });
}
console.log(`threads ${threads}, ${rounds} interleaved rounds${perCall ? ' (per-token cases: percentiles of single calls)' : ''}${cpuTime ? ', CPU time' : ''}`);
const names = [...new Set(cases.map((c) => c[1]))];
for (const name of names) {
  const row = cases.map((c, i) => [c, times[i]]).filter(([c]) => c[1] === name);
  for (const [[i, , , , , unit], t] of row) {
    const s = [...t].sort((a, b) => a - b);
    if (perCall && s.length > rounds) {
      const q = (p) => s[Math.floor(p * (s.length - 1))].toFixed(2).padStart(8);
      console.log(`${name.padEnd(36)} ${(i === 0 && name.startsWith('reference') ? '' : dirs[i]).padEnd(24)} p10 ${q(0.1)} ${unit}  p50 ${q(0.5)} ${unit}  p90 ${q(0.9)} ${unit}`);
      continue;
    }
    console.log(`${name.padEnd(36)} ${dirs[i].padEnd(24)} best ${s[0].toFixed(2).padStart(8)} ${unit}  median ${s[Math.floor(s.length / 2)].toFixed(2).padStart(8)} ${unit}`);
  }
}
