#!/usr/bin/env node
// A/B of block-sparse attention between builds, interleaved in one process and timed in CPU time (process.cpuUsage):
// on a shared, loaded machine wall time mostly measures the other processes. Each argument ending in .node is an addon
// to load (e.g. a copy of a baseline build and of the current one); without one, this checkout's build alone. Cases:
// the DeepSpeed-style BigBird and BSLongformer layouts of bench/blocksparse.bench.mjs (B = 1, 12 heads × 64, causal and
// not) at --blocks and --n, plus dense flash attention at the same N (its GFLOP/s per CPU second is the "per present
// block" reference, from the same build). FLOPs are counted as in bench/blocksparse.bench.mjs. Reports per build and
// case the best and median of --rounds rounds, the ratio to flash (best over best), and the output's largest absolute
// difference from the first build's (0 when the builds agree bitwise), and for each later build the median over rounds
// of its throughput over the first build's in the same round (paired: steadier on a loaded machine).
//
//   cp <baseline checkout>/build/Release/turboformer.node /tmp/base.node; cp build/Release/turboformer.node /tmp/new.node
//   node bench/blocksparse-ab.bench.mjs /tmp/base.node /tmp/new.node --rounds 7 --blocks 16,32
//   options: --threads 1, --n 4096, --blocks 16,32,64, --patterns bigbird,bslongformer, --causal false,true, --no-flash,
//   --quick (N 1024, 2 rounds)
import { join } from 'node:path';

import { args, flag, loadDist, option, randomTensor, require, root } from './common.mjs';

const [layouts] = loadDist('ops/layouts');
const files = args.filter((a) => a.endsWith('.node'));
const bins = (files.length ? files : [join(root, 'build/Release/turboformer.node')]).map((f) => require(f));
const threads = Number(option('--threads', '1'));
const quick = flag('--quick'); // (npm run bench -- --quick): N 1024, 2 rounds
const rounds = Number(option('--rounds', quick ? '2' : '7'));
const blocks = option('--blocks', '16,32,64').split(',').map(Number);
const patterns = option('--patterns', 'bigbird,bslongformer').split(',');
const modes = option('--causal', 'false,true').split(',').map((s) => s === 'true');
const N = Number(option('--n', quick ? '1024' : '4096'));
const withFlash = !args.includes('--no-flash');
const H = 12;
const D = 64;
for (const b of bins) b.setNumThreads(threads);
console.log(`threads ${threads}, ${rounds} rounds, N ${N}, builds: ${(files.length ? files : ['this worktree']).map((f, i) => `[${i}] ${f}`).join(' ')}`);

function layoutFlops(layout, block, causal) {
  const [, nb] = layout.shape;
  let pairs = 0;
  for (let i = 0; i < layout.data.length; i++) {
    if (!layout.data[i]) continue;
    const r = Math.floor(i / nb) % nb;
    const c = i % nb;
    pairs += !causal || c < r ? block * block : c === r ? (block * (block + 1)) / 2 : 0;
  }
  return 4 * D * pairs;
}

const q = randomTensor([1, H, N, D], 1);
const k = randomTensor([1, H, N, D], 2);
const v = randomTensor([1, H, N, D], 3);
// one preallocated output for every call (opts.out): the kernels only, not the page faults of a fresh output
const out = bins[0].alloc('f32', [1, H, N, D]);
const cases = [];
if (withFlash)
  for (const causal of modes)
    cases.push({ name: `flash${causal ? ' causal' : ''}`, causal, flash: true, flops: 4 * H * D * (causal ? (N * (N + 1)) / 2 : N * N), run: (b) => b.attention(q, k, v, { causal, out }) });
for (const block of blocks)
  for (const pattern of patterns)
    for (const causal of modes) {
      const build = pattern === 'bigbird' ? layouts.bigbirdLayout : layouts.bslongformerLayout;
      const layout = build({ numHeads: H, block, seqLen: N, seed: 1, attention: causal ? 'unidirectional' : 'bidirectional' });
      const opts = { block, causal, out };
      cases.push({ name: `${pattern} ${block}${causal ? ' causal' : ''}`, causal, flops: layoutFlops(layout, block, causal), run: (b) => b.blockSparseAttention(q, k, v, layout, opts) });
    }

for (const c of cases) {
  const ref = c.run(bins[0]).data.slice();
  c.diff = bins.map((b) => {
    const o = c.run(b).data.slice();
    let m = 0;
    for (let i = 0; i < o.length; i++) m = Math.max(m, Math.abs(o[i] - ref[i]));
    return m;
  });
  c.gf = bins.map(() => []);
  const t0 = process.cpuUsage();
  c.run(bins[0]);
  const t = process.cpuUsage(t0);
  c.reps = Math.max(1, Math.round(0.25 / ((t.user + t.system) * 1e-6)));
}
for (let r = 0; r < rounds; r++)
  for (const c of cases)
    for (let bi = 0; bi < bins.length; bi++) {
      const c0 = process.cpuUsage();
      for (let i = 0; i < c.reps; i++) c.run(bins[bi]);
      const t = process.cpuUsage(c0);
      c.gf[bi].push((c.flops * c.reps) / ((t.user + t.system) * 1e-6) / 1e9);
    }
const best = (a) => Math.max(...a);
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
for (const c of cases) {
  const f = cases.find((x) => x.flash && x.causal === c.causal);
  const parts = bins.map((_, bi) => {
    const ratio = f && !c.flash ? `, x flash ${(best(c.gf[bi]) / best(f.gf[bi])).toFixed(2)} (median ${(median(c.gf[bi]) / median(f.gf[bi])).toFixed(2)})` : '';
    // per round, this build's throughput over build [0]'s in the same round (adjacent in time): the median of these
    // ratios is far steadier under a varying load than a ratio of bests or of medians
    const paired = bi ? `, paired median vs [0] ${median(c.gf[bi].map((g, r) => g / c.gf[0][r])).toFixed(3)}x` : '';
    return `[${bi}] GFLOP/s per CPU s best ${best(c.gf[bi]).toFixed(1)} median ${median(c.gf[bi]).toFixed(1)}${ratio}${paired}, max |diff| vs [0] ${c.diff[bi].toExponential(1)}`;
  });
  console.log(`${c.name.padEnd(24)} ${parts.join(' | ')}`);
}
