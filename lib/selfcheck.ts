/**
 * A short self-check of the installed addon: each native path against a plain JS computation, on every
 * kernel level the CPU supports, with 1 and N threads, sync and async. Used by `npm start` and the CLI.
 */
import { binding } from './native';
import { attention } from './ops/attention';
import { add, addAsync } from './ops/elementwise';
import { matmul } from './ops/gemm';
import { Tensor } from './tensor';

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
}

/** ||x - y|| / ||y|| in float64. */
function relErr(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < y.length; i++) {
    num += (x[i] - y[i]) ** 2;
    den += y[i] ** 2;
  }
  return Math.sqrt(num / den);
}

// Plain float64 references for the checks below.
function refMatmul(a: Float32Array, b: Float32Array, m: number, k: number, n: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) for (let j = 0; j < n; j++) c[i * n + j] += a[i * k + p] * b[p * n + j];
  return c;
}

function refCausalAttention(q: Float32Array, k: Float32Array, v: Float32Array, n: number, d: number): Float64Array {
  const out = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    const s = new Float64Array(i + 1);
    let max = -Infinity;
    for (let j = 0; j <= i; j++) {
      for (let t = 0; t < d; t++) s[j] += q[i * d + t] * k[j * d + t];
      s[j] /= Math.sqrt(d);
      max = Math.max(max, s[j]);
    }
    let sum = 0;
    for (let j = 0; j <= i; j++) sum += (s[j] = Math.exp(s[j] - max));
    for (let j = 0; j <= i; j++) for (let t = 0; t < d; t++) out[i * d + t] += (s[j] / sum) * v[j * d + t];
  }
  return out;
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

  const [m, kk, nn] = [67, 129, 45];
  const ma = Tensor.randn([m, kk], { seed: 3 });
  const mb = Tensor.randn([kk, nn], { seed: 4 });
  const mref = refMatmul(ma.data, mb.data, m, kk, nn);
  const [an, ad] = [70, 24];
  const q = Tensor.randn([1, 1, an, ad], { seed: 5 });
  const k = Tensor.randn([1, 1, an, ad], { seed: 6 });
  const v = Tensor.randn([1, 1, an, ad], { seed: 7 });
  const aref = refCausalAttention(q.data, k.data, v.data, an, ad);

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
      await check(`matmul ${m}x${kk} * ${kk}x${nn}, ${level}`, () => {
        const e = relErr(matmul(ma, mb).data, mref);
        if (!(e <= 1e-5)) throw new Error(`relative error ${e.toExponential(2)} against float64`);
        return `relative error ${e.toExponential(1)}`;
      });
      await check(`causal flash attention N=${an} D=${ad}, ${level}`, () => {
        const e = relErr(attention(q, k, v, { causal: true }).data, aref);
        if (!(e <= 1e-5)) throw new Error(`relative error ${e.toExponential(2)} against float64`);
        return `relative error ${e.toExponential(1)}`;
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
