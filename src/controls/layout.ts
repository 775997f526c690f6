/**
 * FLAP's per-frame 3D head condition: 120 numbers in FLAME's meaning and this order (DESIGN §2).
 *
 * | slice        | size | meaning                                                        |
 * | ------------ | ---- | -------------------------------------------------------------- |
 * | `global_rot` | 3    | head rotation, axis-angle in radians (x right, y up, z toward the viewer) |
 * | `eyes`       | 12   | eye rotations as 6D rotations (first two columns of the matrix), left then right |
 * | `jaw`        | 3    | jaw rotation, axis-angle in radians (positive x opens the mouth) |
 * | `eyelids`    | 2    | 0 open … 1 closed, left then right                             |
 * | `expression` | 100  | expression blendshape weights                                  |
 */
import { InputError } from '../errors';
export const COEFFS = 120;

export const Slices = {
  global_rot: { start: 0, size: 3 },
  eyes: { start: 3, size: 12 },
  jaw: { start: 15, size: 3 },
  eyelids: { start: 18, size: 2 },
  expression: { start: 20, size: 100 },
} as const;

export type SliceName = keyof typeof Slices;

/** The pose part fed to the pose tokens, and the expression part (117 numbers) fed to the expression tokens. */
export const POSE_SIZE = 3;
export const EXPRESSION_PART_SIZE = COEFFS - POSE_SIZE;

/** A sequence of per-frame coefficients at a frame rate: `data` is `[frames, 120]` row-major. */
export class CoefficientSequence {
  constructor(
    readonly data: Float32Array,
    readonly fps: number,
  ) {
    if (!(data instanceof Float32Array)) throw new InputError('CoefficientSequence.data', 'must be a Float32Array of [frames, 120] values');
    if (data.length % COEFFS !== 0) throw new InputError('CoefficientSequence.data', `has ${data.length} values, not a multiple of ${COEFFS}`);
    if (!(fps > 0) || !Number.isFinite(fps)) throw new InputError('CoefficientSequence.fps', `must be a positive frame rate (got ${fps})`);
  }

  static zeros(frames: number, fps: number): CoefficientSequence {
    return new CoefficientSequence(new Float32Array(frames * COEFFS), fps);
  }

  get frames(): number {
    return this.data.length / COEFFS;
  }

  /** The coefficients of one frame (a view). */
  frame(f: number): Float32Array {
    return this.data.subarray(f * COEFFS, (f + 1) * COEFFS);
  }

  /** One slice of one frame (a view). */
  get(f: number, slice: SliceName): Float32Array {
    const { start, size } = Slices[slice];
    return this.data.subarray(f * COEFFS + start, f * COEFFS + start + size);
  }

  clone(): CoefficientSequence {
    return new CoefficientSequence(this.data.slice(), this.fps);
  }
}
