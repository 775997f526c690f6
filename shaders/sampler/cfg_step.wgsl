//! params: GUIDANCE, HISTORY, WG
// One fused sampler step per element: classifier-free guidance, then a linear update whose coefficients the
// scheduler computes once per step (src/ops/sampler/schedule.ts):
//
//   eps  = eps_u + scale * (eps_c - eps_u)          (GUIDANCE pair|two; `none`: eps = eps_c)
//   x0   = (x - sigma_s * eps) * inv_alpha_s         (data prediction)
//   out  = cx * x + c0 * x0 + ce * eps [+ c1 * (x0 - x0_prev)]
//   x0_prev = x0                                     (HISTORY: updated in place for the next step)
//
// DDIM (eta 0) is cx = c1 = 0, c0 = sqrt(a_prev), ce = sqrt(1 - a_prev); DPM-Solver++(2M) is ce = 0 with
// cx = sigma_t / sigma_s and c0, c1 from the log-SNR steps. GUIDANCE `pair`: the model output is one batch-2
// tensor, the conditional half first, then the unconditional half (`count` elements each).
{{BINDINGS}}
#include elementwise

fn item(i: u32) {
  let c = eps_c[i];
#if GUIDANCE == pair
  let u = eps_c[i + params.count];
  let eps = u + params.scale * (c - u);
#elif GUIDANCE == two
  let u = eps_u[i];
  let eps = u + params.scale * (c - u);
#else
  let eps = c;
#endif
  let xi = x[i];
  let x0 = (xi - params.sigma_s * eps) * params.inv_alpha_s;
  var r = params.cx * xi + params.c0 * x0 + params.ce * eps;
#if HISTORY
  r += params.c1 * (x0 - x0_prev[i]);
  x0_prev[i] = x0;
#endif
  out[i] = r;
}
