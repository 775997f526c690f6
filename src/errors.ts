/**
 * Typed errors of flap-webgpu. Every failure the library can foresee is one of these, so callers can
 * branch on `instanceof` (or on `code`) instead of parsing messages.
 */

/** Base class of every error this library throws on purpose. */
export class FlapError extends Error {
  /** Stable machine-readable code, e.g. `DEVICE_LOST`. */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** No WebGPU implementation, or no adapter/device could be obtained. */
export class WebGPUUnavailableError extends FlapError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('WEBGPU_UNAVAILABLE', message, options);
  }
}

/** The GPU device was lost (driver reset, `destroy()`, out of memory). `operation` names what was running. */
export class DeviceLostError extends FlapError {
  constructor(
    readonly operation: string,
    readonly reason: string,
    detail: string,
  ) {
    super('DEVICE_LOST', `GPU device lost during ${operation} (reason: ${reason})${detail ? `: ${detail}` : ''}`);
  }
}

/** WebGPU reported a validation or out-of-memory error; `operation` names the op (kernel key) or batch. */
export class GpuValidationError extends FlapError {
  constructor(
    readonly operation: string,
    readonly gpuMessage: string,
  ) {
    super('GPU_VALIDATION', `WebGPU error in ${operation}: ${gpuMessage}`);
  }
}

/** A WGSL kernel failed to compile; `kernelKey` names the specialisation. */
export class ShaderCompileError extends FlapError {
  constructor(
    readonly kernelKey: string,
    detail: string,
  ) {
    super('SHADER_COMPILE', `kernel ${kernelKey} failed to compile: ${detail}`);
  }
}

/** A tensor had the wrong shape, dtype or layout for an operation. */
export class ShapeError extends FlapError {
  constructor(message: string) {
    super('SHAPE', message);
  }
}

/** A tensor was used after `release()`, or a device after `destroy()`. */
export class UseAfterFreeError extends FlapError {
  constructor(message: string) {
    super('USE_AFTER_FREE', message);
  }
}

/**
 * The GPU had no memory for an allocation, even after the pool's cached buffers were freed. `tensor` names what
 * was being allocated (shape, dtype and label), `bytes` the size of the GPU buffer asked for.
 */
export class OutOfMemoryError extends FlapError {
  constructor(
    readonly tensor: string,
    readonly bytes: number,
    readonly gpuMessage: string,
  ) {
    super('OUT_OF_MEMORY', `out of GPU memory: ${bytes} bytes for ${tensor}${gpuMessage ? ` (${gpuMessage.split('\n')[0]})` : ''}`);
  }
}

/** A request exceeds what the adapter allows (buffer size, binding size, workgroups). */
export class LimitExceededError extends FlapError {
  constructor(message: string) {
    super('LIMIT_EXCEEDED', message);
  }
}

/** A user input (controls, coefficients, image, audio) is invalid; `field` names which one. */
export class InputError extends FlapError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super('INPUT', `${field}: ${message}`);
  }
}

/** A safetensors file (or sharded index) is malformed or incomplete; `where` names the tensor, byte offset or file. */
export class SafetensorsError extends FlapError {
  constructor(
    readonly where: string,
    message: string,
  ) {
    super('SAFETENSORS', `safetensors ${where}: ${message}`);
  }
}
