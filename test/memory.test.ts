// Many calls do not grow native memory or the process RSS: outputs, mappings and async workers are freed.
import { describe, expect, it } from 'vitest';

import { binding } from '../lib/native';
import { add, addAsync } from '../lib/ops/elementwise';
import { Tensor } from '../lib/tensor';
import { runNode } from './helpers';

const gc = (globalThis as { gc?: () => void }).gc;

async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((r) => setImmediate(r));
  }
}

describe('memory', () => {
  it('has gc exposed (vitest execArgv --expose-gc)', () => {
    expect(typeof gc).toBe('function');
  });

  it('no growth of native bytes or RSS over many sync and async calls', async () => {
    const a = Tensor.randn([1 << 16], { seed: 1 });
    const round = async (): Promise<void> => {
      for (let i = 0; i < 200; i++) {
        add(a, a);
        a.to('bf16');
        Tensor.alloc([1 << 14]).dispose();
        binding.mapFile(__filename);
      }
      await Promise.all(Array.from({ length: 50 }, () => addAsync(a, a)));
    };
    // Warm up (JIT, allocator arenas of the worker threads, heap sizing), then measure two equal
    // stretches. Native memory is accounted exactly, so it must not grow at all. RSS is noisy (allocator
    // caching, GC timing under CPU load: 100-170 MB swings were seen on a loaded 2-core machine), so it
    // gets a bound a leak would still blow through: each stretch allocates about 8 * 90 MiB.
    for (let i = 0; i < 5; i++) await round();
    await settle();
    const native0 = binding.memoryStats();
    const external0 = process.memoryUsage().arrayBuffers;
    const rss = [process.memoryUsage().rss];
    for (let stretch = 0; stretch < 2; stretch++) {
      for (let i = 0; i < 8; i++) await round();
      await settle();
      rss.push(process.memoryUsage().rss);
    }
    const native1 = binding.memoryStats();
    expect(native1.liveBytes - native0.liveBytes).toBeLessThanOrEqual(0);
    expect(native1.mappedFiles).toBeLessThanOrEqual(native0.mappedFiles);
    expect(process.memoryUsage().arrayBuffers - external0).toBeLessThan(16 * 2 ** 20);
    expect(rss[2] - rss[1]).toBeLessThan(320 * 2 ** 20);
  });

  it('a synchronous loop of ops does not hold its outputs until the event loop turns', () => {
    // 3000 outputs of 1 MiB each, never awaited: op outputs are engine-owned, so the collector reclaims
    // them inside the loop (external buffers wait for finalizers that run only on a later turn: about
    // 3 GiB of RSS here).
    const r = runNode(
      `const { ops, Tensor } = require('./dist');
       const a = Tensor.randn([1 << 18], { seed: 1 });
       const rss0 = process.memoryUsage().rss;
       for (let i = 0; i < 3000; i++) ops.add(a, a);
       console.log(JSON.stringify({ grew: process.memoryUsage().rss - rss0 }));`,
    );
    expect(r.stderr).toBe('');
    const { grew } = JSON.parse(r.stdout) as { grew: number };
    expect(grew).toBeLessThan(512 * 2 ** 20);
  });

  it('TURBOFORMER_HUGE_PAGES=1 puts blocks of 4 MiB or more on huge-page-advised mappings (Linux), exactly accounted', () => {
    // Each child allocates a 20 MiB and a 1 MiB tensor, checks contents, and reports the sizes of its mappings that
    // carry the kernel's MADV_HUGEPAGE flag ("hg" in /proc/self/smaps VmFlags) while they live.
    const code = `const { Tensor, memoryStats } = require('./dist');
      const fs = require('fs');
      const base = memoryStats().liveBytes;
      const big = Tensor.alloc([5 << 20]), small = Tensor.alloc([1 << 18]);
      const zero = big.data[0] === 0 && big.data[big.data.length - 1] === 0 && big.data[3 << 20] === 0;
      big.data.fill(2); small.data.fill(3);
      const ok = big.data[(5 << 20) - 1] === 2 && small.data[0] === 3;
      const hg = [];
      if (fs.existsSync('/proc/self/smaps')) {
        let size = 0;
        for (const line of fs.readFileSync('/proc/self/smaps', 'utf8').split('\\n')) {
          const m = /^Size:\\s+(\\d+) kB/.exec(line);
          if (m) size = +m[1];
          if (line.startsWith('VmFlags:') && / hg/.test(line)) hg.push(size);
        }
      }
      const live = memoryStats().liveBytes - base, huge = memoryStats().hugePages;
      big.dispose(); small.dispose();
      gc();  // the detached buffers' finalizers (munmap for the big one) run after a collection
      setImmediate(() => { gc(); setImmediate(() =>
        console.log(JSON.stringify({ zero, ok, live, freed: memoryStats().liveBytes - base, huge, hg }))); });`;
    const on = JSON.parse(runNode(code, { TURBOFORMER_HUGE_PAGES: '1' }, ['--expose-gc']).stdout);
    const off = JSON.parse(runNode(code, { TURBOFORMER_HUGE_PAGES: undefined }, ['--expose-gc']).stdout);
    for (const r of [on, off]) {
      expect([r.zero, r.ok, r.live, r.freed]).toEqual([true, true, (20 + 1) * 2 ** 20, 0]);
    }
    expect([on.huge, off.huge]).toEqual([process.platform === 'linux', false]);
    if (process.platform === 'linux') {
      // the 20 MiB block's mapping, advised (at least its 10 whole huge pages); none without the variable
      expect(on.hg.some((kb: number) => kb >= 20 * 1024)).toBe(true);
      expect(off.hg.some((kb: number) => kb >= 20 * 1024)).toBe(false);
    }
  });
});
