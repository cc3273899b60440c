/**
 * Element-wise ops, computed natively (SIMD per ISA, on the addon's thread pool).
 *
 * - Arithmetic `add`, `sub`, `mul`, `div` on f32 tensors with numpy broadcasting: shapes are aligned from
 *   the right and each pair of dims must be equal or 1, so a bias [K] adds to [M, K], a [B, 1, N] mask to
 *   [B, M, N], and a plain number to anything.
 * - Activations `gelu` (exact, erf form), `geluTanh` (the tanh approximation: Hugging Face `gelu_new` /
 *   `gelu_pytorch_tanh`), `silu`, `relu`, `relu6`, `relu2` (relu(x)², RWKV's channel mix), `sigmoid`, `tanh`,
 *   `softplus` (PyTorch's beta 1, threshold 20), or any of them by its Hugging Face `hidden_act` name through `activation(x, name)`.
 *
 * Accuracy: arithmetic is IEEE fp32 (exactly rounded). Activations are measured against float64 within a few
 * ulp (exp 1.3, tanh 1.5, erf 2.5, sigmoid 2.7, silu 3.5, softplus 3.4, gelu 6); geluTanh's error grows with
 * |x|³ for large negative x, like any fp32 evaluation of that formula. Every form gives the same bits at any
 * thread count. Each op has an async form that computes off the main thread.
 */
import { binding, type ActivationName, type RawTensor } from '../native';
import { Tensor } from '../tensor';

export type { ActivationName } from '../native';

/** An f32 tensor, or a number (a scalar that broadcasts to any shape). */
export type Operand = Tensor<'f32'> | number;

function operand(v: Operand, name: string): RawTensor<'f32'> {
  if (typeof v === 'number') return { data: Float32Array.of(v), shape: [], dtype: 'f32' };
  if (v === null || typeof v !== 'object') throw new TypeError(`${name} must be an f32 tensor or a number, got ${String(v)}`);
  return v;
}

/**
 * a + b, broadcasting (numpy rules).
 * @example add(Tensor.from([1, 2], [2]), Tensor.from([3, 4], [2])) // [4, 6]
 * @example add(x, bias) // x [batch, seq, hidden] + bias [hidden]
 */
export function add(a: Operand, b: Operand): Tensor<'f32'> {
  return Tensor.fromNative(binding.add(operand(a, 'a'), operand(b, 'b')));
}

/** add() computed off the main thread; the event loop keeps running. */
export async function addAsync(a: Operand, b: Operand): Promise<Tensor<'f32'>> {
  return Tensor.fromNative(await binding.addAsync(operand(a, 'a'), operand(b, 'b')));
}

/**
 * a - b, broadcasting.
 * @example sub(x, mean(x, -1, { keepdim: true })) // centre each row
 */
export function sub(a: Operand, b: Operand): Tensor<'f32'> {
  return Tensor.fromNative(binding.sub(operand(a, 'a'), operand(b, 'b')));
}

export async function subAsync(a: Operand, b: Operand): Promise<Tensor<'f32'>> {
  return Tensor.fromNative(await binding.subAsync(operand(a, 'a'), operand(b, 'b')));
}

/**
 * a * b, broadcasting.
 * @example mul(scores, 0.125) // scale by 1/sqrt(64)
 * @example mul(silu(gate), up) // a SwiGLU feed-forward
 */
export function mul(a: Operand, b: Operand): Tensor<'f32'> {
  return Tensor.fromNative(binding.mul(operand(a, 'a'), operand(b, 'b')));
}

export async function mulAsync(a: Operand, b: Operand): Promise<Tensor<'f32'>> {
  return Tensor.fromNative(await binding.mulAsync(operand(a, 'a'), operand(b, 'b')));
}

/**
 * a / b, broadcasting (IEEE: x / 0 is ±Infinity, 0 / 0 is NaN).
 * @example div(x, 2)
 */
export function div(a: Operand, b: Operand): Tensor<'f32'> {
  return Tensor.fromNative(binding.div(operand(a, 'a'), operand(b, 'b')));
}

export async function divAsync(a: Operand, b: Operand): Promise<Tensor<'f32'>> {
  return Tensor.fromNative(await binding.divAsync(operand(a, 'a'), operand(b, 'b')));
}

/**
 * An activation by name: the Hugging Face `hidden_act` spellings ('gelu', 'gelu_new', 'gelu_pytorch_tanh',
 * 'silu', 'swish', 'relu', ...). Throws a TypeError listing the names for any other.
 * @example activation(h, config.hidden_act)
 */
