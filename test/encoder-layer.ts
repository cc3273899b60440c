/**
 * A BERT-style encoder layer composed from existing ops, for the end-to-end checks of the exact attention ops
 * against Hugging Face fixtures (test/fixtures/hf): projections, the given attention, output dense + residual
 * + LayerNorm, FFN with the config's activation, + residual + LayerNorm. The model families come later.
 */
import { join } from 'node:path';

import { openSafetensors, type SafetensorsFile } from '../lib/io/safetensors';
import { add, gelu, geluTanh } from '../lib/ops/elementwise';
import { linear } from '../lib/ops/gemm';
import { layerNorm } from '../lib/ops/norm';
import { Tensor } from '../lib/tensor';

export function fixture(name: string): { model: SafetensorsFile; io: SafetensorsFile } {
  const dir = join(__dirname, 'fixtures', 'hf', name);
  return { model: openSafetensors(join(dir, 'model.safetensors')), io: openSafetensors(join(dir, 'io.safetensors')) };
}

/** Layer `i` of `model` on x [B, N, E]: attend gets a projection function (name → [B, N, H, D]) and returns [B, N, H, D]. */
export function encoderLayer(
  model: SafetensorsFile,
  i: number,
  x: Tensor<'f32'>,
  heads: number,
  act: 'gelu' | 'gelu_new',
  attend: (project: (name: string) => Tensor<'f32'>) => Tensor<'f32'>,
): Tensor<'f32'> {
  const [B, N, E] = x.shape;
  const w = (n: string) => model.tensor(`encoder.layer.${i}.${n}`) as Tensor<'f32'>;
  const lin = (t: Tensor<'f32'>, n: string) => linear(t, w(`${n}.weight`), w(`${n}.bias`));
  const project = (n: string) => lin(x, `attention.self.${n}`).reshape([B, N, heads, E / heads]);
  const ctx = attend(project).reshape([B, N, E]);
  const a = layerNorm(add(lin(ctx, 'attention.output.dense'), x), w('attention.output.LayerNorm.weight'), w('attention.output.LayerNorm.bias'), 1e-12);
  const hmid = lin(a, 'intermediate.dense');
  const f = lin(act === 'gelu' ? gelu(hmid) : geluTanh(hmid), 'output.dense');
  return layerNorm(add(f, a), w('output.LayerNorm.weight'), w('output.LayerNorm.bias'), 1e-12);
}

/** The largest violation of |got − want| ≤ atol + rtol·|want| (≤ 0 when all pass). */
export function worstExcess(got: ArrayLike<number>, want: ArrayLike<number>, atol = 1e-4, rtol = 1e-4): number {
  let worst = -Infinity;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) - atol - rtol * Math.abs(want[i]));
  return worst;
}
