/**
 * flap-webgpu: the public API. The runtime layer is exported for advanced users and benchmarks; the
 * talking-head pipeline builds on it.
 */
export * from './errors';
export { flags } from './flags';
export { createDevice, FlapDevice, type DeviceInfo, type DeviceOptions, type OptionalFeature, type RunArgs } from './runtime/device';
export { Tensor, type DType, numel } from './runtime/tensor';
export { defineKernel, kernelKey, flatDispatch, PipelineCache, type KernelDef } from './runtime/kernel';
export { uniformSchema, type UniformSchema, type UniformType } from './runtime/uniforms';
export type { RuntimeStats } from './runtime/stats';
export { formatProfile, type ProfileReport, type ProfileRow } from './runtime/profiler';
export { add, sub, mul, div, binary, broadcastShapes, type BinaryOp } from './ops/math/binary';
export { cast, copy } from './ops/tensor/cast';
