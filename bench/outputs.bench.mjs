#!/usr/bin/env node
// What a fresh output costs: matmul [M, 64] x [64, N] (little arithmetic per output element, so the output's
// memory shows) with a new result per call against one preallocated `opts.out`, at result sizes from 1.5 to
// 48 MiB, in interleaved rounds (best and median ms). The difference is the allocation and the first-touch page
// faults of the new memory; glibc hands out results of 32 MiB and more as fresh mappings every call, smaller
// ones from its heap when a freed block fits. Run it also under the allocator settings the README gives
// (`GLIBC_TUNABLES=... node bench/outputs.bench.mjs`): the header says which are in effect.
//
//   node bench/outputs.bench.mjs                 1 thread (about 15 s)
//   node bench/outputs.bench.mjs --threads 2 --rounds 5 --json out.json
import { writeFileSync } from 'node:fs';
import { loadDist, option, randomTensor } from './common.mjs';

const [{ binding }] = loadDist('native');
const threads = Number(option('--threads', '1'));
const rounds = Number(option('--rounds', '3'));
binding.setNumThreads(threads);
console.log(
  `turboformer fresh outputs vs opts.out — matmul [M, 64] x [64, N], ${threads} thread(s), ${rounds} interleaved rounds; ` +
    `GLIBC_TUNABLES=${process.env.GLIBC_TUNABLES ?? '(unset)'}`,
);

function times(f, calls) {
  const t = [];
  for (let i = 0; i < calls; i++) {
    const s = process.hrtime.bigint();
    f();
    t.push(Number(process.hrtime.bigint() - s) / 1e6);
  }
  return t;
}
const best = (a) => Math.min(...a);
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];

const rows = [];
for (const [M, N] of [[512, 768], [2048, 1536], [4096, 3072]]) {
  const a = randomTensor([M, 64], 1), b = randomTensor([64, N], 2);
  const out = binding.matmul(a, b, {});
  const calls = M * N > 4e6 ? 20 : 60;
  const fresh = [], reuse = [];
  for (let r = 0; r < rounds; r++) {
    fresh.push(...times(() => binding.matmul(a, b, {}), calls));
    reuse.push(...times(() => binding.matmul(a, b, { out }), calls));
  }
  rows.push({
    result: `[${M}, ${N}]`,
    MiB: +((M * N * 4) / 2 ** 20).toFixed(1),
    'fresh best ms': +best(fresh).toFixed(2),
    'fresh median ms': +median(fresh).toFixed(2),
    'out best ms': +best(reuse).toFixed(2),
    'out median ms': +median(reuse).toFixed(2),
    'fresh / out (median)': +(median(fresh) / median(reuse)).toFixed(2),
  });
}
console.table(rows);
const json = option('--json', '');
if (json) writeFileSync(json, JSON.stringify({ threads, rounds, tunables: process.env.GLIBC_TUNABLES ?? null, rows }, null, 2));
