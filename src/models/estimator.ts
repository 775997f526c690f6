/**
 * FLAP's 3D parameter estimation for flap-mini (weights-tools/flap_ref/estimator.py): a small CNN that reads a
 * frame's head pose, jaw, eyelids and named expressions, so that a portrait's own coefficients need not be
 * given and one video can drive another portrait. `features` mirrors an nn.Sequential of five levels
 * (conv stride 2 · GroupNorm · SiLU · conv · SiLU, indices 5i … 5i+4); `head` reads the flattened last map in
 * torch's channel-major order. Images channels last, [N, 128, 128, 3] in [-1, 1].
 */
import { COEFFS, Slices } from '../controls/layout';
import { ShapeError } from '../errors';
import { permute } from '../ops/tensor/permute';
import type { Tensor } from '../runtime/tensor';
import { eulerToAxisAngle, IDENTITY_6D } from '../controls/rotation';
import { Conv2d, GroupNorm, Linear } from './layers';
import { Module } from './module';

/** What the estimator reads, in order: degrees, radians, 0 (open) … 1 (closed), expression weights. */
export const ESTIMATES = ['yaw', 'pitch', 'roll', 'jaw', 'eyelid_left', 'eyelid_right', ...Array.from({ length: 12 }, (_, i) => `expr${i}`)] as const;
const SCALE = [10, 10, 10, 0.2, 0.5, 0.5, ...new Array<number>(12).fill(0.5)];
export const ESTIMATOR_SIZE = 128;

/** nn.SiLU in the Sequential: no weights, only an index. */
class SiLU extends Module {}

export class Estimator extends Module {
  readonly features: (Conv2d | GroupNorm | SiLU)[] = [];
  readonly head: Linear;

  constructor(readonly width: number) {
    super();
    let c = 3;
    for (const w of [width, 2 * width, 2 * width, 4 * width, 4 * width]) {
      this.features.push(new Conv2d(c, w, 3, { stride: 2, padding: 1 }), new GroupNorm(8, w), new SiLU(), new Conv2d(w, w, 3, { padding: 1 }), new SiLU());
      c = w;
    }
    this.head = new Linear(c * 16, ESTIMATES.length);
  }

  /** images [N, 128, 128, 3] in [-1, 1] → raw outputs [N, 18] (multiply by the scales: `estimates`). */
  forward(images: Tensor): Tensor {
    const [n, h, w, c] = images.shape as [number, number, number, number];
    if (images.rank !== 4 || h !== ESTIMATOR_SIZE || w !== ESTIMATOR_SIZE || c !== 3) {
      throw new ShapeError(`Estimator: images must be [N, ${ESTIMATOR_SIZE}, ${ESTIMATOR_SIZE}, 3] (got [${images.shape.join(', ')}])`);
    }
    return images.device.scope(() => {
      let x = images;
      for (let level = 0; level < 5; level++) {
        const [down, norm, , conv] = this.features.slice(5 * level, 5 * level + 4) as [Conv2d, GroupNorm, SiLU, Conv2d];
        x = conv.forward(norm.forward(down.forward(x), { silu: true }), { activation: 'silu' });
      }
      const flat = permute(x, [0, 3, 1, 2]); // torch flattens [N, C, 4, 4]
      return this.head.forward(flat.reshape([n, flat.size / n]));
    });
  }
}

/** Raw estimator outputs (`Estimator.forward`, read back) → ESTIMATES in natural units, [N · 18]. */
export function estimates(raw: Float32Array): Float32Array {
  return raw.map((v, i) => v * SCALE[i % SCALE.length]!);
}

/**
 * ESTIMATES [N · 18] → FLAP coefficients [N · 120]: the estimated pose (axis-angle), jaw, eyelids and named
 * expressions; eyes straight ahead, every other expression component zero (flap_ref/estimator.py to_coefficients).
 */
export function toCoefficients(est: Float32Array): Float32Array {
  const n = est.length / ESTIMATES.length;
  const out = new Float32Array(n * COEFFS);
  for (let i = 0; i < n; i++) {
    const e = est.subarray(i * ESTIMATES.length, (i + 1) * ESTIMATES.length);
    const row = out.subarray(i * COEFFS, (i + 1) * COEFFS);
    row.set(eulerToAxisAngle(e[0]!, e[1]!, e[2]!), Slices.global_rot.start);
    row.set(IDENTITY_6D, Slices.eyes.start);
    row.set(IDENTITY_6D, Slices.eyes.start + 6);
    row[Slices.jaw.start] = e[3]!;
    row[Slices.eyelids.start] = Math.min(1, Math.max(0, e[4]!));
    row[Slices.eyelids.start + 1] = Math.min(1, Math.max(0, e[5]!));
    row.set(e.subarray(6), Slices.expression.start);
  }
  return out;
}
