//! params: WG
// Poses the head-world mesh (weights-tools/world/head.py, HeadModel.pose_vertices) for one frame of FLAP
// coefficients, one item per vertex (`count` = vertices):
//   v = template + expr_basis · expression + eyelid_basis · eyelids
//   v = lerp(v, R_jaw (v − jaw_pivot) + jaw_pivot, w_jaw)
//   v = R_eye (v − eye_pivot) + eye_pivot            for eyeball vertices
//   v = lerp(v, R_global (v − neck_pivot) + neck_pivot, w_global)
// Rotations come as matrices computed on the CPU (src/ops/render/head_pose.ts); `weights` holds expression[100]
// then eyelids[2], four per vec4. Positions are written as vec4 (w = 1) for the draw pass.
{{BINDINGS}}
#include elementwise

fn weight(i: u32) -> f32 {
  return params.weights[i / 4u][i % 4u];
}

// Component c of vertex n in a [.., N, 3] array.
fn at3(n: u32) -> u32 {
  return n * 3u;
}

fn item(n: u32) {
  let count = params.count;
  var v = vec3<f32>(template_pos[at3(n)], template_pos[at3(n) + 1u], template_pos[at3(n) + 2u]);
  for (var k = 0u; k < 100u; k++) {
    let w = weight(k);
    if (w != 0.0) {
      let b = at3(k * count + n);
      v += w * vec3<f32>(expr_basis[b], expr_basis[b + 1u], expr_basis[b + 2u]);
    }
  }
  for (var k = 0u; k < 2u; k++) {
    let b = at3(k * count + n);
    v += weight(100u + k) * vec3<f32>(eyelid_basis[b], eyelid_basis[b + 1u], eyelid_basis[b + 2u]);
  }
  let s = skin[n];
  let vj = params.jaw * (v - params.jaw_pivot.xyz) + params.jaw_pivot.xyz;
  v += s.x * (vj - v);
  if (s.z == 1.0) {
    v = params.eye_left * (v - params.eye_left_pivot.xyz) + params.eye_left_pivot.xyz;
  } else if (s.z == 2.0) {
    v = params.eye_right * (v - params.eye_right_pivot.xyz) + params.eye_right_pivot.xyz;
  }
  let vg = params.global * (v - params.neck_pivot.xyz) + params.neck_pivot.xyz;
  v += s.y * (vg - v);
  posed[n] = vec4<f32>(v, 1.0);
}
