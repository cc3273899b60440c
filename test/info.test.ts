import { describe, expect, it } from 'vitest';

import { binding } from '../lib/native';
import { getNumThreads, info, setIsa, setNumThreads } from '../lib/runtime';
import { levels, runNode } from './helpers';

const probe = "const b=require('./build/Release/turboformer.node'); console.log(JSON.stringify(b.info()))";

describe('info()', () => {
  it('reports features, the chosen level, threads, build and CUDA status', () => {
    const i = info();
    expect(i.version).toBe(require('../package.json').version);
    expect(i.napiVersion).toBe(8);
    expect(i.isa.supported[0]).toBe('scalar');
    expect(i.isa.supported).toContain(i.isa.active);
    expect(i.isa.best).toBe(i.isa.supported[i.isa.supported.length - 1]);
    for (const f of ['avx2', 'fma', 'f16c', 'avx512f', 'avx512bw', 'avx512vl', 'avx512dq', 'avx512_vnni', 'avx512_bf16', 'neon']) {
      expect(typeof (i.features as unknown as Record<string, unknown>)[f]).toBe('boolean');
    }
    if (process.arch === 'x64') expect(i.isa.supported.includes('avx2')).toBe(i.features.avx2 && i.features.fma && i.features.f16c);
    if (process.arch === 'x64') expect(i.isa.supported.includes('avx512')).toBe(i.features.avx512f && i.features.avx512bw && i.features.avx512vl && i.features.avx512dq);
    expect(i.threads.count).toBeGreaterThanOrEqual(1);
    expect(i.threads.hardware).toBeGreaterThanOrEqual(1);
    expect(i.build.system).toMatch(/cmake-js|node-gyp/);
    expect(typeof i.cuda.compiled).toBe('boolean');
    if (!i.cuda.available) expect(i.cuda.message.length).toBeGreaterThan(10);
    if (i.cuda.available) expect(i.cuda.devices.length).toBeGreaterThan(0);
    expect(i.node).toBe(process.version);
  });

  it('on a machine without an NVIDIA driver says so plainly', () => {
    const i = info();
    if (i.cuda.compiled && i.cuda.driverVersion === 0) {
      expect(i.cuda.available).toBe(false);
      expect(i.cuda.message).toMatch(/no NVIDIA driver found/);
      expect(i.cuda.devices).toEqual([]);
    } else if (!i.cuda.compiled) {
      expect(i.cuda.message).toMatch(/no CUDA kernels/);
    } else {
      expect(i.cuda.driverVersion).toBeGreaterThan(0);
    }
  });
});

describe('dispatch level', () => {
  it('defaults to the best supported level', () => {
    const r = runNode(probe, { TURBOFORMER_ISA: undefined });
    const i = JSON.parse(r.stdout);
    expect(i.isa.active).toBe(i.isa.best);
    expect(i.isa.source).toBe('auto');
  });

  for (const level of levels) {
    it(`TURBOFORMER_ISA=${level} forces it`, () => {
      const i = JSON.parse(runNode(probe, { TURBOFORMER_ISA: level }).stdout);
      expect(i.isa.active).toBe(level);
      expect(i.isa.source).toBe('TURBOFORMER_ISA');
      expect(i.isa.warning).toBe('');
    });
  }

  it('an unknown or unsupported level falls back to the best with a warning', () => {
    const bogus = JSON.parse(runNode(probe, { TURBOFORMER_ISA: 'sse9' }).stdout);
    expect(bogus.isa.active).toBe(bogus.isa.best);
    expect(bogus.isa.warning).toMatch(/TURBOFORMER_ISA='sse9' is not one of/);
    const all = ['scalar', 'avx2', 'avx512', 'neon'];
    const missing = all.find((l) => !levels.includes(l as never));
    if (missing) {
      const m = JSON.parse(runNode(probe, { TURBOFORMER_ISA: missing }).stdout);
      expect(m.isa.warning).toMatch(/not supported by this CPU/);
      expect(m.isa.active).toBe(m.isa.best);
    }
  });

  it('setIsa switches at run time and rejects unsupported levels', () => {
    for (const l of levels) expect(setIsa(l)).toBe(l);
    expect(binding.info().isa.source).toBe('setIsa');
    const missing = (['avx2', 'avx512', 'neon'] as const).find((l) => !levels.includes(l));
    if (missing) expect(() => setIsa(missing)).toThrow(/not supported by this CPU/);
    expect(setIsa('auto')).toBe(info().isa.best);
  });
});

describe('threads', () => {
  it('TURBOFORMER_NUM_THREADS sets the default, otherwise the available parallelism', () => {
    expect(JSON.parse(runNode(probe, { TURBOFORMER_NUM_THREADS: '3' }).stdout).threads.count).toBe(3);
    const d = JSON.parse(runNode(probe, { TURBOFORMER_NUM_THREADS: undefined }).stdout);
    expect(d.threads.count).toBe(require('node:os').availableParallelism());
    expect(JSON.parse(runNode(probe, { TURBOFORMER_NUM_THREADS: 'lots' }).stdout).threads.count).toBe(d.threads.count);
  });

  it('setNumThreads changes the pool', () => {
    const before = getNumThreads();
    expect(setNumThreads(3)).toBe(3);
    expect(info().threads.count).toBe(3);
    expect(info().threadsSource).toBe('setNumThreads');
    setNumThreads(before);
  });
});
