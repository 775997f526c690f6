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
{{PARAMS}}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> eps_c: array<f32>;
#if GUIDANCE == two
@group(0) @binding(3) var<storage, read> eps_u: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
#if HISTORY
@group(0) @binding(5) var<storage, read_write> x0_prev: array<f32>;
#endif
#else
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
#if HISTORY
@group(0) @binding(4) var<storage, read_write> x0_prev: array<f32>;
#endif
#endif

@compute @workgroup_size({{WG}})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = gid.x + gid.y * groups.x * {{WG}}u;
  if (i >= params.count) {
    return;
  }
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
