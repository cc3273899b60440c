/** Every op, sync and async forms, grouped in one namespace: `import { ops } from 'turboformer'`. */
export * from './elementwise';
export * from './cuda';
export * from './gemm';
