export * from './safetensors';
export * from './sharded';
export * from './load';
export * from './fetch';
