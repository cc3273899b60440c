#!/usr/bin/env node
// A/B of flash attention between builds, interleaved in one process and timed in CPU time (process.cpuUsage): on a
// shared, loaded machine wall time mostly measures the other processes. Each argument ending in .node is an addon to
// load (e.g. a copy of a baseline build and of the current one); without one, this checkout's build alone. Cases: B = 1,
// 12 heads × 64, each N of --n, each layout of --layouts ('bhnd' [1, H, N, D] read in place; 'bnhd' [1, N, H, D],
// the layout of the onnxruntime comparison in bench/attention.bench.mjs), causal and not; with --ort, also
// onnxruntime-node's com.microsoft MultiHeadAttention on the same 'bnhd' data (1 intra-op thread, no spinning, so its
// CPU time is its work), in the same rounds. GFLOP/s per CPU second = 4·H·N²·D flops (half of that, plus the
// diagonal, for causal) / CPU seconds; per build and case the best and median of --rounds rounds, and the output's
// largest absolute difference from the first build's (0 when the builds agree bitwise).
//
//   cp <baseline checkout>/build/Release/turboformer.node /tmp/base.node; cp build/Release/turboformer.node /tmp/new.node
//   node bench/attention-ab.bench.mjs /tmp/base.node /tmp/new.node --n 4096,8192 --layouts bnhd --ort --rounds 7
//   options: --threads 1, --n 4096, --layouts bhnd, --causal false,true, --rounds 7, --ort, --quick (N 1024, 2 rounds)
import { join } from 'node:path';

import { loadOrt, mhaModel, session } from './peers/onnx.mjs';
import { args, flag, option, randomTensor, require, root } from './common.mjs';

const files = args.filter((a) => a.endsWith('.node'));
const bins = (files.length ? files : [join(root, 'build/Release/turboformer.node')]).map((f) => require(f));
const quick = flag('--quick');
const threads = Number(option('--threads', '1'));
const rounds = Number(option('--rounds', quick ? '2' : '7'));
const sizes = option('--n', quick ? '1024' : '4096').split(',').map(Number);
const layouts = option('--layouts', 'bhnd').split(',');
const modes = option('--causal', 'false,true').split(',').map((s) => s === 'true');
const H = 12;
const D = 64;
for (const b of bins) b.setNumThreads(threads);
const { ort, reason } = flag('--ort') ? await loadOrt() : { ort: null, reason: '' };
if (flag('--ort') && !ort) console.log(`no onnxruntime column: ${reason}`);
console.log(`threads ${threads}, ${rounds} rounds, builds: ${(files.length ? files : ['this worktree']).map((f, i) => `[${i}] ${f}`).join(' ')}`);

const flopsOf = (N, causal) => 4 * H * D * (causal ? (N * (N + 1)) / 2 : N * N);

const cases = []; // flash, one timing list per build
const peers = []; // onnxruntime, one timing list
for (const N of sizes)
  for (const layout of layouts) {
    const shape = layout === 'bnhd' ? [1, N, H, D] : [1, H, N, D];
    const q = randomTensor(shape, 1);
    const k = randomTensor(shape, 2);
    const v = randomTensor(shape, 3);
    // one preallocated output for every call (opts.out): the kernel only, not the page faults of a fresh output
    const out = bins[0].alloc('f32', shape);
    for (const causal of modes) {
      cases.push({ name: `flash N ${N} ${layout}${causal ? ' causal' : ''}`, flops: flopsOf(N, causal), run: (b) => b.attention(q, k, v, { causal, layout, out }) });
      if (ort && layout === 'bnhd') {
        const sess = await session(ort, mhaModel(N, H, D, causal), threads);
        const feeds = Object.fromEntries(Object.entries({ q, k, v }).map(([n, x]) => [n, new ort.Tensor('float32', x.data, [1, N, H * D])]));
        peers.push({ name: `onnxruntime N ${N}${causal ? ' causal' : ''}`, flops: flopsOf(N, causal), sess, feeds, gf: [] });
      }
    }
  }

for (const c of cases) {
  const ref = c.run(bins[0]).data.slice();
  c.diff = bins.map((b) => {
    const o = c.run(b).data;
    let m = 0;
    for (let i = 0; i < o.length; i++) m = Math.max(m, Math.abs(o[i] - ref[i]));
    return m;
  });
  c.gf = bins.map(() => []);
}
const gflops = (flops, t) => flops / ((t.user + t.system) * 1e-6) / 1e9;
for (let r = 0; r < rounds; r++) {
  for (const p of peers) {
    const t0 = process.cpuUsage();
    await p.sess.run(p.feeds);
    p.gf.push(gflops(p.flops, process.cpuUsage(t0)));
  }
  for (const c of cases)
    for (let bi = 0; bi < bins.length; bi++) {
      const t0 = process.cpuUsage();
      c.run(bins[bi]);
      c.gf[bi].push(gflops(c.flops, process.cpuUsage(t0)));
    }
}
const best = (a) => Math.max(...a);
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
for (const c of cases)
  console.log(`${c.name.padEnd(26)} ${bins.map((_, bi) => `[${bi}] GFLOP/s per CPU s best ${best(c.gf[bi]).toFixed(1)} median ${median(c.gf[bi]).toFixed(1)}, max |diff| vs [0] ${c.diff[bi].toExponential(1)}`).join(' | ')}`);
for (const p of peers) {
  console.log(`${p.name.padEnd(26)} GFLOP/s per CPU s best ${best(p.gf).toFixed(1)} median ${median(p.gf).toFixed(1)}`);
  await p.sess.release();
}
