import source from '../../../shaders/math/binary.wgsl?raw';
import { ShapeError } from '../../errors';
import { defineKernel, flatDispatch, read, write } from '../../runtime/kernel';
import { uniformSchema } from '../../runtime/uniforms';
import type { Tensor } from '../../runtime/tensor';

/** Element-wise binary operations with NumPy broadcasting, on f32 tensors of rank <= 8. */
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'max' | 'min';

export type BinarySpec = {
  readonly OP: BinaryOp;
  /** 0: both operands have the output's shape; else the number of (merged) dimensions indexed through strides. */
  readonly RANK: number;
  readonly WG: number;
};

export const binaryUniforms = uniformSchema({
  count: 'u32',
  shape: 'array<vec4<u32>, 2>',
  a_strides: 'array<vec4<u32>, 2>',
  b_strides: 'array<vec4<u32>, 2>',
});

export const binaryKernel = defineKernel({ name: 'binary', source, uniforms: binaryUniforms, bindings: () => [read('a'), read('b'), write('out')] });

const MAX_RANK = 8;
const WG = 256;

/** NumPy broadcasting of two shapes; throws `ShapeError` when they are incompatible. */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(`shapes [${a.join(', ')}] and [${b.join(', ')}] do not broadcast (dimension ${i}: ${da} vs ${db})`);
    }
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Strides of `shape` read as `outShape` (right-aligned, 0 where broadcast), one per output dimension. */
function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const strides = new Array<number>(outShape.length).fill(0);
  let stride = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const at = outShape.length - (shape.length - i);
    strides[at] = shape[i] === 1 && outShape[at] !== 1 ? 0 : stride;
    stride *= shape[i]!;
  }
  return strides;
}

/**
 * The output's dimensions with both operands' strides, adjacent dimensions merged where both operands walk
 * them as one (contiguous, or both broadcast), and dimensions of size 1 dropped: each remaining dimension
 * costs the kernel a division per element. [B, F, P, C] + [F, 1, C] stays 4 deep; [B, N] + [N] becomes 2.
 */
export function broadcastLayout(a: readonly number[], b: readonly number[], outShape: readonly number[]): { shape: number[]; aStrides: number[]; bStrides: number[] } {
  const sa = broadcastStrides(a, outShape), sb = broadcastStrides(b, outShape);
  const shape: number[] = [], aStrides: number[] = [], bStrides: number[] = [];
  for (let i = 0; i < outShape.length; i++) {
    const d = outShape[i]!;
    if (d === 1) continue;
    const last = shape.length - 1;
    if (last >= 0 && aStrides[last] === sa[i]! * d && bStrides[last] === sb[i]! * d) {
      shape[last]! *= d;
      aStrides[last] = sa[i]!;
      bStrides[last] = sb[i]!;
    } else {
      shape.push(d);
      aStrides.push(sa[i]!);
      bStrides.push(sb[i]!);
    }
  }
  return { shape, aStrides, bStrides };
}

export function selectVariant(op: BinaryOp, a: Tensor, b: Tensor): BinarySpec {
  const same = a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);
  return { OP: op, RANK: same ? 0 : broadcastLayout(a.shape, b.shape, broadcastShapes(a.shape, b.shape)).shape.length, WG };
}

export function binary(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  if (a.device !== b.device) throw new ShapeError(`${op}: operands live on different devices`);
  if (a.dtype !== 'f32' || b.dtype !== 'f32') throw new ShapeError(`${op}: operands must be f32 (got ${a.dtype}, ${b.dtype})`);
  const outShape = broadcastShapes(a.shape, b.shape);
  if (outShape.length > MAX_RANK) throw new ShapeError(`${op}: rank ${outShape.length} exceeds ${MAX_RANK}`);
  const device = a.device;
  const out = device.tensor(outShape, 'f32');
  const count = out.size;
  if (count === 0) return out;
  const layout = broadcastLayout(a.shape, b.shape, outShape);
  const pad = (v: number[], fill: number) => [...new Array<number>(MAX_RANK - v.length).fill(fill), ...v];
  device.run(binaryKernel, selectVariant(op, a, b), {
    inputs: [a, b],
    outputs: [out],
    uniforms: { count, shape: pad(layout.shape, 1), a_strides: pad(layout.aStrides, 0), b_strides: pad(layout.bStrides, 0) },
    workgroups: flatDispatch(count, WG, device.info.limits.maxComputeWorkgroupsPerDimension),
  });
  return out;
}

export const add = (a: Tensor, b: Tensor) => binary('add', a, b);
export const sub = (a: Tensor, b: Tensor) => binary('sub', a, b);
export const mul = (a: Tensor, b: Tensor) => binary('mul', a, b);
export const div = (a: Tensor, b: Tensor) => binary('div', a, b);
