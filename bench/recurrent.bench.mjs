#!/usr/bin/env node
// Recurrent kernels benchmark: Mamba selective scan (+ its one-token step and the causal conv1d), RWKV-4 WKV and
// RetNet retention (recurrent and chunkwise forms), over sequence lengths, against floors measured in the same run:
//   memory floor = bytes the op must move / measured read bandwidth (bandwidthProbe)
//   exp floor    = exponentials the op must compute / measured SIMD exp rate (expProbe: the kernels' fastest exp,
//                  e^x as 2^(x log2e) through simd::exp2_small, no range test; the scan's exp(dt A) and WKV's
//                  exps take that form; one thread, L1-resident) / threads. The scan's softplus and silu use
//                  simd::exp's Cody-Waite form (and softplus a log1p), slower per exp: counted at the same rate,
//                  so the floor is strict there. (The probe measured simd::exp until 2026-11-29, simd::exp_ordinary
//                  until 2026-11-30, each slower on the build VM than the next (exp2_small: ~1.2-1.45x exp_ordinary's
//                  rate in one process): "of floor" figures from before a change are not comparable with later ones.)
//   flop floor   = (retention only) multiply-adds × 2 / the FMA peak (peakProbe) of the active level
// floor = the largest; "of floor" = floor / time (100% = at the floor), from the medians of the rounds. "best" = the
// same from the best round of each: the fastest time over the floor of the fastest probes (the smallest floor), so
// neither side gains from the other's bad luck; on a shared machine it is the steadier figure (a 1-thread run
// descheduled half the time doubles a median). "paired" = the median over the rounds of floor / time with the
// floor's compute rate (exp or FMA) measured right before and right after that case's run (the mean of the two
// short probes; the memory floor from the round's bandwidth probe): on the build VM the speed of a core changes by up
// to ~1.7x between stretches of seconds (another VM on the same core; the pure-compute probes slow by the same factor
// in the same stretches), so a median time against the fastest probe of the whole run mixes a slow stretch's time
// with a fast stretch's rate, and a pair taken within milliseconds does not. "p-growth" = 2 paired(L/2) / paired(L):
// the growth in units of the probe's time (the floors are linear in L), which a change of the VM's speed between
// two lengths' rounds does not move. Also the growth t(L)/t(L/2) (linear: ~2.0)
// and the per-token cost of the step forms (selectiveScanStep with its exp floor: dim (N + 2) exponentials per
// token; the rest of a call is the N-API argument checks: a step of dim 8 with the bench's 10 tensor arguments
// (state, u, delta, A, B, C, D, z, deltaBias, out) took 8.4 µs on the build VM through the raw binding, 2.5 µs
// through lib/ops/ssm, which hands the addon the data arrays and one Float64Array of shapes (lib/packed.ts); a fresh
// output instead of opts.out more). The step splits its channels in blocks of 256 over the thread pool (1536: 6 blocks).
// The step's kernel alone (no N-API): bench/native/ssm-step-kernel.cc (built by hand, see its header), in CPU time
// against the exp probe. On the build VM it took ~1.45x the probe's time for the step's dim (N + 2) exps (median of
// per-round ratios) while both used exp_ordinary: the rows are bound by the FMA pipes (13 multiplies/FMAs per 8 lanes
// of state: the exp's 9, dt A, du B, the update, the read-out, against the probe's 10 per 8 exps), softplus (two
// divisions, a log1p) ~12% of the kernel, the gate ~6%. Since 2026-11-30 (exp(dt A) as 2^((dt log2e) A) through
// exp2_small, softplus's log1p with one division): the raw step 0.94-0.96x the time of the build before (in-process
// A/B, 41 rounds of 200 steps, median of per-round ratios; an A/A copy 1.04), lib's step p10 16.2 µs against
// 17.8-18.1 the day before, and the kernel ~1.7-2.2x the (faster) probe's time. Not kept: the exps of two channels stage by stage side by side (2.4x the probe against 2.2x), the
// polynomial by Estrin's scheme (no change), a group's exps before its state updates (no change).
//
//   npm run build && node bench/recurrent.bench.mjs          (about a minute on 2 cores)
//   node bench/recurrent.bench.mjs --quick                    fewer lengths and rounds
//   node bench/recurrent.bench.mjs --threads 1,2 --rounds 3 --max-len 16384 --json out.json
//   node bench/recurrent.bench.mjs --threads 1 --rounds 9 --cpu-time       1 thread, the cases in CPU time (below)
//   TURBOFORMER_HUGE_PAGES=1 node bench/recurrent.bench.mjs --alloc-inputs   every large buffer on huge pages
//
// Counting (per element of the sequence):
//   selectiveScan (Mamba options: D, z, deltaBias, softplus; B, C time-varying [1, N, L]):
//     bytes = 16 per (channel, step) (u, delta, z read; out written) + B and C read once (the kernel's transposed copy
//       of B and C, written and read again, is its own choice, not counted); A, D and deltaBias (per channel) not counted
//     exps  = N per (channel, step) for exp(dt A), + 2 (softplus's exp, silu's exp); softplus's log1p not counted
//   wkv: bytes = 12 per (token, channel) (k, v read; out written); exps = 2 per (token, channel): upstream's four
//     exps per token are two pairs where one of each pair is exp(0) = 1 (the kernel computes only the other); the
//     running-max form needs both (the new max depends on the previous one: no exp can be shared across tokens).
//     Both floors are optimistic for it: writing out also reads each line first (16 bytes moved, not 12;
//     non-temporal stores were measured slower on the build VM), and besides its 2 exps a step of 8 channels
//     takes about 40 more vector instructions (selects, the division, the state update), as many as the exps.
//     Tried on 2026-11-30, not kept (bench/native harness, the kernel alone, CPU time, rounds interleaved, median of
//     per-round ratios): (1) a one-exp form, num and den kept against a per-lane reference r (b = e^(k - r), the
//     output's weight b e^u; r moved to the running max, with upstream's exact update, only when the max leaves
//     [r - 60, r + 20]): 0.95x the time with everything in L1 (C 256), 1.0-1.15x in L2 and in DRAM (C 768, 2048).
//     An earlier prototype's 0.83-0.88x had multiplied where the output divides: the division and the rest of the
//     step, not the exps, set the kernel's pace. (2) Token tiles: 4-16 tokens per group of 2-4 channel vectors,
//     with the state in registers over the tile (no per-token repacked stream), the same bits: 1.07-1.15x the time
//     in cache, 1.3-2.6x in DRAM (each token of a tile is a row 8 KiB away: many short streams instead of three
//     long ones). (3) The next token's out row prefetched for writing, with k and v: no change (C 2048, L 2048 and
//     8192, in-process A/B of the addons). (4) k and v prefetched two rows ahead instead of one: no change; every page
//     of row t + 4 touched by a prefetch (TLB priming): 1.03x; by a demand load: 1.08x. (5) Only out on huge pages
//     (TURBOFORMER_HUGE_PAGES=1, k and v from JS): no change; the huge-page gain (0.83-0.89x) is k's and v's.
//   causalConv1d (k = 4, silu): bytes = 8 per element; exps = 1 (silu)
//   retention (heads 12, dk 64, dv 128, batch 1): bytes = q, k, v read + out written = 4 (2 dk + 2 dv) per token and
//     head; flops per token and head:
//     recurrent 4 dk dv: the state update x keep + k alpha and the read-out <q, x>, counted as 2 multiply-adds per
//       state element. The exact recurrence needs 3 vector instructions per element (a multiply for the keep factor,
//       then two FMAs: at most 2/3 of this floor). Since s15 the sequence form keeps a running product instead (x =
//       P_t y over runs of up to 32 tokens that start where a call starts, y += k alpha / P_t, out = P_t <q, y>): two
//       FMAs per element and token, plus one multiply per element and run; a split run then agrees with one run
//       within rounding (not bit for bit); the step (one token) keeps the exact form. Its row loop alone (16 tokens,
//       128 rows of 64, L1-hot, CPU time against an FMA probe): ~8 cycles per (token, row) best, ~10 median, against
//       ~10.5 and ~12.8 for the 3-instruction loop (bench/native/retention-rec-rowloop.cc); the whole kernel
//       (bench/native/retention-rec-kernel.cc's head loop, both versions in one process, 41 rounds, T 256): 0.88-0.91x
//       the time (median of per-round ratios), 0.82-0.86x best to best; the lane reductions, the factors and the
//       strided v and out columns of the row groups do not shrink. This bench, 1 thread, CPU time, two runs: 42-50%
//       of floor median, 51-56% best (the 3-instruction kernel in the same conditions: 35-43%, 42-47%). The notes
//       below are about the 3-instruction kernel.
//       Not bound by the state's size (each row stays in registers over blocks of 16 tokens): on the build VM dk 32 or
//       dv 32 (state 4-16 KiB, L1-resident) reached no larger fraction than 64 x 128 (32 KiB). The kernel's row loop
//       alone, L1-hot, took ~13-15 cycles per (token, row) of 64 (ideal 12); the row groups' lane reductions of the
//       read-outs (~1.5) and the v/sq divisions (~0.5) bring the row groups to ~15-17 (noisy measurements).
//       Tried in s15 (in-process A/B of the kernels, CPU time, best and median of 41 rounds): the state transposed into
//       register tiles (8 rows of one lane class d = l + 8j by 8 columns, k and q broadcast, the 8 class partials summed
//       in hsum's order: no lane reductions, the same bits) was 12-16% slower: its tile loop alone ~5% slower than the
//       row loop (17 scalar broadcasts per 24 FMAs; a microbenchmark of that mix ran ~10% below one with vector loads)
//       and the class partials' sums cost more than the lane reductions they replace. No measurable change (within
//       +-3%, the A/A spread): 1/sq as a multiply, half of hsum_lanes' shuffles as blends, the reduction inside the last
//       row's loop, prefetching the next block's v and out rows, token blocks of 8 to 64. The kernel alone, against a
//       CPU-time FMA probe: bench/native/retention-rec-kernel.cc (T 256, hot: ~48-50% of this floor in its best rounds;
//       this bench, probes in CPU time, 1 thread, load ~6: 35-40% median, 43-44% best over L 1024-16384).
//       Tried in s16 (issue 6), not kept: the same recurrence in blocks of Tb tokens as dense products, the state
//       transposed (X [dk, dv]); with D(i, j) the product of the keep factors after token j up to i (formed directly,
//       in double; a block where one leaves [2^-20, 2^20] ran token by token): S = Q K^T (causal tiles), out =
//       [S * W | Q'] [V ; X] (W_ij = D(i, j) / sq_j, Q'_i = D(i, -1) q_i), X = X D(end, -1) + K'^T V (K'_j = k_j
//       D(end, j) / sq_j), through ret_mm's 6 x 16 tiles (the update in a tile of its own that loads X first), the
//       block's values copied, the next block's v, out, q and k prefetched. It passed the recurrent tests unchanged but
//       was no faster: ~1 + Tb (dk + dv) / (4 dk dv) of the floor's FMAs (1.14x at Tb 24), tiles at ~85% (out) and
//       ~65% (the update: depth Tb, X read and written from L2 every block) of the FMA peak with operands in cache, and
//       ~15-25% of a block in the keys' transposition, the scaled copies, the values' copy and the causal Q K^T.
//       In-process A/B of the two kernels (CPU time, 61-101 rounds, median of per-round time ratios): Tb 24 0.98-0.99x
//       at T 2048, 1.04-1.08x at T 256 (hot); Tb 16, 32, 48 1.01-1.12x; dv in panels of 16-64 columns (the state's
//       panel kept in L1 between the two products) slower. recurrent-ab (L 2048, 1 thread, CPU time, 21-41 rounds,
//       load 5-8): best 15.4-17.7 ms against 15.2-16.3, medians 19.7-21.8 against 20.0-21.8: parity within the noise.
//       Kept in s16 (issue 6): the row groups' rows in pairs (ret_rec_pair): a row of dk 64 in two segments of 4
//       vectors, rows r and r + 1 together (8 registers of state), each vector of k_t and q_t loaded once into a
//       register and used by both rows: 10 loads per 16 FMAs instead of 17 (+1 per row for the second segment, whose
//       sums are added to the first's in the stack buffer before the one lane reduction; new bits, still the same at
//       any thread count). Without an empty asm pinning the vector in a register GCC folded each load into both FMAs
//       (18 loads per 16 FMAs) and it was no faster (1.00-1.03x). Kernel alone (retention-rec-kernel.cc's head loop,
//       the s16 kernel, an identical copy of it (A/A) and the pairs in one process, order rotated per round, CPU
//       time, load 3-5; median of per-round time ratios against the s16 kernel): T 256 (201 rounds, 10 runs) 0.92-0.99,
//       mostly 0.94-0.96 (A/A 1.00-1.05); T 2048 (41-61 rounds, 6 runs) 0.96-1.00 (A/A 1.00-1.04). recurrent-ab
//       (L 2048, 1 thread, CPU time, the s16 build, a copy of it and this one): 41 rounds x 3, best 13.9-14.7 ms
//       against 14.6-15.3 (copy 14.7-15.0), median 15.9-17.2 against 17.2-18.4 (17.1-18.4); 161 rounds x 2, best
//       14.4-14.5 against 14.6-14.9, medians 19.8-20.3 against 19.7-21.0: a few % at best, near the noise. This bench
//       (--threads 1 --rounds 9 --cpu-time, load ~3): 40-44% median, 44-58% best (the s16 build between the two runs:
//       38-41%, 50-54%): still short of 50% by median. Not kept (in the same harness): runs of kRetPb 16 or 24 tokens
//       instead of 32, alone (1.09-1.11x and 1.09x median) or with the pairs (1.02-1.03x against the s16 kernel, i.e.
//       slower than the pairs at 32); 48 or 64 with the pairs no different from 32; pairs r, r + 4 whose two sums
//       are folded (hsum_lanes' first stage) into one vector in the row loop, halving the reduction's loads: 0.93-0.99x
//       against 0.94-0.97x for the plain pairs in the same runs, best-to-best worse: no gain. The row loop now runs
//       16 FMAs a (token, row pair segment) with no register moves; what is left is outside it (the lane reductions,
//       the factors, the strided v and out columns).
//       Tried on 2026-11-30, not kept: the state transposed ([dk][dv], lanes along the value columns, k_t[d] and
//       q_t[d] broadcast), streamed through L1 every token in panels of 8 J columns: no lane reductions, the factors
//       v_t ca_t and the outputs as plain vectors of the token's row. The same state bits and outputs within 2e-7.
//       Kernel alone (the head loop, T 256 and 2048, in-process rounds against the current kernel, CPU time): one
//       token at a time 1.07-1.5x the time (a load and a store of the state per two FMAs; rows 512 bytes apart also
//       alias every 8th row's pending stores at 4 KiB until padded); two tokens per pass over the state (J = 2:
//       one load and one store per four FMAs) 0.96-0.98x at T 256, 1.05x at T 2048. No gain to build on.
//     chunkwise (chunk B) B (dk + dv) (the causal halves of Q K^T and S V inside the chunk) + 4 dk dv (cross part
//       q . state, chunk kv K^T V) + 2 dk dv / B (state decay, once per chunk). The kernel's products skip the tiles
//       above the diagonal (6 rows x 16 columns of Q K^T, 6 rows by their causal depth of S V): 46544 flops per token
//       for B 64, dk 64, dv 128, so at most 97% of this floor (79% while they were full B x B GEMMs).
//       Shares of a chunk (s15, rdtsc per phase, median): S V + q . state ~47%, K^T V ~29%, Q K^T ~11%, the values'
//       copy ~5%, the score rows' mask and scaling ~4%, keys' transposition ~2%. With their operands in cache the
//       products run at ~98% (S V), ~86% (K^T V) and ~62% (Q K^T) of the FMA peak; in a real run they lose ~20% more,
//       mostly to memory (a head's value and output rows are dv floats of a [L, H dv] row, 6 KiB apart: a page each).
//       Next lever noted then: all heads of one chunk together, so those rows are read contiguously.
//       Since s16 (retention_chunk_group): a batch row's heads in groups (one thread: all of them; more threads: at
//       least lcm(batch, threads) items), each group chunk by chunk across its heads, every head's state, mask and
//       decays in the group's scratch, the next head's values, keys and queries prefetched; the same bits at any
//       grouping. Measured in one process against the s15 build (CPU time, 1 thread, load 5-10 on the 2-core VM,
//       an A/A pair of the same build spread +-2.5% in the median of per-round ratios): L 2048 median ratio
//       0.97-1.01, best 3-5% faster; L 4096 and 8192 0.94-0.95, best 11-26%; L 16384 0.96, best 10-14%; at load ~2:
//       L 2048 0.95, 4096 0.91, 8192 0.91, 16384 0.96. A head's
//       rows alone (H 1, contiguous) had been only ~7% faster per head than inside H 12 (best of 41): the stride
//       was a smaller cost than it looked. The same code with groups of one head (the s15 order) measured as s15;
//       groups of 2, 4 or 6 heads no different from 12 (within the spread); staging the chunk's values of all heads
//       in one sequential pass (400 KB through L2 per chunk) 2-3% slower than per-head copies. Phases (rdtsc, the
//       smallest of 15 calls each, L 2048): S V + q . state ~44%, K^T V ~31%, Q K^T ~13% (~1.6x S V's time per
//       multiply-add: 64-deep tiles; the next head's queries prefetched took it from ~16%), mask and scaling ~5%,
//       values' copy ~3%, keys' transposition ~1.4%. This bench (--rounds 5 --cpu-time, 1 thread): at load ~6, two
//       runs, 45-54% of floor median, 50-65% best over L 1024-16384 (the s15 build right after: 45-58%, 61-64%:
//       at that load separate runs differ more than the builds do; compare builds with recurrent-ab.bench.mjs); at
//       load ~2, two runs, 51-66% median, 63-71% best (the s15 build between them: 47-57%, 57-64%).
// Shared machines are noisy: cases and probes are interleaved in rounds and the median round is reported.
// Outputs go into preallocated tensors (opts.out: the steady state of a model that reuses its buffers). A fresh
// output of tens of MB costs a page fault per 4 KiB page, which on the build VM took longer than the kernels
// themselves (e.g. wkv C 2048 L 4096: ~20 ms of compute, ~120 ms of system time); --fresh measures that way.
// The step forms likewise write into preallocated outputs, and the conv, wkv and retention steps update their states
// in place (opts.updateState); --fresh: new outputs and states per token.
import { writeFileSync } from 'node:fs';
import { flag, loadDist, option, randomTensor } from './common.mjs';

