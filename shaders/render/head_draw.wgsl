// Draws the posed head as weights-tools/world/render.py does: a pinhole camera at (0, CAM_Y, CAM_D) looking
// down −z, per-vertex (Gouraud) Lambert + ambient shading with the light in camera space, back faces culled,
// over a two-colour linear gradient background. Entry points: background (a full-screen triangle) and mesh.

// The view uniform, struct Params (src/render/head.ts, headViewUniforms): light xyz (direction); the two
// background colours; camera x: focal length in NDC units (2 F / size), y: CAM_Y, z: CAM_D, w: background
// angle; shading x: ambient, y: diffuse.
{{VIEW}}

@group(0) @binding(0) var<uniform> view: Params;
@group(0) @binding(1) var<storage, read> posed: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> normals: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> colour: array<f32>;        // [N, 3]

struct Varying {
  @builtin(position) position: vec4<f32>,
  @location(0) colour: vec3<f32>,
}

// Depth range of the head in camera distance (CAM_D − z), mapped to [0, 1].
const NEAR = 4.0;
const FAR = 14.0;

@vertex
fn mesh_vs(@builtin(vertex_index) i: u32) -> Varying {
  let p = posed[i].xyz;
  let d = view.camera.z - p.z;
  var out: Varying;
  out.position = vec4<f32>(view.camera.x * p.x, view.camera.x * (p.y - view.camera.y), (d - NEAR) / (FAR - NEAR) * d, d);
  let shade = view.shading.x + view.shading.y * max(dot(normals[i].xyz, view.light.xyz), 0.0);
  out.colour = clamp(vec3<f32>(colour[i * 3u], colour[i * 3u + 1u], colour[i * 3u + 2u]) * shade, vec3<f32>(0.0), vec3<f32>(1.0));
  return out;
}

@fragment
fn mesh_fs(v: Varying) -> @location(0) vec4<f32> {
  return vec4<f32>(v.colour, 1.0);
}

struct BackgroundVarying {
  @builtin(position) position: vec4<f32>,
  @location(0) uv: vec2<f32>,    // x right, y down, both in [−1, 1]
}

@vertex
fn background_vs(@builtin(vertex_index) i: u32) -> BackgroundVarying {
  let xy = vec2<f32>(f32(i & 1u) * 4.0 - 1.0, f32(i >> 1u) * 4.0 - 1.0);
  var out: BackgroundVarying;
  out.position = vec4<f32>(xy, 1.0, 1.0);
  out.uv = vec2<f32>(xy.x, -xy.y);
  return out;
}

@fragment
fn background_fs(v: BackgroundVarying) -> @location(0) vec4<f32> {
  let a = view.camera.w;
  let t = (v.uv.x * cos(a) + v.uv.y * sin(a)) * 0.5 + 0.5;
  return vec4<f32>(mix(view.bg_from.rgb, view.bg_to.rgb, t), 1.0);
}
