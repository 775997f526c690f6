// Vertex normals of the posed mesh, one thread per vertex: the normalised sum of the (area-weighted) normals
// of the triangles around it, as weights-tools/world/render.py's vertex_normals. The triangles of each vertex
// come as a CSR list built once at load (there are no float atomics to scatter with).

struct Params {
  vertices: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> posed: array<vec4<f32>>;    // [N]
@group(0) @binding(2) var<storage, read> faces: array<u32>;          // [F, 3]
@group(0) @binding(3) var<storage, read> ring_start: array<u32>;     // [N + 1]
@group(0) @binding(4) var<storage, read> ring: array<u32>;           // triangle ids
@group(0) @binding(5) var<storage, read_write> normals: array<vec4<f32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n = gid.x;
  if (n >= params.vertices) {
    return;
  }
  var sum = vec3<f32>(0.0);
  for (var i = ring_start[n]; i < ring_start[n + 1u]; i++) {
    let f = ring[i] * 3u;
    let p0 = posed[faces[f]].xyz;
    sum += cross(posed[faces[f + 1u]].xyz - p0, posed[faces[f + 2u]].xyz - p0);
  }
  normals[n] = vec4<f32>(sum / max(length(sum), 1e-12), 0.0);
}
