/**
 * Noise-schedule maths, computed once per run on the CPU in float64. The GPU step (`cfg_step.ts`) only
 * receives the per-step coefficients as uniforms.
 *
 * Choices (Stable Diffusion's DDIM config, as diffusers' `DDIMScheduler` applies it):
 * - betas "scaled_linear": `linspace(sqrt(0.00085), sqrt(0.012), 1000) ** 2`; alphā_t = prod_{s<=t} (1 - beta_s);
 * - timesteps, "leading" spacing with `steps_offset = 1`: ratio = floor(1000 / N),
 *   `t_i = (N - 1 - i) * ratio + 1` for i = 0..N-1 (N = 50: 981, 961, ..., 1);
 * - or "trailing" spacing, `t_i = floor((N - i) * 1000 / N) - 1` (N = 2: 999, 499): it starts where sampling
 *   starts, at pure noise, which matters with few steps ("leading" starts 2 steps at t = 501);
 * - each step goes from t_i to t_{i+1}; after the last that is the final alphā, `alphas_cumprod[0]`
 *   (`set_alpha_to_one = false`);
 * - DPM-Solver++(2M) uses the same grid, data prediction, the midpoint form of the second-order update,
 *   first order at the first step, and first order at the last step when N < 15 (`lower_order_final`).
 */

export type TimestepSpacing = 'leading' | 'trailing';

export interface ScheduleConfig {
  trainSteps: number;
  betaStart: number;
  betaEnd: number;
  stepsOffset: number;
  /** Where the inference timesteps sit; "leading" (SD's default) when absent. */
  spacing?: TimestepSpacing;
  /** The alphā a step to "before t = 0" goes to: 1, or alphas_cumprod[0] (SD's `set_alpha_to_one = false`). */
  setAlphaToOne: boolean;
}

export const SD_SCHEDULE: ScheduleConfig = Object.freeze({
  trainSteps: 1000,
  betaStart: 0.00085,
  betaEnd: 0.012,
  stepsOffset: 1,
  setAlphaToOne: false,
});

/** alphā_t for t = 0..trainSteps-1 (scaled-linear betas). */
export function alphasCumprod(config: ScheduleConfig = SD_SCHEDULE): Float64Array {
  const n = config.trainSteps;
  const a = Math.sqrt(config.betaStart);
  const b = Math.sqrt(config.betaEnd);
  const out = new Float64Array(n);
  let prod = 1;
  for (let i = 0; i < n; i++) {
    const beta = (a + ((b - a) * i) / (n - 1)) ** 2;
    prod *= 1 - beta;
    out[i] = prod;
  }
  return out;
}

/** Inference timesteps, descending, in the config's spacing. */
export function inferenceTimesteps(steps: number, config: ScheduleConfig = SD_SCHEDULE): number[] {
  const n = config.trainSteps;
  if (!Number.isInteger(steps) || steps < 1 || steps > n) {
    throw new RangeError(`steps must be an integer in 1..${n}, got ${steps}`);
  }
  if ((config.spacing ?? 'leading') === 'trailing') {
    return Array.from({ length: steps }, (_, i) => Math.floor(((steps - i) * n) / steps) - 1);
  }
  const ratio = Math.floor(n / steps);
  return Array.from({ length: steps }, (_, i) => (steps - 1 - i) * ratio + config.stepsOffset);
}

/** Coefficients of one fused step; see shaders/sampler/cfg_step.wgsl for how they combine. */
export interface StepCoefficients {
  /** The model's timestep at this step. */
  t: number;
  /** alphā at t and at the step's target. */
  alphaBar: number;
  alphaBarNext: number;
  sigma_s: number;
  inv_alpha_s: number;
  cx: number;
  c0: number;
  c1: number;
  ce: number;
  /** 1 or 2 (DPM-Solver++); DDIM reports 1. */
  order: 1 | 2;
}

export type SamplerKind = 'ddim' | 'dpmpp_2m';

/** A whole run's plan: the timesteps and every step's coefficients. */
export interface SamplerPlan {
  kind: SamplerKind;
  timesteps: number[];
  steps: StepCoefficients[];
}

