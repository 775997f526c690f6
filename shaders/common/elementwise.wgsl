// The entry point of a kernel with one invocation per item: its uniforms have `count`, the number of items,
// and it defines `fn item(i: u32)`.
#include index

@compute @workgroup_size({{WG}})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = flat_index(gid, groups);
  if (i < params.count) {
    item(i);
  }
}
