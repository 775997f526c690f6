// Poses the head-world mesh (weights-tools/world/head.py, HeadModel.pose_vertices) for one frame of FLAP
// coefficients, one thread per vertex:
//   v = template + expr_basis · expression + eyelid_basis · eyelids
//   v = lerp(v, R_jaw (v − jaw_pivot) + jaw_pivot, w_jaw)
//   v = R_eye (v − eye_pivot) + eye_pivot            for eyeball vertices
//   v = lerp(v, R_global (v − neck_pivot) + neck_pivot, w_global)
// Rotations come as matrices computed on the CPU. Positions are written as vec4 (w = 1) for the draw pass.

struct Pose {
  jaw: mat3x3<f32>,
  eye_left: mat3x3<f32>,
  eye_right: mat3x3<f32>,
  global: mat3x3<f32>,
  jaw_pivot: vec4<f32>,
  eye_left_pivot: vec4<f32>,
  eye_right_pivot: vec4<f32>,
  neck_pivot: vec4<f32>,
  // expression[100] then eyelids[2], four per vec4.
  weights: array<vec4<f32>, 26>,
  vertices: u32,
}

@group(0) @binding(0) var<uniform> pose: Pose;
@group(0) @binding(1) var<storage, read> template_pos: array<f32>;      // [N, 3]
@group(0) @binding(2) var<storage, read> expr_basis: array<f32>;        // [100, N, 3]
@group(0) @binding(3) var<storage, read> eyelid_basis: array<f32>;      // [2, N, 3]
@group(0) @binding(4) var<storage, read> skin: array<vec4<f32>>;        // [N]: w_jaw, w_global, eye id, 0
@group(0) @binding(5) var<storage, read_write> posed: array<vec4<f32>>; // [N]

fn weight(i: u32) -> f32 {
  return pose.weights[i / 4u][i % 4u];
}

fn at(buf_index: u32) -> u32 {
  return buf_index * 3u;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n = gid.x;
  let count = pose.vertices;
  if (n >= count) {
    return;
  }
  var v = vec3<f32>(template_pos[at(n)], template_pos[at(n) + 1u], template_pos[at(n) + 2u]);
  for (var k = 0u; k < 100u; k++) {
    let w = weight(k);
    if (w != 0.0) {
      let b = at(k * count + n);
      v += w * vec3<f32>(expr_basis[b], expr_basis[b + 1u], expr_basis[b + 2u]);
    }
  }
  for (var k = 0u; k < 2u; k++) {
    let b = at(k * count + n);
    v += weight(100u + k) * vec3<f32>(eyelid_basis[b], eyelid_basis[b + 1u], eyelid_basis[b + 2u]);
  }
  let s = skin[n];
  let vj = pose.jaw * (v - pose.jaw_pivot.xyz) + pose.jaw_pivot.xyz;
  v += s.x * (vj - v);
  if (s.z == 1.0) {
    v = pose.eye_left * (v - pose.eye_left_pivot.xyz) + pose.eye_left_pivot.xyz;
  } else if (s.z == 2.0) {
    v = pose.eye_right * (v - pose.eye_right_pivot.xyz) + pose.eye_right_pivot.xyz;
  }
  let vg = pose.global * (v - pose.neck_pivot.xyz) + pose.neck_pivot.xyz;
  v += s.y * (vg - v);
  posed[n] = vec4<f32>(v, 1.0);
}