export function planSampler(kind: SamplerKind, steps: number, config: ScheduleConfig = SD_SCHEDULE): SamplerPlan {
  const ac = alphasCumprod(config);
  const ts = inferenceTimesteps(steps, config);
  const finalAlpha = config.setAlphaToOne ? 1 : ac[0]!;
  const abar = (t: number) => (t >= 0 ? ac[t]! : finalAlpha);
  const lambda = (a: number) => 0.5 * Math.log(a / (1 - a)); // log(alpha / sigma)
  const plan: StepCoefficients[] = ts.map((t, i) => {
    const aS = abar(t);
    const aT = abar(i + 1 < ts.length ? ts[i + 1]! : -1);
    const alphaS = Math.sqrt(aS);
    const sigmaS = Math.sqrt(1 - aS);
    const base = { t, alphaBar: aS, alphaBarNext: aT, sigma_s: sigmaS, inv_alpha_s: 1 / alphaS };
    if (kind === 'ddim') {
      return { ...base, cx: 0, c0: Math.sqrt(aT), c1: 0, ce: Math.sqrt(1 - aT), order: 1 as const };
    }
    const alphaT = Math.sqrt(aT);
    const sigmaT = Math.sqrt(1 - aT);
    const h = lambda(aT) - lambda(aS);
    // x_t = (sigma_t/sigma_s) x - alpha_t (e^{-h} - 1) D0 - 0.5 alpha_t (e^{-h} - 1) D1, D1 = (x0 - x0_prev)/r0.
    const c0 = -alphaT * Math.expm1(-h);
    const lowerFinal = i === ts.length - 1 && ts.length < 15;
    if (i === 0 || lowerFinal) {
      return { ...base, cx: sigmaT / sigmaS, c0, c1: 0, ce: 0, order: 1 as const };
    }
    const h0 = lambda(aS) - lambda(abar(ts[i - 1]!));
    const r0 = h0 / h;
    return { ...base, cx: sigmaT / sigmaS, c0, c1: (0.5 * c0) / r0, ce: 0, order: 2 as const };
  });
  return { kind, timesteps: ts, steps: plan };
}

// ---------------------------------------------------------------- unfused reference (CPU, float64)

/** Classifier-free guidance: eps_u + s (eps_c - eps_u). */
export function referenceGuidance(epsC: ArrayLike<number>, epsU: ArrayLike<number>, scale: number): Float64Array {
  return Float64Array.from(epsC, (c, i) => epsU[i]! + scale * (c - epsU[i]!));
}

/** DDIM (eta = 0) in its textbook form: sqrt(a_prev) (x - sqrt(1-a_t) eps)/sqrt(a_t) + sqrt(1-a_prev) eps. */
export function referenceDdimStep(x: ArrayLike<number>, eps: ArrayLike<number>, aT: number, aPrev: number): Float64Array {
  return Float64Array.from(x, (xi, i) => {
    const e = eps[i]!;
    const x0 = (xi - Math.sqrt(1 - aT) * e) / Math.sqrt(aT);
    return Math.sqrt(aPrev) * x0 + Math.sqrt(1 - aPrev) * e;
  });
}

/**
 * DPM-Solver++(2M) stepping from alphā `aS` to `aT`, written with log-SNRs as in Lu et al. 2022 (alg. 2),
 * independent of the coefficient form: returns the new sample and this step's x0. `prev` is the previous
 * step's x0 and alphā (omit at a first-order step).
 */
export function referenceDpmStep(
  x: ArrayLike<number>,
  eps: ArrayLike<number>,
  aS: number,
  aT: number,
  prev?: { x0: ArrayLike<number>; alphaBar: number },
): { x: Float64Array; x0: Float64Array } {
  const lam = (a: number) => Math.log(Math.sqrt(a) / Math.sqrt(1 - a));
  const [alS, sgS, alT, sgT] = [Math.sqrt(aS), Math.sqrt(1 - aS), Math.sqrt(aT), Math.sqrt(1 - aT)];
  const h = lam(aT) - lam(aS);
  const x0 = Float64Array.from(x, (xi, i) => (xi - sgS * eps[i]!) / alS);
  const out = Float64Array.from(x, (xi, i) => {
    let d = x0[i]!;
    if (prev) {
      const r = (lam(aS) - lam(prev.alphaBar)) / h;
      d = (1 + 1 / (2 * r)) * x0[i]! - (1 / (2 * r)) * prev.x0[i]!;
    }
    return (sgT / sgS) * xi - alT * (Math.exp(-h) - 1) * d;
  });
  return { x: out, x0 };
}