const [{ binding }, ssmLib] = loadDist('native', 'ops/ssm');

const quick = flag('--quick');
const rounds = Number(option('--rounds', quick ? 2 : 3));
const threadCounts = option('--threads', '1,2').split(',').map(Number);
const maxLen = Number(option('--max-len', quick ? 4096 : 16384));
const jsonFile = option('--json', '');
const fresh = flag('--fresh');
const outFor = (shape) => (fresh ? null : binding.alloc('f32', shape));
const lengths = [];
for (let L = 1024; L <= maxLen; L *= 2) lengths.push(L);

let seed = 1;
// --alloc-inputs: the inputs in native memory (binding.alloc, as Tensor.alloc), not JS arrays; with
// TURBOFORMER_HUGE_PAGES=1 the large ones are then on transparent huge pages (as outputs from opts.out already are)
const allocInputs = flag('--alloc-inputs');
const rand = (shape, lo = -1, hi = 1) => {
  const t = randomTensor(shape, seed++, hi - lo, (lo + hi) / 2);
  if (!allocInputs) return t;
  const a = binding.alloc('f32', shape);
  a.data.set(t.data);
  return a;
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
// --cpu-time (one thread only): the cases' times are this process's CPU time (user + system) instead of wall time, so
// the stretches where the machine runs another process instead of this one drop out. The FMA and exp probes are then
// timed in CPU time as well (their own timers are wall time: under a load of 5-7 on the 2-core build VM even the
// fastest of 9 rounds read 56-71 GFLOP/s against ~98 in CPU time, floors too large by up to 1.75x, flattering every
// "of floor"); the bandwidth probe stays wall time (its CPU time includes the page faults of its buffer). With
// --cpu-time the "of floor" column uses the fastest probe of the rounds (the strictest floor, as "best" does).
// Contention that slows the core while it runs (another VM's load on the same physical core) stays in.
let cpuTime = false;
// a probe's rate (units per ns: GFLOP/s, Gexp/s) from its amount over this process's CPU time, or its own wall time
function probeRate(probe, amount, rate) {
  if (!cpuTime) return probe()[rate];
  const c0 = process.cpuUsage();
  const r = probe();
  const d = process.cpuUsage(c0);
  return r[amount] / ((d.user + d.system) * 1e3);
}
function timeIt(fn, reps = 1, warmUp = true) {
  if (warmUp) fn(); // warm-up (also faults in the output pages of the allocator's reuse)
  if (cpuTime) {
    const c0 = process.cpuUsage();
    for (let i = 0; i < reps; i++) fn();
    const d = process.cpuUsage(c0);
    return (d.user + d.system) / 1e6 / reps;
  }
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < reps; i++) fn();
  return Number(process.hrtime.bigint() - t0) / 1e9 / reps;
}

