/**
 * Block layouts for blockSparseAttention() (lib/ops/attention.ts), pure TypeScript, with the semantics of
 * DeepSpeed's sparse-attention SparsityConfig family (deepspeed/ops/sparse_attention/sparsity_config.py):
 * dense, fixed, variable, BigBird, BSLongformer and local sliding window, unidirectional or bidirectional,
 * plus the strided pattern of the Sparse Transformer paper (Child et al. 2019).
 *
 * Every builder returns a u8 tensor [numHeads, nb, nb] with nb = seqLen / block: entry (h, r, c) = 1 when
 * query block r of head h attends key block c. With `differentLayoutPerHead` false (the default) head 0's
 * layout is copied to every head, as upstream does.
 *
 * Random blocks (BigBird, Variable) come from a seeded generator (lib/random.ts, `seed`), drawn row by row,
 * head by head, k distinct blocks per row: the same seed gives the same layout on every platform, but not
 * DeepSpeed's draw (upstream uses Python's `random.sample`). To reproduce a recorded upstream layout, pass
 * the random blocks as an explicit table (`randomBlocks[h][row]` = the key blocks of that row; any number per
 * row, since the table is authoritative), or use the recorded layout itself through layoutFromTable().
 * drawRandomBlocks() returns the table a seed gives, so that a draw can be recorded and replayed.
 *
 * Element-level causal masking is not part of a layout: DeepSpeed's 'unidirectional' layouts keep their
 * diagonal blocks full, so causal attention needs `causal: true` in blockSparseAttention().
 */
import { Rng } from '../random';
import { Tensor } from '../tensor';

export type LayoutAttention = 'unidirectional' | 'bidirectional';

/** What every builder takes. */
export interface LayoutOptions {
  numHeads: number;
  /** Block size in tokens (blockSparseAttention accepts 8..128). */
  block: number;
  /** Sequence length, a multiple of block. */
  seqLen: number;
  /** One layout per head (true) or head 0's layout for all (false, default). */
  differentLayoutPerHead?: boolean;
}

/** A table of random key blocks: table[layoutHead][row] = the key blocks of that query-block row. */
export type RandomBlockTable = ReadonlyArray<ReadonlyArray<ReadonlyArray<number>>>;

/** Where random blocks come from: a seed, or an explicit (recorded) table, which wins when both are given. */
export interface RandomBlockOptions {
  /** Seed of the generator (default 0). */
  seed?: number;
  /** Explicit random blocks per layout head and row (layout heads: numHeads if differentLayoutPerHead, else 1). */
  randomBlocks?: RandomBlockTable | null;
}

/** A layout under construction: [H, nb, nb] bytes with helpers. */
class Grid {
  readonly data: Uint8Array;
  constructor(
    readonly heads: number,
    readonly nb: number,
  ) {
    this.data = new Uint8Array(heads * nb * nb);
  }
  set(h: number, r: number, c: number): void {
    this.data[(h * this.nb + r) * this.nb + c] = 1;
  }
  /** rows [r0, r1) × cols [c0, c1), clamped to the grid */
  fill(h: number, r0: number, r1: number, c0: number, c1: number): void {
    r1 = Math.min(r1, this.nb);
    c1 = Math.min(c1, this.nb);
    for (let r = Math.max(0, r0); r < r1; r++) for (let c = Math.max(0, c0); c < c1; c++) this.set(h, r, c);
  }
  tril(): void {
    for (let h = 0; h < this.heads; h++)
      for (let r = 0; r < this.nb; r++) this.data.fill(0, (h * this.nb + r) * this.nb + r + 1, (h * this.nb + r + 1) * this.nb);
  }
  /** Copies head 0 to every head when the layout is shared. */
  tensor(perHead: boolean): Tensor<'u8'> {
    const n2 = this.nb * this.nb;
    if (!perHead) for (let h = 1; h < this.heads; h++) this.data.copyWithin(h * n2, 0, n2);
    return Tensor.from(this.data, [this.heads, this.nb, this.nb], 'u8');
  }
}

