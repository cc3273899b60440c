#!/usr/bin/env node
// Approximate attention benchmark (issue 5 item 5): Performer FAVOR+ (ops.favorAttention, 256 features from
// gaussianOrthogonalRandomMatrix, softmax kernel, non-causal and causal), Linformer (ops.linformerAttention,
// keys and values projected to 256 positions, projections [N, 256]), Reformer LSH attention (ops.lshAttention,
// shared QK = q, 2 hash rounds, chunks of 64 with one chunk before, buckets as upstream's _set_num_buckets:
// 2^⌊log2(2N/64)⌋, factorised into two powers of two above 128; non-causal and causal) and Reformer local
// attention (ops.localAttention, chunks of 64, one before) against exact flash attention
// (ops.attention, non-causal and causal) on the same inputs, B = 1, 8 heads × 64, 'bhnd', 1 thread first.
// "lsh fixed nb" (and causal): the same LSH attention with a fixed bucket count (--lsh-fixed-buckets, 128) at
// every length, so that its growth is that of the O(N·chunk) attention alone (upstream's rule hashes into
// more buckets as N grows: O(N^1.5) hashing).
// The implementations and the lengths run side by side in interleaved rounds (best of; every round visits
// every length); a call over a second gets fewer rounds (the machine is shared). Flash is skipped above --flash-max (its cost is quadratic).
//
// Reported: time per call, the speed-up over flash in the same mode (Linformer has no causal form: it is
// compared with non-causal flash), the crossover length where each approximation becomes faster than flash
// (interpolated log-log between the two measured lengths around it), the growth t(2N)/t(N) (2 = linear,
// 4 = quadratic) by wall time and by the process's CPU time (steadier on a shared machine), and peak extra memory: each implementation runs once per length in a child process, which
// reports its peak RSS (Linux VmHWM, reset through /proc/self/clear_refs just before the call) above its RSS
// with the inputs allocated; that includes the [1, 8, N, 64] output ("out MiB"). NaN where /proc is missing.
// --reuse-out: every implementation (flash, FAVOR+, Linformer, LSH, local) writes its result into one
// preallocated [1, 8, N, 64] output per length (opts.out) in the timed calls, so the ratios measure the kernels
// and not the page faults of a fresh output (the memory children keep fresh outputs). Default: fresh outputs.
// The header line says which mode ran.
//
//   npm run build && node bench/approx-attention.bench.mjs     N = 1024 … 65536 (~2 min on 2 cores)
//   node bench/approx-attention.bench.mjs --quick               N = 1024 … 16384, fewer rounds (~30 s)
//   node bench/approx-attention.bench.mjs --flash-max 8192      skip flash above 8192
//   node bench/approx-attention.bench.mjs --threads 1,2 --no-mem --json bench/results/approx-attention.json
//   options: --sizes 1024,4096  --rounds 3  --big-rounds 2  --mem-flash-max N (flash memory runs up to N)
//            --lsh-fixed-buckets 128 (the bucket count of the "lsh fixed nb" rows)  --reuse-out (opts.out, above)
//            --cold (64 MiB read before each timed call: every length starts with its inputs out of cache)
//            --only lsh,favor (time only these implementations: ids flash, flash-causal, favor, favor-causal,
//            linformer, lsh, lsh-causal, local, lsh-fixed, lsh-fixed-causal)
// Growth is reported three ways: the ratio of the best times, the ratio of the best CPU times, and per round
// (t_r(2N)/t_r(N) with both lengths timed in the same round r, t_r the mean of its calls there): best / median over the rounds, wall and CPU;
// more rounds (--rounds 7 --big-rounds 5) make the median steadier. The load average is printed with them.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { flag, loadDist, option, randomTensor } from './common.mjs';

const here = fileURLToPath(import.meta.url);
const [{ binding }, favor, lsh] = loadDist('native', 'ops/favor', 'ops/lsh');

