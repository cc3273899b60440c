#!/usr/bin/env node
// A/B of small calls of the kernels that take temporary buffers from the per-thread scratch arena (native/core/
// scratch.h), between builds, interleaved in one process and timed in CPU time (process.cpuUsage): per-call overhead
// (allocation, zero-filling) shows on small shapes. Each argument ending in .node is an addon to load (e.g. a copy of a
// baseline build and of the current one); without one, the current checkout's build alone. Reports per case and build
// the best and median over --rounds rounds of the CPU µs per call (a round: enough calls for ~20 ms), and whether the
// outputs agree bitwise with the first build's.
//
//   cp <baseline checkout>/build/Release/turboformer.node /tmp/base.node; cp build/Release/turboformer.node /tmp/new.node
//   node bench/scratch-ab.bench.mjs /tmp/base.node /tmp/new.node --threads 1 --rounds 15
//   node bench/scratch-ab.bench.mjs /tmp/base.node /tmp/new.node --only favor,moe
import { join } from 'node:path';

import { args, option, randomTensor, require, root } from './common.mjs';

const files = args.filter((a) => a.endsWith('.node'));
const bins = (files.length ? files : [join(root, 'build/Release/turboformer.node')]).map((f) => require(f));
const threads = Number(option('--threads', '1'));
const rounds = Number(option('--rounds', '15'));
const only = option('--only', '').split(',').filter(Boolean);
for (const b of bins) b.setNumThreads(threads);
console.log(`threads ${threads}, ${rounds} rounds, builds: ${(files.length ? files : ['this worktree']).map((f, i) => `[${i}] ${f}`).join(' ')}`);

let seed = 1;
const rand = (shape, span = 2, center = 0) => randomTensor(shape, seed++, span, center);
const outs = (r) => (r.data ? [r.data] : Object.values(r).flatMap((t) => (t && t.data ? [t.data] : [])));

// [name, (binding) => result]
const cases = [];
{
  const q = rand([1, 2, 16, 16], 1), k = rand([1, 2, 16, 16], 1), v = rand([1, 2, 16, 16]), p = rand([16, 16]);
  cases.push(['favor N16 D16 M16', (b) => b.favorAttention(q, k, v, p, {})]);
  cases.push(['favor causal N16 D16 M16', (b) => b.favorAttention(q, k, v, p, { causal: true })]);
}
{
  const q = rand([1, 2, 8, 16]), k = rand([1, 2, 16, 16]), v = rand([1, 2, 16, 16]), e = rand([16, 8], 0.5);
  cases.push(['linformer Nq8 Nk16 D16 kp8', (b) => b.linformerAttention(q, k, v, e)]);
  const q2 = rand([1, 8, 16, 64]), k2 = rand([1, 8, 256, 64]), v2 = rand([1, 8, 256, 64]), e2 = rand([256, 256], 0.1);
  cases.push(['linformer H8 Nq16 Nk256 D64 kp256', (b) => b.linformerAttention(q2, k2, v2, e2)]);
}
{
  const q = rand([1, 4, 256, 64], 1), k = rand([1, 4, 256, 64], 1), v = rand([1, 4, 256, 64]), p = rand([128, 64]);
  cases.push(['favor causal H4 N256 D64 M128', (b) => b.favorAttention(q, k, v, p, { causal: true })]);
}
{
  const E = 4, d = 64, f = 128;
  const w = (o, i) => Array.from({ length: E }, () => rand([o, i], 0.2));
  const ex = { kind: 'swiglu', w1: w(f, d), w3: w(f, d), w2: w(d, f) };
  const router = rand([E, d]);
  const x1 = rand([1, d]), x8 = rand([8, d]);
  cases.push(['moe T1 E4 d64 f128', (b) => b.moe(x1, router, ex, { kind: 'mixtral', topK: 2 })]);
  cases.push(['moe T8 E4 d64 f128', (b) => b.moe(x8, router, ex, { kind: 'mixtral', topK: 2 })]);
}
{
  const w = rand([256, 256], 0.2);
  for (const [fmt, m] of [['q4_0', 1], ['q8_0', 1], ['int8', 4]]) {
    const qw = bins[0].quantize(w, fmt, 32);
    const x = rand([m, 256]);
    cases.push([`qlinear ${fmt} m${m} 256x256`, (b) => b.qlinear(x, qw)]);
  }
}
{
  const x = rand([1, 40000]);
  cases.push(['sum 40000 (2 blocks)', (b) => b.sum(x, -1)]);
}
{
  const u = rand([1, 16, 8]), dl = rand([1, 16, 8], 1), A = rand([16, 5], 1, -1), B = rand([1, 5, 8]), C = rand([1, 5, 8]);
  cases.push(['selectiveScan dim16 L8 N5', (b) => b.selectiveScan(u, dl, A, B, C, {})]);
  const x1 = rand([1, 64, 1]), x8 = rand([1, 64, 8]), cw = rand([64, 4]), st = rand([1, 64, 3]);
  cases.push(['causalConv1d dim64 L1', (b) => b.causalConv1d(x1, cw, null, { state: st })]);
  cases.push(['causalConv1d dim64 L8', (b) => b.causalConv1d(x8, cw, null, { state: st })]);
}
{
  const C = 64, decay = rand([C]), first = rand([C]), k = rand([1, 4, C]), v = rand([1, 4, C]);
  cases.push(['wkv T4 C64', (b) => b.wkv(decay, first, k, v)]);
}
{
  const a = rand([64, 3]), bm = rand([64, 64]);
  cases.push(['matmul transA 3x64x64', (b) => b.matmul(a, bm, { transA: true })]);
}

const median = (xs) => [...xs].sort((p, q) => p - q)[xs.length >> 1];
for (const [name, fn] of cases) {
  if (only.length && !only.some((o) => name.toLowerCase().includes(o.toLowerCase()))) continue;
  // calls per round: ~20 ms on the first build
  const t0 = process.cpuUsage();
  let n = 0;
  while (n < 10 || (process.cpuUsage(t0).user + process.cpuUsage(t0).system) < 20000) {
    fn(bins[0]);
    n++;
  }
  const ref = outs(fn(bins[0]));
  const same = bins.map((b) => {
    const got = outs(fn(b));
    return got.length === ref.length && got.every((g, i) => Buffer.from(g.buffer, g.byteOffset, g.byteLength).equals(Buffer.from(ref[i].buffer, ref[i].byteOffset, ref[i].byteLength)));
  });
  const times = bins.map(() => []);
  for (let r = 0; r < rounds; r++)
    bins.forEach((b, i) => {
      const c0 = process.cpuUsage();
      for (let j = 0; j < n; j++) fn(b);
      const c = process.cpuUsage(c0);
      times[i].push((c.user + c.system) / n);
    });
  const cols = bins.map((_, i) => `[${i}] best ${Math.min(...times[i]).toFixed(2)} med ${median(times[i]).toFixed(2)} µs${same[i] ? '' : ' (DIFFERENT BITS)'}`);
  console.log(`${name.padEnd(28)} ${cols.join('   ')}`);
}
