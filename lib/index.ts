/**
 * turboformer: efficient transformer inference for Node.js.
 *
 * @example
 * import { Tensor, ops, info } from 'turboformer';
 * const a = Tensor.randn([2, 3], { seed: 1 });
 * const b = ops.add(a, a);
 */
export * as ops from './ops';
export { QuantizedTensor } from './ops/quant';
export { PackedLinearWeight } from './ops/gemm';
export type { QuantFormat } from './ops/quant';
export { Tensor, DTYPES, dtypeSize, isDType, checkShape, MAX_DIMS } from './tensor';
export type { DType, DTypeArrays, RawTensor, TypedArray, RandomOptions } from './tensor';
export { Rng } from './random';
export { info, setNumThreads, getNumThreads, setIsa, memoryStats } from './runtime';
export type { Info, IsaLevel, CudaDevice, MemoryStats, NativeInfo } from './runtime';
export {
  SafetensorsFile,
  SafetensorsError,
  openSafetensors,
  openSafetensorsAsync,
  parseSafetensors,
  loadSafetensors,
  serializeSafetensors,
  saveSafetensors,
  saveSafetensorsAsync,
  SAFETENSORS_DTYPES,
  MAX_HEADER_SIZE,
  isSafetensorsDType,
  safetensorsDTypeSize,
  tensorDTypeOf,
  safetensorsDTypeOf,
} from './io/safetensors';
export type {
  FilePath,
  SafetensorsDType,
  SafetensorsErrorCode,
  SafetensorsTensorInfo,
  TensorReadOptions,
  SafetensorsEntry,
  SafetensorsInput,
} from './io/safetensors';