function positiveInt(x: unknown, name: string): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x)) throw new TypeError(`${name} must be an integer, got ${String(x)}`);
  if (x <= 0) throw new RangeError(`${name} must be a positive integer, got ${x}`);
  return x;
}

function nonNegInt(x: unknown, name: string): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x)) throw new TypeError(`${name} must be an integer, got ${String(x)}`);
  if (x < 0) throw new RangeError(`${name} must be a non-negative integer, got ${x}`);
  return x;
}

function attentionOf(a: unknown, name = 'attention'): LayoutAttention {
  if (a === undefined) return 'bidirectional';
  if (a !== 'unidirectional' && a !== 'bidirectional')
    throw new RangeError(`${name} must be 'unidirectional' or 'bidirectional', got ${String(a)}`);
  return a;
}

function setup(o: LayoutOptions): { grid: Grid; layoutHeads: number; perHead: boolean; nb: number } {
  if (typeof o !== 'object' || o === null) throw new TypeError('layout options must be an object');
  const heads = positiveInt(o.numHeads, 'numHeads');
  const block = positiveInt(o.block, 'block');
  const seqLen = positiveInt(o.seqLen, 'seqLen');
  if (seqLen % block !== 0) throw new RangeError(`seqLen (${seqLen}) must be a multiple of block (${block})`);
  const perHead = o.differentLayoutPerHead ?? false;
  if (typeof perHead !== 'boolean') throw new TypeError('differentLayoutPerHead must be a boolean');
  const nb = seqLen / block;
  return { grid: new Grid(heads, nb), layoutHeads: perHead ? heads : 1, perHead, nb };
}

/** k distinct integers of [0, n) in draw order (a partial Fisher-Yates shuffle). */
function sample(rng: Rng, n: number, k: number): number[] {
  const pool = Array.from({ length: n }, (_, i) => i);
  const out: number[] = [];
  for (let i = 0; i < k; i++) {
    const j = i + rng.int(n - i);
    [pool[i], pool[j]] = [pool[j], pool[i]];
    out.push(pool[i]);
  }
  return out;
}

/**
 * The random key blocks a seed gives: for each of `layoutHeads` heads and each of `nb` rows, `k` distinct
 * blocks drawn from [0, nb) ('bidirectional') or [0, row] ('unidirectional' BigBird-style, `causalRange`).
 * The builders call it with layoutHeads = numHeads when differentLayoutPerHead, else 1.
 */
export function drawRandomBlocks(layoutHeads: number, nb: number, k: number, seed = 0, causalRange = false): number[][][] {
  positiveInt(layoutHeads, 'layoutHeads');
  nonNegInt(nb, 'nb');
  nonNegInt(k, 'numRandomBlocks');
  const rng = new Rng(seed);
  const table: number[][][] = [];
  for (let h = 0; h < layoutHeads; h++) {
    const rows: number[][] = [];
    for (let r = 0; r < nb; r++) {
      const n = causalRange ? r + 1 : nb;
      if (k > n)
        throw new RangeError(
          `numRandomBlocks (${k}) exceeds the ${n} key blocks row ${r} may draw from` +
            (causalRange ? ' (unidirectional: blocks 0..row; DeepSpeed raises here too)' : ''),
        );
      rows.push(sample(rng, n, k));
    }
    table.push(rows);
  }
  return table;
}

