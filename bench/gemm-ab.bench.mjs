#!/usr/bin/env node
// A/B of the fp32 x·Wᵀ product (matmul with transB into a preallocated out, the linear() shape) between builds,
// interleaved in one process and timed in CPU time (process.cpuUsage: on a shared, loaded machine wall time
// mostly measures the other processes). Each argument ending in .node is an addon to load (e.g. a copy of a
// baseline build and of the current one); without one, the current checkout's build alone. Reports per build
// and shape the best and median of --rounds rounds of GFLOP per CPU second (with 2 threads, CPU seconds of
// both), and the output's relative distance from the first build's (0 when the builds agree bitwise).
//
//   cp <baseline checkout>/build/Release/turboformer.node /tmp/base.node; cp build/Release/turboformer.node /tmp/new.node
//   node bench/gemm-ab.bench.mjs /tmp/base.node /tmp/new.node --m 8,32,128 --kn 4096:4096 --rounds 7
//   node bench/gemm-ab.bench.mjs /tmp/base.node /tmp/new.node --m 16,64,128 --kn 768:3072,3072:768,4096:11008 --threads 2
import { join } from 'node:path';

import { args, option, randomTensor, require, root } from './common.mjs';

const files = args.filter((a) => a.endsWith('.node'));
const bins = (files.length ? files : [join(root, 'build/Release/turboformer.node')]).map((f) => require(f));
const threads = Number(option('--threads', '1'));
const rounds = Number(option('--rounds', '7'));
const ms = option('--m', '8,32,128').split(',').map(Number);
const kns = option('--kn', '4096:4096').split(',').map((s) => s.split(':').map(Number));
for (const b of bins) b.setNumThreads(threads);
console.log(`threads ${threads}, ${rounds} rounds, builds: ${(files.length ? files : ['this worktree']).map((f, i) => `[${i}] ${f}`).join(' ')}`);

for (const [K, N] of kns) {
  const w = randomTensor([N, K], 7 + N);
  for (const M of ms) {
    const x = randomTensor([M, K], 3 + M);
    const outs = bins.map((b) => b.alloc('f32', [M, N]));
    const flops = 2 * M * N * K;
    const reps = Math.max(2, Math.round(3e8 / flops));
    const gf = bins.map(() => []);
    for (let r = 0; r < rounds; r++)
      for (let i = 0; i < bins.length; i++) {
        bins[i].matmul(x, w, { transB: true, out: outs[i] }); // warm-up
        const c0 = process.cpuUsage();
        for (let q = 0; q < reps; q++) bins[i].matmul(x, w, { transB: true, out: outs[i] });
        const c = process.cpuUsage(c0);
        gf[i].push((flops * reps) / ((c.user + c.system) * 1e-6) * 1e-9);
      }
    const ref = outs[0].data;
    const lines = [`M ${M} K ${K} N ${N} (weight ${((4 * N * K) / 2 ** 20).toFixed(1)} MiB)`];
    for (let i = 0; i < bins.length; i++) {
      const v = gf[i].sort((a, b) => b - a);
      let num = 0;
      let den = 0;
      for (let j = 0; j < ref.length; j++) {
        num += (outs[i].data[j] - ref[j]) ** 2;
        den += ref[j] ** 2;
      }
      lines.push(`  [${i}] GFLOP per CPU second: best ${v[0].toFixed(1)}, median ${v[v.length >> 1].toFixed(1)}; output vs [0] rel ${Math.sqrt(num / den).toExponential(1)}`);
    }
    console.log(lines.join('\n'));
  }
}