const quick = flag('--quick');
const H = 8;
const D = 64;
const FEATURES = 256;
const KP = 256;
const sizes = option('--sizes', quick ? '1024,2048,4096,8192,16384' : '1024,2048,4096,8192,16384,32768,65536').split(',').map(Number).sort((a, b) => a - b);
const threadCounts = option('--threads', '1').split(',').map(Number);
const flashMax = Number(option('--flash-max', '16384'));
const memFlashMax = Math.min(flashMax, Number(option('--mem-flash-max', quick ? '4096' : String(flashMax))));
const rounds = Number(option('--rounds', quick ? 2 : 3));
const bigRounds = Math.min(rounds, Number(option('--big-rounds', quick ? 1 : 2)));
const jsonFile = option('--json', '');
const reuseOut = flag('--reuse-out') && !flag('--child');

const IMPLS = [
  { id: 'flash', label: 'flash', flash: true },
  { id: 'flash-causal', label: 'flash causal', flash: true },
  { id: 'favor', label: 'favor+', ref: 'flash' },
  { id: 'favor-causal', label: 'favor+ causal', ref: 'flash-causal' },
  { id: 'linformer', label: 'linformer', ref: 'flash' },
  { id: 'lsh', label: 'lsh', ref: 'flash' },
  { id: 'lsh-causal', label: 'lsh causal', ref: 'flash-causal' },
  { id: 'local', label: 'local', ref: 'flash' },
  { id: 'lsh-fixed', label: 'lsh fixed nb', ref: 'flash' },
  { id: 'lsh-fixed-causal', label: 'lsh fixed nb causal', ref: 'flash-causal' },
];
// --only lsh,favor: time only these implementations (ids as in IMPLS; the others' columns stay empty)
const only = option('--only', '').split(',').filter(Boolean);
const LSH_CHUNK = 64;
const LSH_HASHES = 2;
// upstream ReformerConfig num_buckets=None: 2^⌊log2(2N/chunk)⌋, split into two factors when above the limit
// 2·max(√(maxPositions/chunk), chunk) = 128 here (maxPositions = N)
function lshBuckets(N) {
  const p = Math.floor(Math.log2((2 * N) / LSH_CHUNK));
  const limit = 2 * Math.max(Math.floor(Math.sqrt(N / LSH_CHUNK)), LSH_CHUNK);
  return 2 ** p > limit ? [2 ** Math.floor(p / 2), 2 ** (p - Math.floor(p / 2))] : 2 ** p;
}
// The same LSH attention with a bucket count that does not grow with N (--lsh-fixed-buckets, default 128:
// upstream's rule at N = 4096): hashing then costs O(N) too, and the growth is the kernel's alone
const LSH_FIXED_BUCKETS = Number(option('--lsh-fixed-buckets', '128'));
const projection = favor.gaussianOrthogonalRandomMatrix(FEATURES, D, { seed: 1 });

// Inputs of one length and a runner per implementation.
function setup(N) {
  const x = { q: randomTensor([1, H, N, D], 1), k: randomTensor([1, H, N, D], 2), v: randomTensor([1, H, N, D], 3) };
  // upstream initialises the projections uniform in ±1/√kp
  x.projK = randomTensor([N, KP], 4, 2 / Math.sqrt(KP));
  x.projV = randomTensor([N, KP], 5, 2 / Math.sqrt(KP));
  const nb = lshBuckets(N);
  const rot = lsh.lshRandomRotations(H, D, LSH_HASHES, nb, { seed: 1 });
  const lshOpts = { numBuckets: nb, numHashes: LSH_HASHES, chunkLength: LSH_CHUNK, numChunksBefore: 1, numChunksAfter: 0 };
  const rotFixed = lsh.lshRandomRotations(H, D, LSH_HASHES, LSH_FIXED_BUCKETS, { seed: 1 });
  // --reuse-out: one output of this length for every implementation (undefined: a fresh one per call)
  const out = reuseOut ? binding.alloc('f32', [1, H, N, D]) : undefined;
  lshOpts.out = out;
  const fixedOpts = { ...lshOpts, numBuckets: LSH_FIXED_BUCKETS };
  const run = {
    flash: () => binding.attention(x.q, x.k, x.v, { causal: false, out }),
    'flash-causal': () => binding.attention(x.q, x.k, x.v, { causal: true, out }),
    favor: () => binding.favorAttention(x.q, x.k, x.v, projection, { causal: false, out }),
    'favor-causal': () => binding.favorAttention(x.q, x.k, x.v, projection, { causal: true, out }),
    linformer: () => binding.linformerAttention(x.q, x.k, x.v, x.projK, x.projV, { out }),
    lsh: () => binding.lshAttention(x.q, x.v, rot, lshOpts),
    'lsh-causal': () => binding.lshAttention(x.q, x.v, rot, { ...lshOpts, causal: true }),
    'lsh-fixed': () => binding.lshAttention(x.q, x.v, rotFixed, fixedOpts),
    'lsh-fixed-causal': () => binding.lshAttention(x.q, x.v, rotFixed, { ...fixedOpts, causal: true }),
    local: () => binding.localAttention(x.q, x.k, x.v, { chunkLength: LSH_CHUNK, numChunksBefore: 1, numChunksAfter: 0, out }),
  };
  return run;
}

