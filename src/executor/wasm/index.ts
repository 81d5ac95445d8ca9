export { createWasmExecutor, type WasmExecutorOptions } from './wasm-executor.js';