function applyRandom(grid: Grid, layoutHeads: number, nb: number, k: number, ro: RandomBlockOptions, causalRange: boolean): void {
  let table: RandomBlockTable;
  if (ro.randomBlocks) {
    table = ro.randomBlocks;
    if (!Array.isArray(table) || table.length !== layoutHeads)
      throw new RangeError(`randomBlocks must have ${layoutHeads} layout head(s) of ${nb} rows, got ${Array.isArray(table) ? table.length : typeof table} head(s)`);
    table.forEach((rows, h) => {
      if (!Array.isArray(rows) || rows.length !== nb)
        throw new RangeError(`randomBlocks[${h}] must have ${nb} rows, got ${Array.isArray(rows) ? rows.length : typeof rows}`);
      rows.forEach((cols, r) => {
        if (!Array.isArray(cols)) throw new TypeError(`randomBlocks[${h}][${r}] must be an array of key blocks`);
        for (const c of cols)
          if (!Number.isInteger(c) || c < 0 || c >= nb)
            throw new RangeError(`randomBlocks[${h}][${r}] holds ${String(c)}, not a key block in [0, ${nb})`);
      });
    });
  } else {
    if (ro.seed !== undefined && !Number.isSafeInteger(ro.seed)) throw new TypeError(`seed must be a safe integer, got ${String(ro.seed)}`);
    table = drawRandomBlocks(layoutHeads, nb, k, ro.seed ?? 0, causalRange);
  }
  for (let h = 0; h < layoutHeads; h++) for (let r = 0; r < nb; r++) for (const c of table[h][r]) grid.set(h, r, c);
}

/** Every block present (DeepSpeed DenseSparsityConfig). */
export function denseLayout(o: LayoutOptions): Tensor<'u8'> {
  const { grid, nb } = setup(o);
  grid.fill(0, 0, nb, 0, nb);
  return grid.tensor(false);
}

export interface FixedLayoutOptions extends LayoutOptions {
  /** Blocks per local window (default 4). */
  numLocalBlocks?: number;
  /** Global blocks per local window (default 1); must divide numLocalBlocks. */
  numGlobalBlocks?: number;
  attention?: LayoutAttention;
  /** Global blocks also attend every block (bidirectional only; default false). */
  horizontalGlobalAttention?: boolean;
  /** Heads cycle through this many global-block positions (needs differentLayoutPerHead; default 1). */
  numDifferentGlobalPatterns?: number;
}

/**
 * The Sparse Transformer's 'fixed' pattern (DeepSpeed FixedSparsityConfig): local windows of numLocalBlocks
 * blocks (lower triangle of each when unidirectional), and the last numGlobalBlocks of each window (shifted
 * per head with numDifferentGlobalPatterns) attended by all later rows (all rows if bidirectional); a short
 * last window gets its global blocks at the same offset, clamped to the end.
 */
export function fixedLayout(o: FixedLayoutOptions): Tensor<'u8'> {
  const { grid, layoutHeads, perHead, nb } = setup(o);
  const local = positiveInt(o.numLocalBlocks ?? 4, 'numLocalBlocks');
  const global = positiveInt(o.numGlobalBlocks ?? 1, 'numGlobalBlocks');
  const attention = attentionOf(o.attention);
  const horizontal = o.horizontalGlobalAttention ?? false;
  const patterns = positiveInt(o.numDifferentGlobalPatterns ?? 1, 'numDifferentGlobalPatterns');
  if (local % global !== 0) throw new RangeError(`numLocalBlocks (${local}) must be divisible by numGlobalBlocks (${global})`);
  if (attention === 'unidirectional' && horizontal)
    throw new RangeError("horizontalGlobalAttention only applies to attention 'bidirectional'");
  if (patterns > 1 && !perHead) throw new RangeError('numDifferentGlobalPatterns > 1 needs differentLayoutPerHead');
  if (patterns > local / global)
    throw new RangeError(`numDifferentGlobalPatterns (${patterns}) must be at most numLocalBlocks / numGlobalBlocks (${local / global})`);
  const uni = attention === 'unidirectional';
  for (let h = 0; h < layoutHeads; h++) {
    // local windows
    for (let i = 0; i < nb; i += local) {
      const end = Math.min(i + local, nb);
      for (let r = i; r < end; r++) grid.fill(h, r, r + 1, i, uni ? r + 1 : end);
    }
    // global blocks
    const first = local - (1 + (h % patterns)) * global;
    const end = nb - (nb % local);
    const globalAt = (s: number, e: number) => {
      grid.fill(h, uni ? s : 0, nb, s, e);
      if (horizontal) grid.fill(h, s, e, 0, nb);
    };
    for (let i = first; i < end; i += local) globalAt(i, i + global);
    if (end < nb) {
      const s = Math.min(end + first, nb - global);
      globalAt(s, s + global);
    }
  }
  return grid.tensor(perHead);
}

