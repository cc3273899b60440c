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
});
