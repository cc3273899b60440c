/** Runtime facts and knobs: info(), threads, ISA level, native memory statistics. */
import { binding, type IsaLevel, type MemoryStats, type NativeInfo } from './native';

export type { CudaDevice, IsaLevel, MemoryStats, NativeInfo } from './native';

export interface Info extends NativeInfo {
  node: string;
  platform: string;
  arch: string;
  /** Where the thread count came from: 'TURBOFORMER_NUM_THREADS', 'setNumThreads' or 'default'. */
  threadsSource: string;
}

let threadsSource = process.env.TURBOFORMER_NUM_THREADS ? 'TURBOFORMER_NUM_THREADS' : 'default';

/**
 * What the addon detected and chose: CPU features, the active kernel level, thread count, build flags
 * and CUDA devices (with a plain message when there is no GPU or driver).
 */
export function info(): Info {
  const i = binding.info();
  return { ...i, node: process.version, platform: process.platform, arch: process.arch, threadsSource };
}

/** Sets the number of threads of the addon's pool (the caller included). Returns the new count. */
export function setNumThreads(n: number): number {
  const r = binding.setNumThreads(n);
  threadsSource = 'setNumThreads';
  return r;
}

export function getNumThreads(): number {
  return binding.getNumThreads();
}

/**
 * Switches the kernel level ('scalar', 'avx2', 'avx512', 'neon', or 'auto' for the best supported).
 * Meant for tests and benchmarks; call it between operations, not while async work runs.
 */
export function setIsa(level: IsaLevel | 'auto'): IsaLevel {
  return binding.setIsa(level);
}

/** Native memory held by tensors and mapped files that are still alive. */
export function memoryStats(): MemoryStats {
  return binding.memoryStats();
}