export interface VariableLayoutOptions extends LayoutOptions, RandomBlockOptions {
  /** Random key blocks per row, drawn from all blocks (even when unidirectional, as upstream; default 0). */
  numRandomBlocks?: number;
  /** Sizes of the successive local windows; the last repeats to the end (default [4]). */
  localWindowBlocks?: readonly number[];
  /** Global blocks (default [0]), or the starts of global ranges with globalBlockEndIndices. */
  globalBlockIndices?: readonly number[];
  /** Exclusive ends of the global ranges (same length as globalBlockIndices). */
  globalBlockEndIndices?: readonly number[] | null;
  attention?: LayoutAttention;
  horizontalGlobalAttention?: boolean;
}

/** Checked globalBlockIndices (default [0]) and optional globalBlockEndIndices (exclusive ends, one per start). */
function globalBlocks(o: { globalBlockIndices?: readonly number[]; globalBlockEndIndices?: readonly number[] | null }) {
  const starts = o.globalBlockIndices ?? [0];
  starts.forEach((w, i) => nonNegInt(w, `globalBlockIndices[${i}]`));
  const ends = o.globalBlockEndIndices ?? null;
  if (ends) {
    if (ends.length !== starts.length)
      throw new RangeError(`globalBlockEndIndices must have as many entries as globalBlockIndices (${starts.length}), got ${ends.length}`);
    ends.forEach((e, i) => {
      nonNegInt(e, `globalBlockEndIndices[${i}]`);
      if (e <= starts[i]) throw new RangeError(`globalBlockEndIndices[${i}] (${e}) must be greater than globalBlockIndices[${i}] (${starts[i]})`);
    });
  }
  return { starts, ends };
}

/** DeepSpeed VariableSparsityConfig: random blocks, variable-size local windows, global blocks or ranges. */
export function variableLayout(o: VariableLayoutOptions): Tensor<'u8'> {
  const { grid, layoutHeads, perHead, nb } = setup(o);
  const nrand = nonNegInt(o.numRandomBlocks ?? 0, 'numRandomBlocks');
  const windows = o.localWindowBlocks ?? [4];
  if (!Array.isArray(windows) || windows.length === 0) throw new TypeError('localWindowBlocks must be a non-empty array');
  windows.forEach((w, i) => positiveInt(w, `localWindowBlocks[${i}]`));
  const { starts, ends } = globalBlocks(o);
  const attention = attentionOf(o.attention);
  const horizontal = o.horizontalGlobalAttention ?? false;
  if (attention === 'unidirectional' && horizontal)
    throw new RangeError("horizontalGlobalAttention only applies to attention 'bidirectional'");
  const uni = attention === 'unidirectional';
  if (nrand > nb) throw new RangeError(`numRandomBlocks (${nrand}) must be at most the number of blocks (${nb})`);
  applyRandom(grid, layoutHeads, nb, nrand, o, false);
  for (let h = 0; h < layoutHeads; h++) {
    const window = (s: number, e: number) => {
      for (let r = s; r < e; r++) grid.fill(h, r, r + 1, s, uni ? r + 1 : e);
    };
    let start = 0;
    let end = 0;
    for (const w of windows) {
      end = Math.min(end + w, nb);
      window(start, end);
      start += w;
    }
    const last = windows[windows.length - 1];
    for (let i = start; i < nb; i += last) window(i, Math.min(i + last, nb));
    starts.forEach((s, i) => {
      if (s >= nb) return;
      const e = ends ? Math.min(ends[i], nb) : s + 1;
      if (horizontal) grid.fill(h, s, e, 0, nb);
      grid.fill(h, uni ? s : 0, nb, s, e);
    });
  }
  return grid.tensor(perHead);
}