export function activation(x: Tensor<'f32'>, name: ActivationName): Tensor<'f32'> {
  return Tensor.fromNative(binding.activation(x, name));
}

export async function activationAsync(x: Tensor<'f32'>, name: ActivationName): Promise<Tensor<'f32'>> {
  return Tensor.fromNative(await binding.activationAsync(x, name));
}

/**
 * GELU, exact: x·Φ(x) = x/2·(1 + erf(x/√2)) (PyTorch's default `gelu`, Hugging Face 'gelu').
 * @example gelu(Tensor.from([-1, 0, 1], [3])) // [-0.1587, 0, 0.8413]
 */
export function gelu(x: Tensor<'f32'>): Tensor<'f32'> {
  return activation(x, 'gelu');
}
export function geluAsync(x: Tensor<'f32'>): Promise<Tensor<'f32'>> {
  return activationAsync(x, 'gelu');
}

/**
 * GELU, tanh approximation: x/2·(1 + tanh(√(2/π)·(x + 0.044715·x³))), Hugging Face 'gelu_new' and
 * 'gelu_pytorch_tanh' (GPT-2, GPT-J, Gemma...).
 * @example geluTanh(Tensor.from([1], [1])) // [0.8412]
 */
export function geluTanh(x: Tensor<'f32'>): Tensor<'f32'> {
  return activation(x, 'gelu_tanh');
}
export function geluTanhAsync(x: Tensor<'f32'>): Promise<Tensor<'f32'>> {
  return activationAsync(x, 'gelu_tanh');
}

/**
 * SiLU (swish): x·sigmoid(x) (LLaMA, Mistral).
 * @example silu(Tensor.from([1], [1])) // [0.7311]
 */
export function silu(x: Tensor<'f32'>): Tensor<'f32'> {
  return activation(x, 'silu');
}
export function siluAsync(x: Tensor<'f32'>): Promise<Tensor<'f32'>> {
  return activationAsync(x, 'silu');
}

/** max(x, 0); NaN stays NaN. @example relu(Tensor.from([-1, 2], [2])) // [0, 2] */
export function relu(x: Tensor<'f32'>): Tensor<'f32'> {
  return activation(x, 'relu');
}
export function reluAsync(x: Tensor<'f32'>): Promise<Tensor<'f32'>> {
  return activationAsync(x, 'relu');
}

/** min(max(x, 0), 6) (MobileNet-style blocks). @example relu6(Tensor.from([-1, 3, 9], [3])) // [0, 3, 6] */
export function relu6(x: Tensor<'f32'>): Tensor<'f32'> {
  return activation(x, 'relu6');
}
export function relu6Async(x: Tensor<'f32'>): Promise<Tensor<'f32'>> {
  return activationAsync(x, 'relu6');
}

/**
 * relu(x)², rounded once (torch.square(torch.relu(x)); Hugging Face `relu2`): RWKV's channel mix, Primer.
 * Overflows to Infinity above ~1.8e19, as float32 does; NaN stays NaN. @example relu2(Tensor.from([-1, 3], [2])) // [0, 9]
 */
export function relu2(x: Tensor<'f32'>): Tensor<'f32'> {
  return activation(x, 'relu2');
}
export function relu2Async(x: Tensor<'f32'>): Promise<Tensor<'f32'>> {
  return activationAsync(x, 'relu2');
}

/** 1 / (1 + e^-x). @example sigmoid(Tensor.from([0], [1])) // [0.5] */
export function sigmoid(x: Tensor<'f32'>): Tensor<'f32'> {
  return activation(x, 'sigmoid');
}
export function sigmoidAsync(x: Tensor<'f32'>): Promise<Tensor<'f32'>> {
  return activationAsync(x, 'sigmoid');
}

/** Hyperbolic tangent. @example tanh(Tensor.from([1], [1])) // [0.7616] */
export function tanh(x: Tensor<'f32'>): Tensor<'f32'> {
  return activation(x, 'tanh');
}
export function tanhAsync(x: Tensor<'f32'>): Promise<Tensor<'f32'>> {
  return activationAsync(x, 'tanh');
}

/**
 * log(1 + e^x), and x itself above 20 (PyTorch's `softplus` with beta 1, threshold 20; Mamba's dt).
 * @example softplus(Tensor.from([0], [1])) // [0.6931]
 */
export function softplus(x: Tensor<'f32'>): Tensor<'f32'> {
  return activation(x, 'softplus');
}
export function softplusAsync(x: Tensor<'f32'>): Promise<Tensor<'f32'>> {
  return activationAsync(x, 'softplus');
}
