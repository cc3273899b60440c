/** Every op, sync and async forms, grouped in one namespace: `import { ops } from 'turboformer'`. */
export * from './elementwise';
export * from './gemm';
export * from './norm';
export * from './softmax';
export * from './reduce';
export * from './layout';
export * from './cuda';
export * from './wkv';
export * from './quant';
export * from './attention';
export * from './layouts';
export * from './ssm';
export * from './retention';
export * from './moe';
export * from './favor';
export * from './linformer';
export * from './lsh';