const dim = 1536, N = 16; // Mamba-130m: d_inner 1536, d_state 16
const A = rand([dim, N], -2, -0.05);
const D = rand([dim]);
const dtBias = rand([dim], -4, -2);
const convW = rand([dim, 4]);
const convB = rand([dim]);
const wkvChannels = [768, 2048];

function scanCase(L) {
  const u = rand([1, dim, L]), delta = rand([1, dim, L]), z = rand([1, dim, L]);
  const B = rand([1, N, L]), C = rand([1, N, L]);
  const opts = { D, z, deltaBias: dtBias, deltaSoftplus: true, out: outFor([1, dim, L]) };
  return {
    name: `selectiveScan dim ${dim} N ${N}`, L,
    bytes: 16 * dim * L + 2 * N * L * 4, exps: dim * L * (N + 2),
    run: () => binding.selectiveScan(u, delta, A, B, C, opts),
  };
}
// Every length of one C reads and writes prefixes of the same three buffers (sized for the longest): on the build VM
// the time per token of this memory-bound op depended on where its buffers landed in memory by up to 1.3x (three
// buffer sets of one size, interleaved in one process: 2.50 / 3.06 / 3.22 µs per token at C 2048, L 16384), which
// showed up as a growth of ~2.3 at whichever length drew a slow set. On shared buffers the growth compares lengths.
const wkvBuffers = new Map();
function wkvBuffer(C, name, make) {
  const key = `${C} ${name}`;
  if (!wkvBuffers.has(key)) wkvBuffers.set(key, make([1, maxLen, C]));
  return wkvBuffers.get(key);
}
const prefix = (t, L, C) => (t ? { data: t.data.subarray(0, L * C), shape: [1, L, C], dtype: 'f32' } : t);
function wkvCase(C, L) {
  const k = prefix(wkvBuffer(C, 'k', (s) => rand(s, -3, 3)), L, C), v = prefix(wkvBuffer(C, 'v', (s) => rand(s)), L, C);
  const decay = rand([C], -3, 1), first = rand([C]), out = fresh ? null : prefix(wkvBuffer(C, 'out', (s) => binding.alloc('f32', s)), L, C);
  return { name: `wkv C ${C}`, L, bytes: 12 * L * C, exps: 2 * L * C, run: () => binding.wkv(decay, first, k, v, null, { out }) };
}
const RH = 12, RDK = 64, RDV = 128;
const rDecay = { data: Float32Array.from({ length: RH }, (_, h) => Math.log(1 - 2 ** (-5 - h))), shape: [RH], dtype: 'f32' };
// As WKV's: every length reads and writes the first floats of one buffer set per form (sized for the longest), so
// the growth compares lengths, not placements. (Chunkwise still ran ~10-20% slower per token at L 4096 and 16384 than
// at 2048 and 8192 in every default run after this, in the paired figures too, and alone in a process it did not:
// 7.7-7.95 µs a token best at every L. With TURBOFORMER_HUGE_PAGES=1 --alloc-inputs the swing was gone (growth
// 1.85-2.00): the translations of its 6 KiB-strided value and output rows, which depend on where the pages land.)
const retBuffers = new Map();
function retView(form, name, shape, make) {
  const n = shape.reduce((a, b) => a * b, 1), key = `${form} ${name}`; // n: a multiple of L (shape holds L once)
  const L = name === 'q' || name === 'k' ? shape[2] : shape[1];
  if (!retBuffers.has(key)) retBuffers.set(key, make([(n / L) * maxLen]));
  return { data: retBuffers.get(key).data.subarray(0, n), shape, dtype: 'f32' };
}
function retentionCase(form, L) {
  const qk = [1, RH, L, RDK];
  const q = retView(form, 'q', qk, (s) => rand(s)), k = retView(form, 'k', qk, (s) => rand(s, -0.125, 0.125));
  const v = retView(form, 'v', [1, L, RH * RDV], (s) => rand(s));
  const chunk = 64, out = fresh ? null : retView(form, 'out', [1, L, RH, RDV], (s) => binding.alloc('f32', s));
  const flops = RH * L * (form === 'recurrent' ? 4 * RDK * RDV : chunk * (RDK + RDV) + 4 * RDK * RDV + (2 * RDK * RDV) / chunk);
  return {
    name: `retention ${form} h${RH} ${RDK}x${RDV}`, L, bytes: 4 * RH * L * 2 * (RDK + RDV), exps: 0, flops,
    run: () => binding.retention(q, k, v, rDecay, { form, chunkSize: chunk, out }),
  };
}
function convCase(L) {
  const x = rand([1, dim, L]), out = outFor([1, dim, L]);
  return { name: `causalConv1d dim ${dim} k 4 silu`, L, bytes: 8 * dim * L, exps: dim * L, run: () => binding.causalConv1d(x, convW, convB, { activation: 'silu', out }) };
}

