import { ShapeError, UseAfterFreeError } from '../errors';
import type { FlapDevice } from './device';

/** Element types on the GPU. `f16` is stored packed two per u32 and unpacked in-kernel (no `shader-f16` needed). */
export type DType = 'f32' | 'f16';

export const bytesPerElement: Record<DType, number> = { f32: 4, f16: 2 };

/** A GPU buffer shared by a tensor and its views; freed when the last one is released. */
export interface Storage {
  readonly buffer: GPUBuffer;
  refs: number;
  /** Returns the buffer to its owner (the device's pool). */
  readonly free: () => void;
}


export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function checkShape(shape: readonly number[], what = 'shape'): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new ShapeError(`${what} [${shape.join(', ')}] has an invalid dimension ${d}`);
  }
}

/**
 * A contiguous, row-major tensor on the GPU: a `Storage` plus a byte offset, shape and dtype. Views
 * (`reshape`, `view`) share the storage; each tensor and view is released on its own, explicitly or by the
 * scope it was created in.
 */
export class Tensor {
  private released = false;

  constructor(
    readonly device: FlapDevice,
    readonly storage: Storage,
    readonly shape: readonly number[],
    readonly dtype: DType,
    readonly byteOffset = 0,
  ) {
    storage.refs++;
    device.track(this);
  }

  get size(): number {
    return numel(this.shape);
  }

  get rank(): number {
    return this.shape.length;
  }

  /** Bytes of the elements (f16 counts 2 per element). */
  get byteLength(): number {
    return this.size * bytesPerElement[this.dtype];
  }

  /** Bytes bound for a kernel: rounded up to whole u32 words (f16 tensors of odd length). */
  get bindingSize(): number {
    return Math.max(4, Math.ceil(this.byteLength / 4) * 4);
  }

  get isReleased(): boolean {
    return this.released;
  }

  /** The GPU buffer, checked to be alive. */
  get buffer(): GPUBuffer {
    this.assertAlive('use');
    return this.storage.buffer;
  }

  assertAlive(what: string): void {
    if (this.released) throw new UseAfterFreeError(`cannot ${what} a released tensor [${this.shape.join(', ')}] ${this.dtype}`);
  }

  /** A view with another shape of the same number of elements. One dimension may be -1. */
  reshape(shape: readonly number[]): Tensor {
    this.assertAlive('reshape');
    const known = shape.filter((d) => d !== -1);
    const rest = numel(known);
    const resolved = shape.map((d) => (d === -1 ? (rest === 0 ? 0 : this.size / rest) : d));
    checkShape(resolved, 'reshape target');
    if (numel(resolved) !== this.size || shape.filter((d) => d === -1).length > 1) {
      throw new ShapeError(`cannot reshape [${this.shape.join(', ')}] to [${shape.join(', ')}]`);
    }
    return new Tensor(this.device, this.storage, resolved, this.dtype, this.byteOffset);
  }

  /**
   * A view of `shape` starting `elementOffset` elements in. Kernels bind views at their byte offset, which
   * WebGPU requires to be a multiple of 256 bytes.
   */
  view(elementOffset: number, shape: readonly number[]): Tensor {
    this.assertAlive('view');
    checkShape(shape, 'view');
    const offset = this.byteOffset + elementOffset * bytesPerElement[this.dtype];
    if (offset % 256 !== 0) throw new ShapeError(`view offset ${offset} bytes is not a multiple of 256`);
    if (elementOffset < 0 || elementOffset + numel(shape) > this.size) {
      throw new ShapeError(`view [${elementOffset}, +${numel(shape)}) is outside a tensor of ${this.size} elements`);
    }
    return new Tensor(this.device, this.storage, [...shape], this.dtype, offset);
  }

  /** Reads the values back as f32 (f16 is decoded). Flushes pending work first. */
  read(): Promise<Float32Array> {
    this.assertAlive('read');
    return this.device.read(this);
  }

  /** Removes the tensor from its scope: the caller now owns it and must release it. Returns itself. */
  keep(): this {
    this.device.untrack(this);
    return this;
  }

  /** Frees this tensor (its storage once no view uses it). Releasing twice is a no-op. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.device.untrack(this);
    if (--this.storage.refs === 0) this.storage.free();
  }

  toString(): string {
    return `Tensor[${this.shape.join(', ')}] ${this.dtype}`;
  }
}
