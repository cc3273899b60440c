import { readdirSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { openSafetensors } from '../lib/io/safetensors';
import { blockSparseAttention } from '../lib/ops/attention';
import {
  bigbirdLayout,
  bslongformerLayout,
  denseLayout,
  drawRandomBlocks,
  fixedLayout,
  layoutFromTable,
  localSlidingWindowLayout,
  stridedLayout,
  variableLayout,
} from '../lib/ops/layouts';
import { Tensor } from '../lib/tensor';
import { levels, relError, sameBytes, withIsa } from './helpers';

const dir = join(__dirname, 'fixtures', 'kernels');
const files = readdirSync(dir).filter((f) => f.startsWith('blocksparse_') && f.endsWith('.safetensors'));

type Builder = (o: never) => Tensor<'u8'>;
const builders: Record<string, Builder> = {
  DenseSparsityConfig: denseLayout,
  FixedSparsityConfig: fixedLayout,
  VariableSparsityConfig: variableLayout,
  BigBirdSparsityConfig: bigbirdLayout,
  BSLongformerSparsityConfig: bslongformerLayout,
  LocalSlidingWindowSparsityConfig: localSlidingWindowLayout,
};
const randomConfigs = new Set(['VariableSparsityConfig', 'BigBirdSparsityConfig']);

/** DeepSpeed's constructor kwargs (snake_case) as our options (camelCase). */
function optionsOf(config: Record<string, unknown>, seqLen: number): Record<string, unknown> {
  const o: Record<string, unknown> = { seqLen };
  for (const [k, v] of Object.entries(config)) o[k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())] = v;
  return o;
}

function load(file: string) {
  const f = openSafetensors(join(dir, file));
  const md = f.metadata;
  const t = {
    cls: md.config_class,
    config: JSON.parse(md.config) as Record<string, unknown>,
    seqLen: Number(md.seq_len),
    layout: f.tensor('layout') as Tensor<'u8'>,
    q: f.tensor('input.q') as Tensor<'f32'>,
    k: f.tensor('input.k') as Tensor<'f32'>,
    v: f.tensor('input.v') as Tensor<'f32'>,
    out: f.tensor('output.out') as Tensor<'f32'>,
    outCausal: f.has('output.out_causal') ? (f.tensor('output.out_causal') as Tensor<'f32'>) : null,
  };
  // copy out of the mapping before closing
  const copy = <T extends Tensor<'u8'> | Tensor<'f32'>>(x: T): T => Tensor.from(x.data.slice(), x.shape, x.dtype) as T;
  const r = { ...t, layout: copy(t.layout), q: copy(t.q), k: copy(t.k), v: copy(t.v), out: copy(t.out), outCausal: t.outCausal ? copy(t.outCausal) : null };
  f.dispose();
  return r;
}