const results = [];
for (const threads of threadCounts) {
  binding.setNumThreads(threads);
  cpuTime = flag('--cpu-time') && threads === 1;
  const cases = [];
  for (const L of lengths) cases.push(scanCase(L));
  for (const C of wkvChannels) for (const L of lengths) cases.push(wkvCase(C, L));
  for (const L of lengths) cases.push(convCase(L));
  for (const form of ['recurrent', 'chunkwise']) for (const L of lengths) cases.push(retentionCase(form, L));
  const times = cases.map(() => []), paired = cases.map(() => []);
  const bw = [], ex = [], pk = [];
  // the compute rate a case's floor uses (FMA peak for retention, else the exp rate), from a short probe (~1-3 ms)
  const shortRate = (c) =>
    c.flops
      ? probeRate(() => binding.peakProbe(2000000, threads), 'flops', 'gflops')
      : probeRate(() => binding.expProbe(2000), 'exps', 'gexps') * threads;
  for (let r = 0; r < rounds; r++) {
    bw.push(binding.bandwidthProbe(256, threads, 2).gbps);
    ex.push(probeRate(() => binding.expProbe(20000), 'exps', 'gexps'));
    pk.push(probeRate(() => binding.peakProbe(20000000, threads), 'flops', 'gflops'));
    cases.forEach((c, i) => {
      c.run(); // warm-up (as timeIt's), before the first probe
      const before = shortRate(c);
      const t = timeIt(c.run, 1, false);
      const rate = (before + shortRate(c)) / 2;
      times[i].push(t);
      paired[i].push(Math.max(c.bytes / (bw[r] * 1e9), (c.flops || c.exps) / (rate * 1e9)) / t);
    });
  }
  const gbps = median(bw), gexps = median(ex), gflops = median(pk);
  const bestGbps = Math.max(...bw), bestGexps = Math.max(...ex), bestGflops = Math.max(...pk);
  const [fGbps, fGflops, fGexps] = cpuTime ? [bestGbps, bestGflops, bestGexps] : [gbps, gflops, gexps];
  console.log(`\n== ${threads} thread${threads > 1 ? 's' : ''}: read bandwidth ${fGbps.toFixed(1)} GB/s, SIMD exp ${fGexps.toFixed(2)} Gexp/s per thread, FMA peak ${fGflops.toFixed(0)} GFLOP/s (${binding.info().isa.active})${cpuTime ? ', cases in CPU time, floors from the fastest probes' : ''} ==`);
  console.log('case'.padEnd(34) + 'L'.padStart(7) + 'ms'.padStart(10) + 'GB/s'.padStart(8) + 'mem floor'.padStart(11) + 'exp/flop floor'.padStart(16) + 'of floor'.padStart(10) + 'best'.padStart(6) + 'paired'.padStart(8) + 't(L)/t(L/2)'.padStart(13) + 'p-growth'.padStart(10));
  let prev = null;
  cases.forEach((c, i) => {
    const t = median(times[i]);
    const memFloor = c.bytes / (fGbps * 1e9);
    const expFloor = c.flops ? c.flops / (fGflops * 1e9) : c.exps / (fGexps * 1e9 * threads);
    const floor = Math.max(memFloor, expFloor);
    const bestFloor = Math.max(c.bytes / (bestGbps * 1e9), c.flops ? c.flops / (bestGflops * 1e9) : c.exps / (bestGexps * 1e9 * threads));
    const bestOf = bestFloor / Math.min(...times[i]);
    const growth = prev && prev.name === c.name ? t / prev.t : null;
    const pGrowth = prev && prev.name === c.name ? (2 * prev.paired) / median(paired[i]) : null;
    console.log(
      c.name.padEnd(34) + String(c.L).padStart(7) + (t * 1e3).toFixed(2).padStart(10) + (c.bytes / t / 1e9).toFixed(2).padStart(8) +
        `${(memFloor * 1e3).toFixed(2)}ms`.padStart(11) + `${(expFloor * 1e3).toFixed(2)}ms${c.flops ? ' F' : ' e'}`.padStart(16) +
        `${((floor / t) * 100).toFixed(0)}%`.padStart(10) + `${(bestOf * 100).toFixed(0)}%`.padStart(6) +
        `${(median(paired[i]) * 100).toFixed(0)}%`.padStart(8) + (growth ? growth.toFixed(2) : '').padStart(13) +
        (pGrowth ? pGrowth.toFixed(2) : '').padStart(10),
    );
    results.push({ threads, name: c.name, L: c.L, seconds: t, gbps: c.bytes / t / 1e9, memFloor, expFloor, ofFloor: floor / t, bestOfFloor: bestOf, pairedOfFloor: median(paired[i]), growth, pairedGrowth: pGrowth });
    prev = { name: c.name, t, paired: median(paired[i]) };
  });

  // step forms: per-token cost (median of rounds of 200 tokens)
  const state = { data: new Float32Array(dim * N), shape: [1, dim, N], dtype: 'f32' };
  const u1 = rand([1, dim]), d1 = rand([1, dim]), z1 = rand([1, dim]), B1 = rand([1, N]), C1 = rand([1, N]);
  const stepOpts = { D, z: z1, deltaBias: dtBias, deltaSoftplus: true, out: outFor([1, dim]) };
  const x1 = rand([1, dim, 1]);
  let convState = binding.causalConv1d(x1, convW, convB).state;
  const convOut = outFor([1, dim, 1]);
  const steps = [
    ['selectiveScanStep dim 1536 N 16', () => binding.selectiveScanStep(state, u1, d1, A, B1, C1, stepOpts)],
    ['selectiveScanStep (lib) dim 1536 N 16', () => ssmLib.selectiveScanStep(state, u1, d1, A, B1, C1, stepOpts)],
    // lib (its packed fast path when the state is updated in place), as a generation loop calls it
    ['causalConv1d step (lib) dim 1536 k 4', () => {
      convState = ssmLib.causalConv1d(x1, convW, convB, { activation: 'silu', state: convState, out: convOut, updateState: !fresh }).state;
    }],
  ];
  for (const C of wkvChannels) {
    const k1 = rand([1, 1, C]), v1 = rand([1, 1, C]), dec = rand([C]), fir = rand([C]);
    let ws = binding.wkv(dec, fir, k1, v1).state;
    const wOut = outFor([1, 1, C]);
    steps.push([`wkv step C ${C}`, () => { ws = binding.wkv(dec, fir, k1, v1, ws, { out: wOut, updateState: !fresh }).state; }]);
  }
  {
    const q1 = rand([1, RH, 1, RDK]), k1 = rand([1, RH, 1, RDK], -0.125, 0.125), v1 = rand([1, 1, RH * RDV]);
    // the state updated in place (opts.updateState) unless --fresh: a new 393 KB state per token otherwise
    let rs = binding.retention(q1, k1, v1, rDecay, { form: 'recurrent' }).state;
    const rOut = outFor([1, 1, RH, RDV]);
    steps.push([`retention recurrent step h${RH} ${RDK}x${RDV}`, () => {
      rs = binding.retention(q1, k1, v1, rDecay, { form: 'recurrent', state: rs, updateState: !fresh, out: rOut }).state;
    }]);
  }
  for (const [name, fn] of steps) {
    const per = median(Array.from({ length: rounds + 2 }, () => timeIt(fn, 200)));
    const expFloor = name.startsWith('selectiveScanStep') ? (dim * (N + 2)) / (gexps * 1e9 * threads) : 0;
    console.log(`${name.padEnd(34)} ${(per * 1e6).toFixed(2).padStart(8)} µs/token` + (expFloor ? `  (exp floor ${(expFloor * 1e6).toFixed(2)} µs)` : ''));
    results.push({ threads, name, perTokenSeconds: per, ...(expFloor ? { expFloor } : {}) });
  }
}
if (jsonFile) writeFileSync(jsonFile, JSON.stringify({ date: new Date().toISOString(), info: binding.info().isa, results }, null, 2));