// ---- child mode: one call of one implementation, print the peak RSS above the RSS with inputs allocated ----
if (flag('--child')) {
  const impl = option('--impl', 'flash');
  const N = Number(option('--n', '1024'));
  binding.setNumThreads(Number(option('--threads', '1')));
  const fn = setup(N)[impl];
  const hwm = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
  let peak = NaN;
  try {
    const base = process.memoryUsage().rss;
    writeFileSync('/proc/self/clear_refs', '5'); // Linux: resets VmHWM to the current RSS
    fn();
    peak = Math.max(hwm() - base, 0);
  } catch {
    fn(); // no /proc: run anyway, no measurement
  }
  process.stdout.write(JSON.stringify({ peakMiB: peak / 2 ** 20 }));
  process.exit(0);
}

function childPeak(impl, N, threads) {
  const r = spawnSync(process.execPath, [here, '--child', '--impl', impl, '--n', String(N), '--threads', String(threads)], { encoding: 'utf8', timeout: 300_000 });
  try {
    return JSON.parse(r.stdout).peakMiB;
  } catch {
    return NaN;
  }
}

const now = () => Number(process.hrtime.bigint()) / 1e9;
// CPU time of the process (all its threads): unlike wall time, it does not count the time a busy neighbour
// holds the core, so its growth is the steadier measure on a shared machine (with one thread)
const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
// --cold: before each timed call, read 64 MiB (twice the L3 here) so that every length starts with its inputs
// in memory, not in cache: repeated calls otherwise keep the inputs of the small lengths in L3 (8 heads x 4096
// x 64 is 8 MiB a tensor) and not those of the large ones, which bends the growth figures at the small end
const cold = flag('--cold');
function timed(c) {
  if (cold) binding.bandwidthProbe(64, 1, 1);
  const t0 = now();
  const c0 = cpuNow();
  c.run();
  c.cpu.push(cpuNow() - c0);
  return now() - t0;
}
// c.byRound[r] / c.cpuByRound[r]: the mean wall / CPU time of the calls of round r (for the per-round growth
// figures). The mean, not the best: a short call runs several times a round and a long one once, and the best of
// 3 calls sat 6-9% below a single call on the loaded 2-core machine (LSH at N = 4096, 30 rounds), which made
// t_r(2N)/t_r(N) read that much too high wherever the number of calls per round changes (4096 -> 8192 -> 16384)
function sample(c, round) {
  const keep = (t) => {
    c.times.push(t);
    const n = (c.inRound[round] ?? 0) + 1;
    c.inRound[round] = n;
    c.byRound[round] = ((c.byRound[round] ?? 0) * (n - 1) + t) / n;
    c.cpuByRound[round] = ((c.cpuByRound[round] ?? 0) * (n - 1) + c.cpu[c.cpu.length - 1]) / n;
  };
  if (round === 0) {
    c.est = timed(c); // warm; counted as a sample when it is over a second
    if (c.est > 1) {
      keep(c.est);
      return;
    }
    c.cpu.pop();
  }
  if (round >= (c.est > 1 ? bigRounds : rounds)) return;
  const reps = Math.max(1, Math.min(10, Math.round((quick ? 0.1 : 0.2) / c.est)));
  for (let r = 0; r < reps; r++) keep(timed(c));
}