describe('layout builders reproduce DeepSpeed (fixtures)', () => {
  it('finds the fixtures', () => expect(files.length).toBe(11));
  for (const file of files) {
    it(file, () => {
      const fx = load(file);
      const build = builders[fx.cls];
      expect(build, fx.cls).toBeDefined();
      const o = optionsOf(fx.config, fx.seqLen);
      const H = fx.layout.shape[0];
      const nb = fx.layout.shape[1];
      let layout: Tensor<'u8'>;
      if (randomConfigs.has(fx.cls)) {
        // replay the recorded draw: the random blocks of each row are what the deterministic part lacks
        const det = build({ ...o, numRandomBlocks: 0 } as never);
        const layoutHeads = o.differentLayoutPerHead ? H : 1;
        const table = Array.from({ length: layoutHeads }, (_, h) =>
          Array.from({ length: nb }, (_, r) => {
            const cols: number[] = [];
            for (let c = 0; c < nb; c++) {
              const i = (h * nb + r) * nb + c;
              if (fx.layout.data[i] && !det.data[i]) cols.push(c);
            }
            expect(cols.length).toBeLessThanOrEqual(Number(o.numRandomBlocks));
            return cols;
          }),
        );
        layout = build({ ...o, randomBlocks: table } as never);
        // a seeded draw has the same structure: the deterministic part plus numRandomBlocks per row at most
        const seeded = build({ ...o, seed: 42 } as never);
        for (let i = 0; i < det.data.length; i++) if (det.data[i]) expect(seeded.data[i]).toBe(1);
      } else {
        layout = build(o as never);
      }
      expect(layout.shape).toEqual(fx.layout.shape);
      expect(sameBytes(layout.data, fx.layout.data), `${file}: layout`).toBe(true);
      // the attention output through the replayed layout (and causal where recorded)
      const block = Number(fx.config.block);
      const out = blockSparseAttention(fx.q, fx.k, fx.v, layout, { block });
      expect(relError(out.data, fx.out.data), `${file}: out`).toBeLessThanOrEqual(1e-5);
      if (fx.outCausal) {
        const oc = blockSparseAttention(fx.q, fx.k, fx.v, layout, { block, causal: true });
        expect(relError(oc.data, fx.outCausal.data), `${file}: out_causal`).toBeLessThanOrEqual(1e-5);
      }
    });
  }

  for (const level of levels) {
    it(`fixture outputs at every dispatch level, recorded layouts fed back as-is (${level})`, () => {
      withIsa(level, () => {
        for (const file of files) {
          const fx = load(file);
          const block = Number(fx.config.block);
          const out = blockSparseAttention(fx.q, fx.k, fx.v, fx.layout, { block, layout: 'bhnd' });
          expect(relError(out.data, fx.out.data), file).toBeLessThanOrEqual(1e-5);
          const replay = layoutFromTable(Array.from(fx.layout.data), fx.layout.shape);
          expect(sameBytes(replay.data, fx.layout.data)).toBe(true);
        }
      });
    });
  }
});

