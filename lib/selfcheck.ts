/**
 * A short self-check of the installed addon: each native path against a plain JS computation, on every
 * kernel level the CPU supports, with 1 and N threads, sync and async. Used by `npm start` and the CLI.
 */
import { binding } from './native';
import { add, addAsync } from './ops/elementwise';
import { Tensor } from './tensor';

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export async function selfCheck(): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const check = async (name: string, fn: () => string | Promise<string>): Promise<void> => {
    try {
      results.push({ name, ok: true, detail: await fn() });
    } catch (e) {
      results.push({ name, ok: false, detail: e instanceof Error ? e.message : String(e) });
    }
  };
  const n = 100_003; // not a multiple of any SIMD width
  const a = Tensor.randn([n], { seed: 1 });
  const b = Tensor.randn([n], { seed: 2 });
  const expected = new Float32Array(n);
  for (let i = 0; i < n; i++) expected[i] = a.data[i] + b.data[i];

  const startLevel = binding.info().isa.active;
  const startThreads = binding.getNumThreads();
  try {
    for (const level of binding.info().isa.supported) {
      binding.setIsa(level);
      await check(`add, ${level}`, () => {
        const d = maxAbsDiff(add(a, b).data, expected);
        if (d !== 0) throw new Error(`differs from JS by ${d}`);
        return `${n} elements exact`;
      });
      await check(`f32 <-> f16/bf16, ${level}`, () => {
        const x = Tensor.from([1, -2.5, 65504, 1e-7, 0.1, 3.140625], [6]);
        const h = x.to('f16').to('f32').data;
        const bf = x.to('bf16').to('f32').data;
        const wantH = [1, -2.5, 65504, 1.1920928955078125e-7, 0.0999755859375, 3.140625];
        const wantB = [1, -2.5, 65536, 1.0011717677116394e-7, 0.10009765625, 3.140625];
        if (maxAbsDiff(h, wantH) !== 0) throw new Error(`f16 round trip gave ${Array.from(h).join(', ')}`);
        if (maxAbsDiff(bf, wantB) !== 0) throw new Error(`bf16 round trip gave ${Array.from(bf).join(', ')}`);
        return 'round to nearest even';
      });
    }
    binding.setIsa(startLevel);
    await check('thread pool: 1 thread == all threads', () => {
      const hw = binding.info().threads.hardware;
      binding.setNumThreads(1);
      const one = add(a, b).data;
      binding.setNumThreads(Math.max(2, hw));
      const many = add(a, b).data;
      if (maxAbsDiff(one, many) !== 0) throw new Error('results differ');
      return `1 and ${Math.max(2, hw)} threads equal`;
    });
    binding.setNumThreads(startThreads);
    await check('async op off the main thread', async () => {
      const r = await addAsync(a, b);
      const d = maxAbsDiff(r.data, expected);
      if (d !== 0) throw new Error(`differs from JS by ${d}`);
      return 'promise resolved with the exact sum';
    });
  } finally {
    binding.setIsa(startLevel);
    binding.setNumThreads(startThreads);
  }
  return results;
}
