import source from '../../../shaders/tensor/slab.wgsl?raw';
import { ShapeError } from '../../errors';
import { defineKernel, flatDispatch, read, write } from '../../runtime/kernel';
import { uniformSchema } from '../../runtime/uniforms';
import type { Tensor } from '../../runtime/tensor';

/** Concatenation and slicing along any axis, as copies of slabs ([outer, axis, inner] views). */
export type SlabSpec = { readonly WG: number };

export const slabUniforms = uniformSchema({
  count: 'u32',
  inner: 'u32',
  length: 'u32',
  in_axis: 'u32',
  in_start: 'u32',
  out_axis: 'u32',
  out_start: 'u32',
});

export const slabKernel = defineKernel({ name: 'slab', source, uniforms: slabUniforms, bindings: () => [read('x'), write('out')] });

const WG = 256;

export function selectVariant(): SlabSpec {
  return { WG };
}

const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

function normaliseAxis(axis: number, rank: number, what: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw new ShapeError(`${what}: axis ${axis} is out of range for rank ${rank}`);
  return a;
}

function copySlab(x: Tensor, out: Tensor, axis: number, inStart: number, outStart: number, length: number): void {
  const inner = prod(x.shape.slice(axis + 1));
  const count = prod(x.shape.slice(0, axis)) * length * inner;
  if (count === 0) return;
  const device = x.device;
  device.run(slabKernel, selectVariant(), {
    inputs: [x],
    outputs: [out],
    uniforms: { count, inner, length, in_axis: x.shape[axis]!, in_start: inStart, out_axis: out.shape[axis]!, out_start: outStart },
    workgroups: flatDispatch(count, WG, device.info.limits.maxComputeWorkgroupsPerDimension),
  });
}

/** Joins f32 tensors along `axis`; all other dimensions must agree. */
export function concat(inputs: readonly Tensor[], axis: number): Tensor {
  const first = inputs[0];
  if (!first) throw new ShapeError('concat: no inputs');
  const a = normaliseAxis(axis, first.rank, 'concat');
  for (const t of inputs) {
    if (t.dtype !== 'f32' || t.rank !== first.rank || t.shape.some((d, i) => i !== a && d !== first.shape[i])) {
      throw new ShapeError(`concat: [${t.shape.join(', ')}] ${t.dtype} does not match [${first.shape.join(', ')}] f32 outside axis ${a}`);
    }
  }
  const shape = [...first.shape];
  shape[a] = inputs.reduce((s, t) => s + t.shape[a]!, 0);
  const out = first.device.tensor(shape, 'f32');
  let offset = 0;
  for (const t of inputs) {
    copySlab(t, out, a, 0, offset, t.shape[a]!);
    offset += t.shape[a]!;
  }
  return out;
}

/** A copy of x[..., start:end, ...] along `axis`. */
export function slice(x: Tensor, axis: number, start: number, end: number): Tensor {
  const a = normaliseAxis(axis, x.rank, 'slice');
  const size = x.shape[a]!;
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > size || start > end) {
    throw new ShapeError(`slice: range [${start}, ${end}) is outside axis ${a} of size ${size}`);
  }
  if (x.dtype !== 'f32') throw new ShapeError(`slice: input must be f32 (got ${x.dtype})`);
  const shape = [...x.shape];
  shape[a] = end - start;
  const out = x.device.tensor(shape, 'f32');
  copySlab(x, out, a, start, 0, end - start);
  return out;
}