export interface BigBirdLayoutOptions extends LayoutOptions, RandomBlockOptions {
  /** Random key blocks per row (default 1); unidirectional draws from blocks 0..row. */
  numRandomBlocks?: number;
  /** Width of the sliding window in blocks (default 3: the block and one on each side). */
  numSlidingWindowBlocks?: number;
  /** The first numGlobalBlocks blocks attend and are attended by all (default 1). */
  numGlobalBlocks?: number;
  attention?: LayoutAttention;
}

function slidingWindow(grid: Grid, h: number, nb: number, width: number, uni = false): void {
  const w = Math.floor(width / 2);
  for (let r = 0; r < nb; r++) grid.fill(h, r, r + 1, r - w, uni ? r + 1 : r + w + 1);
}

/** DeepSpeed BigBirdSparsityConfig: random blocks, a sliding window, global first blocks; lower triangle if unidirectional. */
export function bigbirdLayout(o: BigBirdLayoutOptions): Tensor<'u8'> {
  const { grid, layoutHeads, perHead, nb } = setup(o);
  const nrand = nonNegInt(o.numRandomBlocks ?? 1, 'numRandomBlocks');
  const width = positiveInt(o.numSlidingWindowBlocks ?? 3, 'numSlidingWindowBlocks');
  const global = nonNegInt(o.numGlobalBlocks ?? 1, 'numGlobalBlocks');
  const uni = attentionOf(o.attention) === 'unidirectional';
  if (nrand > nb) throw new RangeError(`numRandomBlocks (${nrand}) must be at most the number of blocks (${nb})`);
  if (width > nb) throw new RangeError(`numSlidingWindowBlocks (${width}) must be at most the number of blocks (${nb})`);
  if (global > nb) throw new RangeError(`numGlobalBlocks (${global}) must be at most the number of blocks (${nb})`);
  applyRandom(grid, layoutHeads, nb, nrand, o, uni);
  for (let h = 0; h < layoutHeads; h++) {
    slidingWindow(grid, h, nb, width);
    grid.fill(h, 0, global, 0, nb);
    grid.fill(h, 0, nb, 0, global);
  }
  if (uni) grid.tril();
  return grid.tensor(perHead);
}

export interface BSLongformerLayoutOptions extends LayoutOptions {
  /** Width of the sliding window in blocks (default 3). */
  numSlidingWindowBlocks?: number;
  /** Global blocks (default [0]), or the starts of global ranges with globalBlockEndIndices. */
  globalBlockIndices?: readonly number[];
  globalBlockEndIndices?: readonly number[] | null;
  attention?: LayoutAttention;
}

/** DeepSpeed BSLongformerSparsityConfig: a sliding window plus global blocks (rows and columns); lower triangle if unidirectional. */
export function bslongformerLayout(o: BSLongformerLayoutOptions): Tensor<'u8'> {
  const { grid, layoutHeads, perHead, nb } = setup(o);
  const width = positiveInt(o.numSlidingWindowBlocks ?? 3, 'numSlidingWindowBlocks');
  if (width > nb) throw new RangeError(`numSlidingWindowBlocks (${width}) must be at most the number of blocks (${nb})`);
  const { starts, ends } = globalBlocks(o);
  const uni = attentionOf(o.attention) === 'unidirectional';
  for (let h = 0; h < layoutHeads; h++) {
    slidingWindow(grid, h, nb, width);
    starts.forEach((s, i) => {
      if (s >= nb) return;
      const e = ends ? Math.min(ends[i], nb) : s + 1;
      grid.fill(h, s, e, 0, nb);
      grid.fill(h, 0, nb, s, e);
    });
  }
  if (uni) grid.tril();
  return grid.tensor(perHead);
}