// Growth t(2N)/t(N) within each round (both lengths measured in the same round, so a slow spell of the shared
// machine that spans a round bends neither side alone): {best, median} over the rounds that measured both.
function roundGrowth(a, b) {
  const g = [];
  for (let r = 0; r < Math.min(a.length, b.length); r++) if (Number.isFinite(a[r]) && Number.isFinite(b[r])) g.push(b[r] / a[r]);
  if (!g.length) return { best: NaN, median: NaN, n: 0 };
  g.sort((x, y) => x - y);
  const m = g.length >> 1;
  return { best: g[0], median: g.length % 2 ? g[m] : (g[m - 1] + g[m]) / 2, n: g.length };
}

// Where t_approx / t_flash crosses 1, interpolated log-log between the measured lengths around it.
function crossover(ns, ta, tf) {
  const pts = ns.map((N, i) => ({ N, r: ta[i] / tf[i] })).filter((p) => Number.isFinite(p.r));
  if (!pts.length) return { text: 'no flash timing', N: null };
  if (pts[0].r < 1) return { text: `N ≤ ${pts[0].N} (already ${(1 / pts[0].r).toFixed(1)}× faster there)`, N: pts[0].N };
  for (let i = 1; i < pts.length; i++) {
    if (pts[i].r < 1) {
      const [a, b] = [pts[i - 1], pts[i]];
      const x = Math.log(a.r) / (Math.log(a.r) - Math.log(b.r));
      const n = Math.round(a.N * (b.N / a.N) ** x);
      return { text: `N ≈ ${n} (between ${a.N} and ${b.N})`, N: n };
    }
  }
  const last = pts[pts.length - 1];
  return { text: `N > ${last.N} (still ${last.r.toFixed(2)}× flash's time there)`, N: null };
}

