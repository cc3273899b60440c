#!/usr/bin/env node
// Mixture-of-Experts benchmark: moe() with 8 experts, top-2, a Mixtral-like SwiGLU FFN scaled to fit (d = 512,
// ffn = 1792) at 1, 16 and 512 tokens (4096 with --large), against
//   dense  a SwiGLU FFN with the same active parameters (ffn = 2 · 1792), both as a chain of linear/activation/mul
//          ops and through moe() with one expert (top-1, the same kernels); ratios use the faster of the two,
//   naive  every expert on every token with full masks (weights 0 for the experts a token did not choose),
// in interleaved rounds; both expert schedules ('sequential', 'chunked'). Reports ms (median of rounds), GFLOP/s of
// the active FLOPs (2 · tokens · 3 · d · ffn · k) and the overhead ratio moe / dense (target at 512 tokens: ≤ 1.3).
//
//   node bench/moe.bench.mjs                   all threads (about half a minute on 2 cores)
//   node bench/moe.bench.mjs --threads 1 --quick --large
//   node bench/moe.bench.mjs --json bench/results/moe.json
import { writeFileSync } from 'node:fs';
import { flag, loadDist, option, randomTensor } from './common.mjs';

const [{ binding }] = loadDist('native');

const quick = flag('--quick');
const rounds = Number(option('--rounds', quick ? 3 : 5));
const threads = Number(option('--threads', String(binding.info().threads.hardware)));
const minTime = quick ? 0.1 : 0.3;
binding.setNumThreads(threads);

const E = 8, K = 2, D = 512, F = 1792;
let seed = 12345;
const tensor = (shape, scale = 1) => randomTensor(shape, seed++, 3.46 * scale); // unit variance before the scale
const s1 = 1 / Math.sqrt(D), s2 = 1 / Math.sqrt(F);
const experts = {
  kind: 'swiglu',
  w1: Array.from({ length: E }, () => tensor([F, D], s1)),
  w3: Array.from({ length: E }, () => tensor([F, D], s1)),
  w2: Array.from({ length: E }, () => tensor([D, F], s2)),
};
const router = tensor([E, D], s1);
const dW1 = tensor([K * F, D], s1), dW3 = tensor([K * F, D], s1), dW2 = tensor([D, K * F], s2);

// The same dense FFN through moe() with one expert, top-1 (weight exactly 1): the GEMMs see M = tokens, N = 2·ffn.
const dense1 = { kind: 'swiglu', w1: [dW1], w3: [dW3], w2: [dW2] };
const router1 = tensor([1, D], s1);
function denseFfn(x) {
  const h = binding.mul(binding.activation(binding.linear(x, dW1), 'silu'), binding.linear(x, dW3));
  return binding.linear(h, dW2);
}
function naive(x, T) {
  // every expert on every token; the routing weight is 0 for the experts a token did not choose
  const logits = binding.linear(x, router);
  const r = binding.moeRoute(logits, { kind: 'mixtral', topK: K });
  const out = new Float32Array(T * D);
  const mask = new Float32Array(T);
  for (let e = 0; e < E; e++) {
    mask.fill(0);
    for (let t = 0; t < T; t++) for (let s = 0; s < K; s++) if (r.experts.data[t * K + s] === e) mask[t] = r.weights.data[t * K + s];
    const h = binding.mul(binding.activation(binding.linear(x, experts.w1[e]), 'silu'), binding.linear(x, experts.w3[e]));
    const y = binding.linear(h, experts.w2[e]).data;
    for (let t = 0; t < T; t++) {
      const m = mask[t];
      for (let i = 0; i < D; i++) out[t * D + i] += m * y[t * D + i];
    }
  }
  return out;
}

function time(fn) {
  fn();
  let n = 0;
  const t0 = process.hrtime.bigint();
  let el = 0;
  do {
    fn();
    n++;
    el = Number(process.hrtime.bigint() - t0) / 1e9;
  } while (el < minTime);
  return (el / n) * 1e3;
}
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

const peak = binding.peakProbe(undefined, threads);
console.log(`FMA peak of the active level (${peak.isa}, ${peak.kernel}) on ${threads} thread(s): ${peak.gflops.toFixed(1)} GFLOP/s`);
const tokens = [1, 16, 512, ...(flag('--large') ? [4096] : [])];
const results = [];
console.log(`moe: E = ${E}, top-${K}, d = ${D}, ffn = ${F}; dense: ffn = ${K * F}; ${threads} thread(s); median of ${rounds} rounds`);
console.log('tokens | moe seq ms | moe chunked ms | moe auto ms | dense ops ms | dense moe(E=1) ms | naive ms | GFLOP/s (auto) | % peak | auto/dense | seq/dense | chunked/dense | naive/auto');
console.log('(ratios against the faster dense form)');
for (const T of tokens) {
  const x = tensor([T, D]);
  const cases = {
    seq: () => binding.moe(x, router, experts, { kind: 'mixtral', topK: K, schedule: 'sequential' }),
    chunked: () => binding.moe(x, router, experts, { kind: 'mixtral', topK: K, schedule: 'chunked' }),
    auto: () => binding.moe(x, router, experts, { kind: 'mixtral', topK: K }),
    dense: () => denseFfn(x),
    dense1: () => binding.moe(x, router1, dense1, { kind: 'mixtral', topK: 1 }),
    naive: () => naive(x, T),
  };
  const ms = { seq: [], chunked: [], auto: [], dense: [], dense1: [], naive: [] };
  for (let r = 0; r < rounds; r++) for (const [k, fn] of Object.entries(cases)) ms[k].push(time(fn));
  const m = Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, median(v)]));
  const flops = 2 * T * 3 * D * F * K;
  const dn = Math.min(m.dense, m.dense1); // the faster dense baseline
  const row = {
    tokens: T, ...m, gflops: flops / (m.auto * 1e6), peakFraction: flops / (m.auto * 1e6) / peak.gflops,
    denseBest: dn, ratioAuto: m.auto / dn, ratioSeq: m.seq / dn, ratioChunked: m.chunked / dn, naiveOverMoe: m.naive / m.auto,
  };
  results.push(row);
  const f = (v, w, p = 3) => v.toFixed(p).padStart(w);
  console.log(`${String(T).padStart(6)} | ${f(m.seq, 10)} | ${f(m.chunked, 14)} | ${f(m.auto, 11)} | ${f(m.dense, 12)} | ${f(m.dense1, 17)} | ${f(m.naive, 8)} | ${f(row.gflops, 14, 1)} | ${f(100 * row.peakFraction, 6, 0)} | ${f(row.ratioAuto, 10, 2)} | ${f(row.ratioSeq, 9, 2)} | ${f(row.ratioChunked, 13, 2)} | ${row.naiveOverMoe.toFixed(2)}`);
}
const r512 = results.find((r) => r.tokens === 512);
if (r512) console.log(`512-token overhead ratio (moe / the faster dense FFN with the same active parameters): ${r512.ratioAuto.toFixed(2)} (auto; sequential ${r512.ratioSeq.toFixed(2)}, chunked ${r512.ratioChunked.toFixed(2)}; target ≤ 1.3)`);
const out = option('--json', null);
if (out) writeFileSync(out, JSON.stringify({ threads, E, K, D, F, results }, null, 2));
