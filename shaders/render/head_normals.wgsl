//! params: WG
// Vertex normals of the posed mesh, one item per vertex (`count` = vertices): the normalised sum of the
// (area-weighted) normals of the triangles around it, as weights-tools/world/render.py's vertex_normals. The
// triangles of each vertex come as a CSR list built once at load (there are no float atomics to scatter with):
// faces [F, 3], ring_start [N + 1], ring (triangle ids), all u32.
{{BINDINGS}}
#include elementwise

fn item(n: u32) {
  var sum = vec3<f32>(0.0);
  for (var i = ring_start[n]; i < ring_start[n + 1u]; i++) {
    let f = ring[i] * 3u;
    let p0 = posed[faces[f]].xyz;
    sum += cross(posed[faces[f + 1u]].xyz - p0, posed[faces[f + 2u]].xyz - p0);
  }
  normals[n] = vec4<f32>(sum / max(length(sum), 1e-12), 0.0);
}
