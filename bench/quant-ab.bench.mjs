#!/usr/bin/env node
// A/B of qlinear (M = 1 unless --m says otherwise) between builds, interleaved in one process, timed in CPU time (process.cpuUsage): on a
// shared, loaded machine wall time mostly measures the other processes, while a memory-bound kernel's CPU time still
// includes its stalls. Each argument ending in .node is an addon to load (e.g. a copy of a baseline build and of the
// current one); without one, the current checkout's build alone. Shapes: `l3` K = N = 4096 (one weight, cache-resident after
// the first call) and `dram` K = 4096, N = 11008 (copies of the weight in rotation, together over 64 MiB, so every
// call reads DRAM); cases: fp32 linear (the streaming reference) and the four formats. Reports per build the best and
// median of --rounds rounds of GB/s of weight bytes per CPU second (and, with --m, GOP/s = 2·M·N·K per CPU second), and
// the output's relative distance from the first build's (0 when the builds agree bitwise).
//
//   cp <baseline checkout>/build/Release/turboformer.node /tmp/base.node; cp build/Release/turboformer.node /tmp/new.node
//   node bench/quant-ab.bench.mjs /tmp/base.node /tmp/new.node --rounds 60
//   node bench/quant-ab.bench.mjs /tmp/base.node /tmp/new.node --shapes dram --formats int8,q8_0 --threads 2
//   node bench/quant-ab.bench.mjs /tmp/base.node /tmp/new.node --shapes l3 --formats fp32,int8 --m 1,32,128 --rounds 7
import { join } from 'node:path';

import { args, option, randomTensor, require, root } from './common.mjs';

const files = args.filter((a) => a.endsWith('.node'));
const bins = (files.length ? files : [join(root, 'build/Release/turboformer.node')]).map((f) => require(f));
const threads = Number(option('--threads', '1'));
const rounds = Number(option('--rounds', '15'));
const formats = option('--formats', 'fp32,int8,q8_0,q4_0,int4').split(',');
const shapes = option('--shapes', 'l3,dram').split(',');
const ms = option('--m', '1').split(',').map(Number);
const SHAPES = { l3: { K: 4096, N: 4096, rotate: false }, dram: { K: 4096, N: 11008, rotate: true } };
for (const b of bins) b.setNumThreads(threads);
console.log(`threads ${threads}, ${rounds} rounds, builds: ${(files.length ? files : ['this worktree']).map((f, i) => `[${i}] ${f}`).join(' ')}`);

for (const sh of shapes) {
  const { K, N, rotate } = SHAPES[sh];
  const w = randomTensor([N, K], 1 + N);
  for (const M of ms) {
    const x = randomTensor([M, K], 8);
    for (const f of formats) {
      const q = f === 'fp32' ? { data: w.data } : bins[0].quantize(w, f, 32);
      const bytes = q.data.byteLength;
      const sets = rotate ? Math.max(1, Math.ceil((64 << 20) / bytes)) : 1;
      const qs = [q];
      for (let i = 1; i < sets; i++) qs.push({ ...q, data: q.data.slice() });
      const call = (b, qq) => (f === 'fp32' ? b.linear(x, { data: qq.data, shape: [N, K], dtype: 'f32' }) : b.qlinear(x, qq));
      const ref = call(bins[0], q).data;
      const reps = Math.max(3, Math.round(2e8 / bytes / Math.max(1, M / 8)));
      const gbs = bins.map(() => []);
      for (let r = 0; r < rounds; r++)
        for (let bi = 0; bi < bins.length; bi++) {
          for (let i = 0; i < sets; i++) call(bins[bi], qs[i]); // warm-up, and the rotation's first pass
          const c0 = process.cpuUsage();
          for (let i = 0; i < reps; i++) call(bins[bi], qs[i % sets]);
          const c = process.cpuUsage(c0);
          gbs[bi].push((bytes * reps) / ((c.user + c.system) * 1e-6) * 1e-9);
        }
      const lines = [`${sh}${M > 1 ? ` M ${M}` : ''} K ${K} N ${N} ${f}: ${(bytes / 2 ** 20).toFixed(1)} MiB x ${sets}`];
      const gops = (v) => (M > 1 ? ` (${((v * 2 * M * N * K) / bytes).toFixed(1)} GOP/s)` : '');
      for (let bi = 0; bi < bins.length; bi++) {
        const v = gbs[bi].sort((a, b) => b - a);
        const out = call(bins[bi], q).data;
        let num = 0;
        let den = 0;
        for (let i = 0; i < M * N; i++) {
          num += (out[i] - ref[i]) ** 2;
          den += ref[i] ** 2;
        }
        lines.push(`  [${bi}] GB/s per CPU second: best ${v[0].toFixed(1)}${gops(v[0])}, median ${v[v.length >> 1].toFixed(1)}${gops(v[v.length >> 1])}; output vs [0] rel ${Math.sqrt(num / den).toExponential(1)}`);
      }
      console.log(lines.join('\n'));
    }
  }
}