export interface LocalSlidingWindowLayoutOptions extends LayoutOptions {
  /** Width of the window in blocks (default 3); unidirectional keeps the floor(width/2) blocks before the diagonal. */
  numSlidingWindowBlocks?: number;
  /** Default 'unidirectional', as upstream. */
  attention?: LayoutAttention;
}

/** DeepSpeed LocalSlidingWindowSparsityConfig: each block row sees floor(width/2) blocks on each side (only before it when unidirectional). */
export function localSlidingWindowLayout(o: LocalSlidingWindowLayoutOptions): Tensor<'u8'> {
  const { grid, layoutHeads, perHead, nb } = setup(o);
  const width = positiveInt(o.numSlidingWindowBlocks ?? 3, 'numSlidingWindowBlocks');
  if (width > nb) throw new RangeError(`numSlidingWindowBlocks (${width}) must be at most the number of blocks (${nb})`);
  const uni = attentionOf(o.attention ?? 'unidirectional') === 'unidirectional';
  for (let h = 0; h < layoutHeads; h++) slidingWindow(grid, h, nb, width, uni);
  return grid.tensor(perHead);
}

export interface StridedLayoutOptions extends LayoutOptions {
  /** Stride in blocks (the paper's l / block; default round(√nb)). */
  stride?: number;
  /** Default 'unidirectional' (the paper's autoregressive setting). */
  attention?: LayoutAttention;
}

/**
 * The strided pattern of the Sparse Transformer paper (Child et al. 2019, §4.2) at block granularity: block
 * row r sees the previous `stride` blocks (r − stride < c ≤ r) and every block c with (r − c) mod stride = 0;
 * bidirectional mirrors both (|r − c| < stride or |r − c| mod stride = 0). All heads share the layout.
 */
export function stridedLayout(o: StridedLayoutOptions): Tensor<'u8'> {
  const { grid, nb } = setup({ ...o, differentLayoutPerHead: false });
  const stride = positiveInt(o.stride ?? Math.max(1, Math.round(Math.sqrt(nb))), 'stride');
  const uni = attentionOf(o.attention ?? 'unidirectional') === 'unidirectional';
  for (let r = 0; r < nb; r++)
    for (let c = 0; c < nb; c++) {
      if (uni && c > r) continue;
      const d = Math.abs(r - c);
      if (d < stride || d % stride === 0) grid.set(0, r, c);
    }
  return grid.tensor(false);
}

/**
 * A layout from an explicit table (e.g. a layout recorded upstream, to replay its random draw): nested arrays
 * [H][Nq/block][Nk/block] or [Nq/block][Nk/block], or a flat array with its shape; nonzero = present.
 * Returns u8 [H, Nq/block, Nk/block] (H = 1 for a 2-D table).
 */
export function layoutFromTable(table: ArrayLike<number | bigint> | ReadonlyArray<ReadonlyArray<unknown>>, shape?: readonly number[]): Tensor<'u8'> {
  const flat: number[] = [];
  const dims: number[] = [];
  const walk = (x: unknown, depth: number): void => {
    if (Array.isArray(x)) {
      if (dims.length <= depth) dims.push(x.length);
      else if (dims[depth] !== x.length) throw new RangeError(`table is ragged at depth ${depth}: ${x.length} vs ${dims[depth]}`);
      for (const y of x) walk(y, depth + 1);
    } else {
      if (typeof x !== 'number' && typeof x !== 'bigint') throw new TypeError(`table entries must be numbers, got ${typeof x}`);
      flat.push(Number(x) !== 0 ? 1 : 0);
    }
  };
  if (shape) {
    const n = shape.reduce((a, b) => a * b, 1);
    const t = table as ArrayLike<number | bigint>;
    if (t.length !== n) throw new RangeError(`table has ${t.length} entries, shape [${shape.join(', ')}] needs ${n}`);
    for (let i = 0; i < n; i++) flat.push(Number(t[i]) !== 0 ? 1 : 0);
    dims.push(...shape);
  } else walk(table, 0);
  if (dims.length === 2) dims.unshift(1);
  if (dims.length !== 3) throw new RangeError(`table must be [H, Nq/block, Nk/block] or [Nq/block, Nk/block], got [${dims.join(', ')}]`);
  return Tensor.from(Uint8Array.from(flat), dims, 'u8');
}

