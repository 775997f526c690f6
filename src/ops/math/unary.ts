import source from '../../../shaders/math/unary.wgsl?raw';
import { ShapeError } from '../../errors';
import { defineKernel, flatDispatch, read, write } from '../../runtime/kernel';
import { uniformSchema } from '../../runtime/uniforms';
import type { Tensor } from '../../runtime/tensor';

/** Element-wise activations, the natural log, and GEGLU (which halves the last dimension). */
export type UnaryOp = 'silu' | 'gelu' | 'gelu_tanh' | 'relu' | 'log' | 'geglu';

export type UnarySpec = {
  readonly OP: UnaryOp;
  readonly WG: number;
};

export const unaryUniforms = uniformSchema({ count: 'u32', half: 'u32' });

export const unaryKernel = defineKernel({ name: 'unary', source, uniforms: unaryUniforms, bindings: () => [read('x'), write('out')] });

const WG = 256;

export function selectVariant(op: UnaryOp): UnarySpec {
  return { OP: op, WG };
}

export function unary(op: UnaryOp, x: Tensor): Tensor {
  if (x.dtype !== 'f32') throw new ShapeError(`${op}: input must be f32 (got ${x.dtype})`);
  let shape = [...x.shape];
  let half = 0;
  if (op === 'geglu') {
    const last = shape[shape.length - 1] ?? 0;
    if (x.rank < 1 || last % 2 !== 0) throw new ShapeError(`geglu: last dimension must be even (got [${x.shape.join(', ')}])`);
    half = last / 2;
    shape = [...shape.slice(0, -1), half];
  }
  const device = x.device;
  const out = device.tensor(shape, 'f32');
  if (out.size === 0) return out;
  device.run(unaryKernel, selectVariant(op), {
    inputs: [x],
    outputs: [out],
    uniforms: { count: out.size, half },
    workgroups: flatDispatch(out.size, WG, device.info.limits.maxComputeWorkgroupsPerDimension),
  });
  return out;
}

export const silu = (x: Tensor) => unary('silu', x);
export const gelu = (x: Tensor) => unary('gelu', x);
export const relu = (x: Tensor) => unary('relu', x);
/** x [..., 2d] → x[..., :d] · gelu(x[..., d:]). */
export const geglu = (x: Tensor) => unary('geglu', x);