const memFmt = (x) => (Number.isFinite(x) ? Number(x.toFixed(1)) : 'NaN');
const fmt = (x, d = 1) => (Number.isFinite(x) ? Number(x.toFixed(d)) : '');
const info = binding.info();
const results = {
  date: '',
  machine: { isa: info.isa.active, hardwareThreads: info.threads.hardware },
  config: { B: 1, H, D, favorFeatures: FEATURES, linformerK: KP, lsh: { hashes: LSH_HASHES, chunk: LSH_CHUNK, before: 1, buckets: Object.fromEntries(sizes.map((N) => [N, lshBuckets(N)])), fixedBuckets: LSH_FIXED_BUCKETS }, sizes, flashMax, rounds, bigRounds, reuseOut },
  threads: {},
};
console.log(`turboformer approximate attention — isa ${info.isa.active}, B = 1, ${H} heads × ${D}; FAVOR+ ${FEATURES} features, Linformer k = ${KP}, LSH ${LSH_HASHES} hashes × chunks of ${LSH_CHUNK} (1 before; "lsh fixed nb": ${LSH_FIXED_BUCKETS} buckets at every N), local chunks of ${LSH_CHUNK}, vs flash; ${rounds} interleaved rounds (calls over 1 s: ${bigRounds}); outputs: ${reuseOut ? 'reused (--reuse-out: opts.out, one per N, for every implementation)' : 'fresh per call (default; --reuse-out to reuse one)'}; caches: ${cold ? 'flushed before each call (--cold)' : 'warm (default; --cold flushes them before each call)'}`);
for (const t of threadCounts) {
  binding.setNumThreads(t);
  const peaks = [];
  const bws = [];
  const time = {}; // time[impl][N] = best seconds
  const byRound = {}; // byRound[impl][N] = [best seconds of each round], cpuByRound the same in CPU seconds
  const cpuByRound = {};
  const cpuTime = {}; // cpuTime[impl][N] = best CPU seconds
  for (const impl of IMPLS) time[impl.id] = {};
  for (const impl of IMPLS) cpuTime[impl.id] = {};
  for (const impl of IMPLS) byRound[impl.id] = {};
  for (const impl of IMPLS) cpuByRound[impl.id] = {};
  // Every length's inputs first, then rounds over all lengths (and within a length over the implementations):
  // a slow spell of the machine then costs one round of every length, not every round of one length, which
  // would bend the growth figures.
  const perN = sizes.map((N) => {
    const run = setup(N);
    return { N, cases: IMPLS.filter((im) => (!im.flash || N <= flashMax) && (!only.length || only.includes(im.id))).map((im) => ({ id: im.id, run: run[im.id], times: [], cpu: [], byRound: [], cpuByRound: [], inRound: [], est: 0 })) };
  });
  const load0 = loadavg();
  for (let r = 0; r < rounds; r++) {
    if (r < bigRounds) {
      peaks.push(binding.peakProbe(20_000_000, t).gflops);
      bws.push(binding.bandwidthProbe(256, t, 2).gbps);
    }
    for (const { cases } of perN) for (const c of cases) sample(c, r);
  }
  for (const { N, cases } of perN) {
    for (const c of cases) {
      time[c.id][N] = Math.min(...c.times);
      cpuTime[c.id][N] = Math.min(...c.cpu);
      byRound[c.id][N] = c.byRound;
      cpuByRound[c.id][N] = c.cpuByRound;
    }
    const line = IMPLS.map((im) => `${im.label} ${Number.isFinite(time[im.id][N]) ? `${(time[im.id][N] * 1e3).toFixed(1)} ms` : 'skipped'}`).join(', ');
    console.log(`N = ${N}: ${line}`);
  }
  const peak = Math.max(...peaks);
  const bw = Math.max(...bws);
  const load1 = loadavg();
  console.log(`load average (1, 5, 15 min) before the rounds ${load0.map((x) => x.toFixed(2)).join(', ')}, after ${load1.map((x) => x.toFixed(2)).join(', ')} (${info.threads.hardware} hardware threads)`);
  console.log(`\n${t} thread${t > 1 ? 's' : ''}: FMA peak ${peak.toFixed(1)} GFLOP/s (${(peak / t).toFixed(1)} per thread), read bandwidth ${bw.toFixed(1)} GB/s (probes, best of the rounds); time per call in ms (best of):`);
  const T = (id, N) => time[id][N] ?? NaN;
  const timeRows = sizes.map((N) => {
    const row = { N };
    for (const im of IMPLS) row[`${im.label} ms`] = Number.isFinite(T(im.id, N)) ? fmt(T(im.id, N) * 1e3, 2) : 'skipped';
    row['flash GFLOP/s'] = fmt((4 * H * N * N * D) / T('flash', N) / 1e9);
    for (const im of IMPLS.filter((x) => x.ref)) row[`${im.label} ×`] = fmt(T(im.ref, N) / T(im.id, N), 2);
    return row;
  });
  console.table(timeRows);
  if (sizes.some((N) => N > flashMax)) console.log(`flash skipped above N = ${flashMax} (--flash-max): quadratic cost. "×" = speed-up over flash in the same mode (linformer vs non-causal flash).`);
  console.log('growth t(2N)/t(N) (2 = linear, 4 = quadratic):');
  const growthRows = sizes.filter((N) => sizes.includes(2 * N)).map((N) => {
    const row = { N, '2N': 2 * N };
    for (const im of IMPLS) row[im.label] = fmt(T(im.id, 2 * N) / T(im.id, N), 2);
    return row;
  });
  console.table(growthRows);
  console.log('growth by CPU time (the process\'s user + system time per call, best of; steadier when a neighbour shares the core):');
  const C = (id, N) => cpuTime[id][N] ?? NaN;
  const cpuGrowthRows = sizes.filter((N) => sizes.includes(2 * N)).map((N) => {
    const row = { N, '2N': 2 * N };
    for (const im of IMPLS) row[im.label] = fmt(C(im.id, 2 * N) / C(im.id, N), 2);
    return row;
  });
  console.table(cpuGrowthRows);
  // per-round growth: best / median of t_r(2N)/t_r(N) over the rounds r (wall and CPU time)
  const roundRows = (src) =>
    sizes.filter((N) => sizes.includes(2 * N)).map((N) => {
      const row = { N, '2N': 2 * N };
      for (const im of IMPLS) {
        const g = roundGrowth(src[im.id][N] ?? [], src[im.id][2 * N] ?? []);
        row[im.label] = g.n ? `${g.best.toFixed(2)} / ${g.median.toFixed(2)}` : '';
        row[`${im.label} best`] = fmt(g.best, 3);
        row[`${im.label} median`] = fmt(g.median, 3);
      }
      return row;
    });
  const shown = (rows) => rows.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !/ (best|median)$/.test(k))));
  const roundGrowthRows = roundRows(byRound);
  const cpuRoundGrowthRows = roundRows(cpuByRound);
  console.log('growth within each round, best / median over the rounds (wall time):');
  console.table(shown(roundGrowthRows));
  console.log('growth within each round, best / median over the rounds (CPU time):');
  console.table(shown(cpuRoundGrowthRows));
  const cross = {};
  console.log('crossover (the length from which the approximation is faster than flash in the same mode):');
  for (const im of IMPLS.filter((x) => x.ref)) {
    const ns = sizes.filter((N) => N <= flashMax);
    cross[im.id] = crossover(ns, ns.map((N) => T(im.id, N)), ns.map((N) => T(im.ref, N)));
    console.log(`  ${im.label.padEnd(14)} vs ${im.ref.replace('-', ' ').padEnd(13)} ${cross[im.id].text}`);
  }
  // the issue's targets: growth ≤ 2.2 from 4096 up, ≥ 4× faster than flash at 16384
  for (const im of IMPLS.filter((x) => x.ref)) {
    const g = growthRows.filter((r) => r.N >= 4096).map((r) => r[im.label]).filter((x) => typeof x === 'number');
    const gc = cpuGrowthRows.filter((r) => r.N >= 4096).map((r) => r[im.label]).filter((x) => typeof x === 'number');
    const s = T(im.ref, 16384) / T(im.id, 16384);
    const big = (rows, k) => rows.filter((r) => r.N >= 4096).map((r) => r[`${im.label} ${k}`]).filter((x) => typeof x === 'number');
    const mx = (a) => (a.length ? Math.max(...a).toFixed(2) : 'n/a');
    console.log(`  ${im.label.padEnd(14)} max t(2N)/t(N) from 4096: ${g.length ? Math.max(...g).toFixed(2) : 'n/a'} wall, ${gc.length ? Math.max(...gc).toFixed(2) : 'n/a'} CPU; per round best / median ${mx(big(roundGrowthRows, 'best'))} / ${mx(big(roundGrowthRows, 'median'))} wall, ${mx(big(cpuRoundGrowthRows, 'best'))} / ${mx(big(cpuRoundGrowthRows, 'median'))} CPU (target ≤ 2.2); speed-up at 16384: ${Number.isFinite(s) ? `${s.toFixed(1)}×` : 'n/a'} (target ≥ 4×)`);
  }
  let memRows = [];
  if (!flag('--no-mem')) {
    console.log(`\npeak RSS above the inputs (MiB), one call each in a child process${memFlashMax < flashMax ? ` (flash only up to N = ${memFlashMax}: --mem-flash-max)` : ''}:`);
    memRows = sizes.map((N) => {
      const row = { N, 'out MiB': fmt((N * H * D * 4) / 2 ** 20) };
      for (const im of IMPLS) row[im.label] = im.flash && N > memFlashMax ? 'skipped' : memFmt(childPeak(im.id, N, t));
      return row;
    });
    console.table(memRows);
  }
  results.threads[t] = { peakGflops: peak, readGBps: bw, timeMs: timeRows, growth: growthRows, cpuGrowth: cpuGrowthRows, roundGrowth: roundGrowthRows, cpuRoundGrowth: cpuRoundGrowthRows, loadAvg: { before: load0, after: load1 }, crossover: cross, memoryMiB: memRows };
}
binding.setNumThreads(info.threads.count);

if (jsonFile) {
  results.date = new Date().toISOString();
  mkdirSync(dirname(jsonFile), { recursive: true });
  writeFileSync(jsonFile, JSON.stringify(results, null, 2));
  console.log(`\nwrote ${jsonFile}`);
}