export interface BigBirdRandomTableOptions {
  numHeads: number;
  /** config.block_size. */
  block: number;
  /** The (padded) sequence length: a multiple of block, at least 4 blocks. */
  seqLen: number;
  /** config.num_random_blocks r. */
  numRandomBlocks: number;
  /** Seed of lib/random.ts's generator (default 0). */
  seed?: number;
}

/**
 * A random-block table for bigbirdAttention() (lib/ops/attention.ts), i32 [numHeads, nb − 2, r] with
 * nb = seqLen / block, drawn with a seeded generator from the candidates Hugging Face's
 * BigBirdBlockSparseAttention._bigbird_block_rand_mask allows for query block row i (entry [h, i − 1]): r
 * distinct blocks of 1 … nb − 2 that are neither i − 1, i nor i + 1 (rows 1 and 2: blocks 3 … nb − 2 and
 * 4 … nb − 2; rows nb − 3 and nb − 2: any of 1 … nb − 2, as upstream). The same seed gives the same table on
 * every platform, but not upstream's draw (numpy's generator; upstream also uses a per-length "plan" for some
 * lengths): to reproduce a recorded upstream run, pass its table (e.g. aux.rand_attn.layer{i}) instead.
 * Upstream draws in train mode only; in eval mode it uses an all-zero table (bigbirdAttention's default).
 */
export function bigbirdRandomTable(o: BigBirdRandomTableOptions): Tensor<'i32'> {
  if (typeof o !== 'object' || o === null) throw new TypeError('bigbirdRandomTable options must be an object');
  const heads = positiveInt(o.numHeads, 'numHeads');
  const block = positiveInt(o.block, 'block');
  const seqLen = positiveInt(o.seqLen, 'seqLen');
  const r = nonNegInt(o.numRandomBlocks, 'numRandomBlocks');
  if (seqLen % block !== 0) throw new RangeError(`seqLen (${seqLen}) must be a multiple of block (${block})`);
  const nb = seqLen / block;
  if (nb < 4) throw new RangeError(`bigbirdRandomTable needs at least 4 blocks (seqLen / block), got ${nb}`);
  if (o.seed !== undefined && !Number.isSafeInteger(o.seed)) throw new TypeError(`seed must be a safe integer, got ${String(o.seed)}`);
  const rng = new Rng(o.seed ?? 0);
  const out = new Int32Array(heads * (nb - 2) * r);
  for (let h = 0; h < heads; h++) {
    for (let i = 1; i <= nb - 2; i++) {
      const cand: number[] = [];
      for (let c = 1; c <= nb - 2; c++) {
        const ok = i === 1 ? c >= 3 : i === 2 ? c >= 4 : i >= nb - 3 ? true : Math.abs(c - i) > 1;
        if (ok) cand.push(c);
      }
      if (r > cand.length)
        throw new RangeError(`numRandomBlocks (${r}) exceeds the ${cand.length} blocks query block row ${i} may draw from (seqLen too short for BigBird's block-sparse attention)`);
      const pick = sample(rng, cand.length, r);
      for (let k = 0; k < r; k++) out[(h * (nb - 2) + i - 1) * r + k] = cand[pick[k]];
    }
  }
  return Tensor.from(out, [heads, nb - 2, r], 'i32');
}
