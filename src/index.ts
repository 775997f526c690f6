/**
 * flap-webgpu: the public API. The runtime layer is exported for advanced users and benchmarks; the
 * talking-head pipeline builds on it. This entry runs in browsers and in Node (WebGPU from the `webgpu` package);
 * `flap-webgpu/node` adds files on disk, `flap-webgpu/element` the `<flap-avatar>` element.
 *
 * When the GPU fails: every error is a typed `FlapError`. `OutOfMemoryError` names the tensor and bytes the GPU
 * could not hold (the runtime has freed its cached buffers and retried once where it could; the device stays
 * usable). `DeviceLostError` means the device is gone (driver reset, GPU reclaimed): `Flap.recover()` loads the
 * model again on a new device, without a page reload.
 *
 * @example
 * let flap = await loadFlap(model);
 * try {
 *   video = await flap.generate(request);
 * } catch (e) {
 *   if (!(e instanceof DeviceLostError)) throw e;
 *   flap = await flap.recover();
 *   video = await flap.generate(request);
 * }
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

// Kernels.
export { matmul, linear } from './ops/math/matmul';
export { unary, silu, gelu, relu, geglu } from './ops/math/unary';
export { attention, temporalAttention } from './ops/nn/attention';
export { conv2d, conv1d, prepareConvWeight } from './ops/nn/conv2d';
export { groupNorm, layerNorm } from './ops/nn/norm';
export { softmax } from './ops/nn/softmax';
export { sinusoidalEmbedding, type SinusoidalOptions } from './ops/nn/timestep_embedding';
export { concat, slice } from './ops/tensor/slab';
export { permute } from './ops/tensor/permute';
export { upsampleNearest2x } from './ops/tensor/upsample';
export { Sampler } from './ops/sampler/cfg_step';

// Weights and the model.
export * from './weights/index';
export { parseConfig, type FlapConfig } from './models/config';
export { FlapModel, tuneModel, tuningShapes, type LoadModelOptions, type TuningPlan } from './models/model';
export { WeightsError } from './models/module';
export * as pipeline from './models/pipeline';

// The talking-head API.
export { KERNELS, prepareKernels, recordKernels, type KernelManifest } from './ops/kernels';
export { autotune, browserTuningStore, clearTuning, exportTuning, importTuning, tunedChoice, type TuneCandidate, type TuneResult, type TuningStore } from './ops/tune';
export { Flap, loadFlap, encodeVideo, modelFolder, neutralCoefficients, type ModelSource, type LoadFlapOptions, type LoadProgress, type GenerateRequest, type GeneratedVideo, type Frame, type Progress, type Stage } from './flap';
export { prepareAudio, type AudioInput, type RawAudio } from './io/audio';
export { prepareImage, type ImageInput, type RawImage, type Box } from './io/image';
export { parseCoefficients } from './io/coeffs';
export { CoefficientSequence, COEFFS, Slices } from './controls/layout';
export { applyControls, validateControls, blinkSchedule, type Controls, type PoseControl, type BlinkControl, type ExpressionControl, type GazeControl, type ExternalCoefficients, type PoseKey } from './controls/controls';
export { eulerToAxisAngle, axisAngleToEuler } from './controls/rotation';
export { HeadRenderer, axisAngleMatrix, sixDMatrix } from './render/head';