describe('layout builders', () => {
  it('seeded random blocks are reproducible and change with the seed', () => {
    const o = { numHeads: 4, block: 16, seqLen: 512, differentLayoutPerHead: true, numRandomBlocks: 2 };
    const a = bigbirdLayout({ ...o, seed: 1 });
    const b = bigbirdLayout({ ...o, seed: 1 });
    const c = bigbirdLayout({ ...o, seed: 2 });
    expect(sameBytes(a.data, b.data)).toBe(true);
    expect(sameBytes(a.data, c.data)).toBe(false);
    // replaying the drawn table gives the same layout
    const table = drawRandomBlocks(4, 32, 2, 1);
    expect(sameBytes(bigbirdLayout({ ...o, randomBlocks: table }).data, a.data)).toBe(true);
    for (const rows of table) for (const cols of rows) expect(new Set(cols).size).toBe(2);
    // unidirectional draws from blocks 0..row only, and more than one random block fails at row 0 (as upstream)
    const u = bigbirdLayout({ ...o, numRandomBlocks: 1, attention: 'unidirectional', seed: 3 });
    for (let h = 0; h < 4; h++) for (let r = 0; r < 32; r++) for (let cc = r + 1; cc < 32; cc++) expect(u.data[(h * 32 + r) * 32 + cc]).toBe(0);
    expect(() => bigbirdLayout({ ...o, attention: 'unidirectional' })).toThrow(RangeError);
  });

  it('shared layouts copy head 0 to every head', () => {
    const l = variableLayout({ numHeads: 3, block: 8, seqLen: 128, numRandomBlocks: 2, seed: 9 });
    const n2 = 16 * 16;
    expect(sameBytes(l.data.subarray(0, n2), l.data.subarray(n2, 2 * n2))).toBe(true);
    expect(sameBytes(l.data.subarray(0, n2), l.data.subarray(2 * n2))).toBe(true);
    expect(denseLayout({ numHeads: 2, block: 8, seqLen: 64 }).data.every((x) => x === 1)).toBe(true);
  });

  it('strided (Sparse Transformer) matches its definition, and local sliding window its own', () => {
    // independent element-by-element statement: unidirectional, stride 3, 10 blocks
    const s = stridedLayout({ numHeads: 1, block: 8, seqLen: 80, stride: 3 });
    const want: string[] = [];
    for (let r = 0; r < 10; r++) {
      let row = '';
      for (let c = 0; c < 10; c++) row += c <= r && (r - c < 3 || (r - c) % 3 === 0) ? '1' : '0';
      want.push(row);
    }
    const got = Array.from({ length: 10 }, (_, r) => Array.from(s.data.subarray(r * 10, r * 10 + 10)).join(''));
    expect(got).toEqual(want);
    expect(got[0]).toBe('1000000000');
    expect(got[9]).toBe('1001001111');
    const sb = stridedLayout({ numHeads: 1, block: 8, seqLen: 80, stride: 3, attention: 'bidirectional' });
    for (let r = 0; r < 10; r++) for (let c = 0; c < 10; c++) expect(sb.data[r * 10 + c]).toBe(sb.data[c * 10 + r]);
    const w = localSlidingWindowLayout({ numHeads: 1, block: 8, seqLen: 48, numSlidingWindowBlocks: 5 });
    const wr = Array.from({ length: 6 }, (_, r) => Array.from(w.data.subarray(r * 6, r * 6 + 6)).join(''));
    expect(wr).toEqual(['100000', '110000', '111000', '011100', '001110', '000111']);
  });

  it('layoutFromTable accepts nested and flat tables', () => {
    const t = layoutFromTable([
      [1, 0],
      [1, 1],
    ]);
    expect(t.shape).toEqual([1, 2, 2]);
    expect(Array.from(t.data)).toEqual([1, 0, 1, 1]);
    expect(Array.from(layoutFromTable([0n, 2n, 1n, 0n], [1, 2, 2]).data)).toEqual([0, 1, 1, 0]);
    expect(() => layoutFromTable([[1, 0], [1]])).toThrow(RangeError);
  });

  it('rejects bad options naming them', () => {
    const base = { numHeads: 2, block: 16, seqLen: 128 };
    const bad: [() => unknown, ErrorConstructor, RegExp][] = [
      [() => denseLayout({ ...base, seqLen: 100 }), RangeError, /seqLen \(100\) must be a multiple of block \(16\)/],
      [() => denseLayout({ ...base, numHeads: 0 }), RangeError, /numHeads/],
      [() => denseLayout({ ...base, block: 1.5 }), TypeError, /block/],
      [() => fixedLayout({ ...base, numLocalBlocks: 4, numGlobalBlocks: 3 }), RangeError, /numLocalBlocks/],
      [() => fixedLayout({ ...base, numDifferentGlobalPatterns: 2 }), RangeError, /differentLayoutPerHead/],
      [() => fixedLayout({ ...base, attention: 'causal' as 'unidirectional' }), RangeError, /attention/],
      [() => variableLayout({ ...base, globalBlockIndices: [0, 2], globalBlockEndIndices: [1] }), RangeError, /globalBlockEndIndices/],
      [() => variableLayout({ ...base, numRandomBlocks: 9 }), RangeError, /numRandomBlocks/],
      [() => bigbirdLayout({ ...base, randomBlocks: [[[0]]] }), RangeError, /randomBlocks/],
      [() => bigbirdLayout({ ...base, randomBlocks: [Array.from({ length: 8 }, () => [8])] }), RangeError, /randomBlocks\[0\]\[0\]/],
      [() => bslongformerLayout({ ...base, numSlidingWindowBlocks: 9 }), RangeError, /numSlidingWindowBlocks/],
      [() => stridedLayout({ ...base, stride: 0 }), RangeError, /stride/],
    ];
    for (const [fn, type, re] of bad) {
      expect(fn).toThrow(type);
      expect(fn).toThrow(re);
    }
  });
});
