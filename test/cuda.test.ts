// The CUDA path: with a device, its kernel equals the CPU; without one, a clear error and CPU ops work.
import { describe, expect, it } from 'vitest';

import { add } from '../lib/ops/elementwise';
import { cudaAdd, cudaAddAsync, cudaAvailable } from '../lib/ops/cuda';
import { info } from '../lib/runtime';
import { Tensor } from '../lib/tensor';
import { sameBytes } from './helpers';

const a = Tensor.randn([100_003], { seed: 1 });
const b = Tensor.randn([100_003], { seed: 2 });

describe.runIf(cudaAvailable())('CUDA device present', () => {
  it('lists the devices', () => {
    const d = info().cuda.devices[0];
    expect(d.name.length).toBeGreaterThan(0);
    expect(d.totalMemory).toBeGreaterThan(0);
  });
  it('cudaAdd equals the CPU add, sync and async', async () => {
    expect(sameBytes(cudaAdd(a, b).data, add(a, b).data)).toBe(true);
    expect(sameBytes((await cudaAddAsync(a, b)).data, add(a, b).data)).toBe(true);
    expect(cudaAdd(Tensor.zeros([0]), Tensor.zeros([0])).shape).toEqual([0]);
  });
  it('rejects a device that does not exist', () => {
    expect(() => cudaAdd(a, b, 4096)).toThrow(/device 4096 does not exist/);
  });
});

describe.runIf(!cudaAvailable())('no CUDA device', () => {
  it('cudaAdd throws a plain error naming the reason, and CPU ops still work', async () => {
    expect(() => cudaAdd(a, b)).toThrow(/CUDA is not available: /);
    await expect(cudaAddAsync(a, b)).rejects.toThrow(/CUDA is not available/);
    expect(add(a, b).shape).toEqual([100_003]);
  });
});

describe('CUDA arguments', () => {
  it('are checked before anything else', () => {
    expect(() => cudaAdd(a, Tensor.zeros([2]))).toThrow(/a and b must have the same shape/);
    expect(() => cudaAdd(a, b, -1)).toThrow(/device must be in/);
  });
});
