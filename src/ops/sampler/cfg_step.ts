import source from '../../../shaders/sampler/cfg_step.wgsl?raw';
import { ShapeError } from '../../errors';
import { defineKernel, flatDispatch, read, write } from '../../runtime/kernel';
import type { Tensor } from '../../runtime/tensor';
import { uniformSchema } from '../../runtime/uniforms';
import { planSampler, type SamplerKind, type SamplerPlan, type ScheduleConfig, type StepCoefficients } from './schedule';

/**
 * The fused classifier-free-guidance + scheduler step (shaders/sampler/cfg_step.wgsl). Model outputs come
 * either as one batch-2 tensor `[2, ...x.shape]` (or `[2, ...x.shape[1:]]` when x has batch 1) holding the
 * **conditional prediction first, then the unconditional one** (`pair`), as two tensors (`two`), or as a
 * single prediction without guidance (`none`).
 */
export type Guidance = 'pair' | 'two' | 'none';

export type CfgStepSpec = {
  readonly GUIDANCE: Guidance;
  /** DPM-Solver++ keeps the previous x0 in a buffer the kernel reads and overwrites. */
  readonly HISTORY: boolean;
  readonly WG: number;
};

export const cfgStepUniforms = uniformSchema({
  count: 'u32',
  scale: 'f32',
  sigma_s: 'f32',
  inv_alpha_s: 'f32',
  cx: 'f32',
  c0: 'f32',
  c1: 'f32',
  ce: 'f32',
});

export const cfgStepKernel = defineKernel({
  name: 'cfg_step',
  source,
  uniforms: cfgStepUniforms,
  bindings: (spec: CfgStepSpec) => [
    read('x'),
    read('eps_c'),
    ...(spec.GUIDANCE === 'two' ? [read('eps_u')] : []),
    write('out'),
    ...(spec.HISTORY ? [write('x0_prev')] : []),
  ],
});

const WG = 256;

export function selectVariant(guidance: Guidance, history: boolean): CfgStepSpec {
  return { GUIDANCE: guidance, HISTORY: history, WG };
}

export interface CfgStepArgs {
  x: Tensor;
  /** The conditional prediction, or with `pair` guidance the batch-2 [cond, uncond] tensor. */
  eps: Tensor;
  /** The unconditional prediction (`two` guidance). */
  epsUncond?: Tensor;
  guidance: Guidance;
  /** Guidance scale s in eps_u + s (eps_c - eps_u); ignored with `none`. */
  scale: number;
  coefficients: StepCoefficients;
  /** The previous x0 (DPM-Solver++), read and overwritten with this step's x0. */
  x0Prev?: Tensor;
}

/** One fused step: returns the new sample (a new tensor); updates `x0Prev` in place when given. */
export function cfgStep(a: CfgStepArgs): Tensor {
  const { x, eps, guidance } = a;
  const n = x.size;
  const what = 'cfgStep';
  const tensors = [x, eps, a.epsUncond, a.x0Prev].filter((t): t is Tensor => !!t);
  for (const t of tensors) {
    if (t.dtype !== 'f32') throw new ShapeError(`${what}: tensors must be f32 (got ${t.dtype})`);
    if (t.device !== x.device) throw new ShapeError(`${what}: tensors live on different devices`);
  }
  if (guidance === 'pair') {
    if (eps.size !== 2 * n || eps.shape[0] !== 2) {
      throw new ShapeError(`${what}: a [cond, uncond] pair needs [2, ...] with twice x's ${n} elements, got [${eps.shape.join(', ')}]`);
    }
  } else if (eps.size !== n) {
    throw new ShapeError(`${what}: eps [${eps.shape.join(', ')}] does not match x [${x.shape.join(', ')}]`);
  }
  if (guidance === 'two' && (!a.epsUncond || a.epsUncond.size !== n)) {
    throw new ShapeError(`${what}: 'two' guidance needs an unconditional prediction of ${n} elements`);
  }
  if (guidance !== 'two' && a.epsUncond) throw new ShapeError(`${what}: epsUncond is only read with 'two' guidance`);
  if (a.x0Prev && a.x0Prev.size !== n) throw new ShapeError(`${what}: x0Prev has ${a.x0Prev.size} elements, x ${n}`);
  const history = !!a.x0Prev;
  if (a.coefficients.c1 !== 0 && !history) throw new ShapeError(`${what}: a second-order step needs the previous x0`);
  const device = x.device;
  const out = device.tensor(x.shape, 'f32');
  if (n === 0) return out;
  const c = a.coefficients;
  device.run(cfgStepKernel, selectVariant(guidance, history), {
    inputs: guidance === 'two' ? [x, eps, a.epsUncond!] : [x, eps],
    outputs: history ? [out, a.x0Prev!] : [out],
    uniforms: { count: n, scale: a.scale, sigma_s: c.sigma_s, inv_alpha_s: c.inv_alpha_s, cx: c.cx, c0: c.c0, c1: c.c1, ce: c.ce },
    workgroups: flatDispatch(n, WG, device.info.limits.maxComputeWorkgroupsPerDimension),
  });
  return out;
}

/**
 * A sampler run behind one interface: `timesteps` to feed the model, and `step(i, x, eps)` for the update
 * after the model's prediction at `timesteps[i]`. DPM-Solver++ owns its x0 history tensor; call `dispose()`
 * (or create the sampler inside a scope) to free it.
 */
export class Sampler {
  readonly plan: SamplerPlan;
  private x0Prev: Tensor | undefined;

  constructor(
    readonly kind: SamplerKind,
    steps: number,
    readonly guidanceScale: number,
    config?: ScheduleConfig,
  ) {
    this.plan = planSampler(kind, steps, config);
  }

  get timesteps(): readonly number[] {
    return this.plan.timesteps;
  }

  /** Returns the sample for the next step (a new tensor; the caller releases `x`). */
  step(i: number, x: Tensor, eps: Tensor, guidance: Guidance = 'pair', epsUncond?: Tensor): Tensor {
    const c = this.plan.steps[i];
    if (!c) throw new RangeError(`step ${i} is outside 0..${this.plan.steps.length - 1}`);
    let x0Prev: Tensor | undefined;
    if (this.kind === 'dpmpp_2m') {
      if (!this.x0Prev || this.x0Prev.size !== x.size) {
        this.x0Prev?.release();
        // Kept past any scope: it lives as long as the sampler. Zeros: the first step's c1 is 0 anyway.
        this.x0Prev = x.device.tensor([x.size], 'f32', new Float32Array(x.size)).keep();
      }
      x0Prev = this.x0Prev;
    }
    return cfgStep({ x, eps, epsUncond, guidance, scale: this.guidanceScale, coefficients: c, x0Prev });
  }

  dispose(): void {
    this.x0Prev?.release();
    this.x0Prev = undefined;
  }
}
