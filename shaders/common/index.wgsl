// The flat index of an invocation in a 1-D problem dispatched by flatDispatch (src/runtime/kernel.ts), which
// folds the workgroups into x and y when one dimension would pass the adapter's limit.
fn flat_index(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
  return gid.x + gid.y * groups.x * {{WG}}u;
}
