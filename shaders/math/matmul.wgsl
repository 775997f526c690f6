//! params: VARIANT, BLOCK, FR, FC, TRANS_A, TRANS_B, VEC_A, VEC_B, VEC_OUT, B_F16, BIAS, RES, ACT, WG, SUBGROUPS
// out[z, m, n] = act(sum_k A[z, m, k] * B[z, k, n] + bias[n]) + res[z, m, n], one batch matrix per
// workgroup z (A and B batch offsets come from broadcast strides). A is [M, K] or, with TRANS_A, [K, M];
// B is [K, N] or, with TRANS_B, [N, K] (PyTorch's linear weight); B may be f16 packed two per u32.
//
// Every variant works on 4x4 register fragments: `loadA` gives a mat4x4 whose column i is A[m0+i, k0..k0+3],
// `loadB` one whose column kk is B[k0+kk, n0..n0+3], so `acc += fb * fa` accumulates column i = output row
// m0+i over n0..n0+3. VEC_* say an operand's contiguous dimension is a multiple of 4, so the fragment is read
// with vec4 loads; otherwise it is read with scalars. Rows and columns past the edge are clamped (their
// results are never stored); k past K reads as zero.
//   blocked: no shared memory, each thread computes a BLOCK of outputs (CPU adapters); 1x4 uses one A row
//            (a vec4 over k) instead of a fragment.
//   tiled:   8x8 threads share 64x16 A and 16x64 B tiles in workgroup memory, 8x8 outputs each (real GPUs).
//   splitk:  WG threads split K for one 4x4 output block and reduce (small M, long K).
#if SUBGROUPS
enable subgroups;
#endif
{{BINDINGS}}
#include activate

// ---------------------------------------------------------------- operand access

// Element (m, k) of A; `base` is the batch matrix's first element.
fn aAt(base: u32, m: u32, k: u32) -> f32 {
#if TRANS_A
  let i = base + k * params.M + m;
#else
  let i = base + m * params.K + k;
#endif
#if VEC_A
  return a[i >> 2u][i & 3u];
#else
  return a[i];
#endif
}

// Element (k, n) of B.
fn bAt(base: u32, k: u32, n: u32) -> f32 {
#if TRANS_B
  let i = base + n * params.K + k;
#else
  let i = base + k * params.N + n;
#endif
#if B_F16
#if VEC_B
  let w = b[i >> 2u];
  return unpack2x16float(select(w.x, w.y, (i & 2u) != 0u))[i & 1u];
#else
  return unpack2x16float(b[i >> 1u])[i & 1u];
#endif
#else
#if VEC_B
  return b[i >> 2u][i & 3u];
#else
  return b[i];
#endif
#endif
}

#if VEC_B
// Four consecutive elements of B from element index i (a multiple of 4).
fn b4(i: u32) -> vec4<f32> {
#if B_F16
  let w = b[i >> 2u];
  return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y));
#else
  return b[i >> 2u];
#endif
}
#endif

// Scalar fragment loads with k checked against K: the K tail, and tiles past the end.
fn loadAEdge(base: u32, m0: u32, k0: u32) -> mat4x4<f32> {
  var f = mat4x4<f32>();
  for (var i = 0u; i < 4u; i++) {
    let m = min(m0 + i, params.M - 1u);
    for (var kk = 0u; kk < 4u; kk++) {
      let k = k0 + kk;
      f[i][kk] = select(0.0, aAt(base, m, min(k, params.K - 1u)), k < params.K);
    }
  }
  return f;
}

fn loadBEdge(base: u32, k0: u32, n0: u32) -> mat4x4<f32> {
  var f = mat4x4<f32>();
  for (var kk = 0u; kk < 4u; kk++) {
    let k = k0 + kk;
    for (var j = 0u; j < 4u; j++) {
      let n = min(n0 + j, params.N - 1u);
      f[kk][j] = select(0.0, bAt(base, min(k, params.K - 1u), n), k < params.K);
    }
  }
  return f;
}

// Column i = A[m0+i, k0..k0+3], k0 + 4 <= K.
fn loadAFull(base: u32, m0: u32, k0: u32) -> mat4x4<f32> {
  let mLast = params.M - 1u;
#if TRANS_A
#if VEC_A
  // Rows of the stored [K, M] matrix are vec4 over m; M % 4 == 0, so clamping m0 keeps the load aligned.
  let mc = min(m0, params.M - 4u);
  let i = (base + k0 * params.M + mc) >> 2u;
  let s = params.M >> 2u;
  return transpose(mat4x4<f32>(a[i], a[i + s], a[i + 2u * s], a[i + 3u * s]));
#else
  var f = mat4x4<f32>();
  for (var kk = 0u; kk < 4u; kk++) {
    let row = base + (k0 + kk) * params.M;
    for (var i = 0u; i < 4u; i++) {
      f[i][kk] = a[row + min(m0 + i, mLast)];
    }
  }
  return f;
#endif
#else
#if VEC_A
  let s = params.K >> 2u;
  let i = (base + k0) >> 2u;
  return mat4x4<f32>(a[i + min(m0, mLast) * s], a[i + min(m0 + 1u, mLast) * s], a[i + min(m0 + 2u, mLast) * s], a[i + min(m0 + 3u, mLast) * s]);
#else
  var f = mat4x4<f32>();
  for (var i = 0u; i < 4u; i++) {
    let row = base + min(m0 + i, mLast) * params.K + k0;
    f[i] = vec4<f32>(a[row], a[row + 1u], a[row + 2u], a[row + 3u]);
  }
  return f;
#endif
#endif
}

// Column kk = B[k0+kk, n0..n0+3], k0 + 4 <= K.
fn loadBFull(base: u32, k0: u32, n0: u32) -> mat4x4<f32> {
  let nLast = params.N - 1u;
#if TRANS_B
#if VEC_B
  // Rows of the stored [N, K] weight are vec4 over k.
  let r = base + k0;
  let K = params.K;
  return transpose(mat4x4<f32>(b4(r + min(n0, nLast) * K), b4(r + min(n0 + 1u, nLast) * K), b4(r + min(n0 + 2u, nLast) * K), b4(r + min(n0 + 3u, nLast) * K)));
#else
  var f = mat4x4<f32>();
  for (var j = 0u; j < 4u; j++) {
    let n = min(n0 + j, nLast);
    for (var kk = 0u; kk < 4u; kk++) {
      f[kk][j] = bAt(base, k0 + kk, n);
    }
  }
  return f;
#endif
#else
#if VEC_B
  let nc = min(n0, params.N - 4u);
  let r = base + k0 * params.N + nc;
  let N = params.N;
  return mat4x4<f32>(b4(r), b4(r + N), b4(r + 2u * N), b4(r + 3u * N));
#else
  var f = mat4x4<f32>();
  for (var kk = 0u; kk < 4u; kk++) {
    for (var j = 0u; j < 4u; j++) {
      f[kk][j] = bAt(base, k0 + kk, min(n0 + j, nLast));
    }
  }
  return f;
#endif
#endif
}

#if BLOCK == 1x4
// A[m, k0..k0+3], k0 + 4 <= K.
fn loadARowFull(base: u32, m: u32, k0: u32) -> vec4<f32> {
#if TRANS_A
  return vec4<f32>(aAt(base, m, k0), aAt(base, m, k0 + 1u), aAt(base, m, k0 + 2u), aAt(base, m, k0 + 3u));
#else
#if VEC_A
  return a[(base + m * params.K + k0) >> 2u];
#else
  let i = base + m * params.K + k0;
  return vec4<f32>(a[i], a[i + 1u], a[i + 2u], a[i + 3u]);
#endif
#endif
}

fn loadARowEdge(base: u32, m: u32, k0: u32) -> vec4<f32> {
  var v = vec4<f32>();
  for (var kk = 0u; kk < 4u; kk++) {
    let k = k0 + kk;
    v[kk] = select(0.0, aAt(base, m, min(k, params.K - 1u)), k < params.K);
  }
  return v;
}
#endif

fn loadA(base: u32, m0: u32, k0: u32) -> mat4x4<f32> {
  if (k0 + 4u > params.K) {
    return loadAEdge(base, m0, k0);
  }
  return loadAFull(base, m0, k0);
}

fn loadB(base: u32, k0: u32, n0: u32) -> mat4x4<f32> {
  if (k0 + 4u > params.K) {
    return loadBEdge(base, k0, n0);
  }
  return loadBFull(base, k0, n0);
}

// ---------------------------------------------------------------- batch and epilogue

// Element offsets of batch matrix z in A and B: z is decomposed over the (up to 4) output batch dimensions.
fn batchBases(z: u32) -> vec2<u32> {
  var rest = z;
  var base = vec2<u32>(0u, 0u);
  for (var d = 3; d >= 0; d--) {
    let size = params.batch[d];
    let c = rest % size;
    rest = rest / size;
    base += c * vec2<u32>(params.a_batch_stride[d], params.b_batch_stride[d]);
  }
  return base;
}

// Applies bias, activation and residual to row m0+i of the block (columns n0..n0+3) and stores the first
// `rows` rows that exist.
fn store(z: u32, m0: u32, n0: u32, acc: mat4x4<f32>, rows: u32) {
  let N = params.N;
  let obase = z * params.M * N;
  for (var i = 0u; i < rows; i++) {
    let m = m0 + i;
    if (m >= params.M) {
      return;
    }
#if VEC_OUT
    let o = (obase + m * N + n0) >> 2u;
    var v = acc[i];
#if BIAS
    v += bias[n0 >> 2u];
#endif
    v = activate4(v);
#if RES
    v += res[o];
#endif
    out[o] = v;
#else
    var v = acc[i];
#if BIAS
    v += vec4<f32>(bias[n0], bias[min(n0 + 1u, N - 1u)], bias[min(n0 + 2u, N - 1u)], bias[min(n0 + 3u, N - 1u)]);
#endif
    v = activate4(v);
    let o = obase + m * N + n0;
    for (var j = 0u; j < 4u; j++) {
      if (n0 + j < N) {
#if RES
        out[o + j] = v[j] + res[o + j];
#else
        out[o + j] = v[j];
#endif
      }
    }
#endif
  }
}

// ---------------------------------------------------------------- variants

#if VARIANT == blocked
// BLOCK outputs per thread (rows x columns: 1x4, or FR x FC fragments of 4x4: 4x4 up to 16x16); 1x4 uses one A
// row (a vec4 over k), for a few tokens, so no thread computes rows that do not exist. A larger block loads
// fewer operands per multiply-add but leaves fewer threads.
#if BLOCK == 1x4
@compute @workgroup_size(64, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n0 = gid.x * 4u;
  let m = gid.y;
  if (n0 >= params.N) {
    return;
  }
  let bases = batchBases(gid.z);
  var acc = vec4<f32>();
  let kFull = params.K & ~3u;
  for (var k0 = 0u; k0 < kFull; k0 += 4u) {
    acc += loadBFull(bases.y, k0, n0) * loadARowFull(bases.x, m, k0);
  }
  if (kFull < params.K) {
    acc += loadBEdge(bases.y, kFull, n0) * loadARowEdge(bases.x, m, kFull);
  }
  store(gid.z, m, n0, mat4x4<f32>(acc, vec4<f32>(), vec4<f32>(), vec4<f32>()), 1u);
}
#else
@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n0 = gid.x * (4u * {{FC}}u);
  let m0 = gid.y * (4u * {{FR}}u);
  if (n0 >= params.N || m0 >= params.M) {
    return;
  }
  let bases = batchBases(gid.z);
  // Fragment origins kept inside the matrix (the results of one past the edge are never stored).
  var ms: array<u32, {{FR}}>;
  var ns: array<u32, {{FC}}>;
  #for $r < FR unroll
    ms[$r] = min(m0 + $r * 4u, params.M - 1u);
  #endfor
  #for $c < FC unroll
    ns[$c] = min(n0 + $c * 4u, ((params.N - 1u) / 4u) * 4u);
  #endfor
  // Unrolled, so the accumulators are indexed by constants and stay in registers.
  var acc: array<array<mat4x4<f32>, {{FC}}>, {{FR}}>;
  var fb: array<mat4x4<f32>, {{FC}}>;
  // Whole steps of 4 without bounds checks, then at most one checked step for the K tail.
  let kFull = params.K & ~3u;
  for (var k0 = 0u; k0 < kFull; k0 += 4u) {
    #for $c < FC unroll
      fb[$c] = loadBFull(bases.y, k0, ns[$c]);
    #endfor
    #for $r < FR unroll
      let fa = loadAFull(bases.x, ms[$r], k0);
      #for $c < FC unroll
        acc[$r][$c] += fb[$c] * fa;
      #endfor
    #endfor
  }
  if (kFull < params.K) {
    #for $c < FC unroll
      fb[$c] = loadBEdge(bases.y, kFull, ns[$c]);
    #endfor
    #for $r < FR unroll
      let fa = loadAEdge(bases.x, ms[$r], kFull);
      #for $c < FC unroll
        acc[$r][$c] += fb[$c] * fa;
      #endfor
    #endfor
  }
  #for $r < FR unroll
    if (m0 + $r * 4u < params.M) {
      #for $c < FC unroll
        if (n0 + $c * 4u < params.N) {
          store(gid.z, m0 + $r * 4u, n0 + $c * 4u, acc[$r][$c], 4u);
        }
      #endfor
    }
  #endfor
}
#endif
#endif

#if VARIANT == tiled
// A 64x64 output tile per workgroup of 8x8 threads, K in steps of 16 through workgroup memory. Fragments of
// the A tile (index mi * 4 + ki) and the B tile (index ki * 16 + ni); each thread loads one of each per step
// and computes four fragments, rows y and y + 8, columns x and x + 8 (spread so that neighbouring threads
// read neighbouring fragments).
var<workgroup> tileA: array<mat4x4<f32>, 64>;
var<workgroup> tileB: array<mat4x4<f32>, 64>;

@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let z = wid.z;
  let bases = batchBases(z);
  let mTile = wid.y * 64u;
  let nTile = wid.x * 64u;
  var acc00 = mat4x4<f32>();
  var acc01 = mat4x4<f32>();
  var acc10 = mat4x4<f32>();
  var acc11 = mat4x4<f32>();
  for (var kTile = 0u; kTile < params.K; kTile += 16u) {
    tileA[l] = loadA(bases.x, mTile + (l / 4u) * 4u, kTile + (l % 4u) * 4u);
    tileB[l] = loadB(bases.y, kTile + (l / 16u) * 4u, nTile + (l % 16u) * 4u);
    workgroupBarrier();
    for (var ki = 0u; ki < 4u; ki++) {
      let a0 = tileA[lid.y * 4u + ki];
      let a1 = tileA[(lid.y + 8u) * 4u + ki];
      let b0 = tileB[ki * 16u + lid.x];
      let b1 = tileB[ki * 16u + lid.x + 8u];
      acc00 += b0 * a0;
      acc01 += b1 * a0;
      acc10 += b0 * a1;
      acc11 += b1 * a1;
    }
    workgroupBarrier();
  }
  let m0 = mTile + lid.y * 4u;
  let n0 = nTile + lid.x * 4u;
  if (n0 < params.N) {
    store(z, m0, n0, acc00, 4u);
    store(z, m0 + 32u, n0, acc10, 4u);
  }
  if (n0 + 32u < params.N) {
    store(z, m0, n0 + 32u, acc01, 4u);
    store(z, m0 + 32u, n0 + 32u, acc11, 4u);
  }
}
#endif

#if VARIANT == splitk
#if SUBGROUPS
// One slot per subgroup; slots are claimed with an atomic counter, because WGSL does not promise how
// subgroups map onto local_invocation_index.
var<workgroup> partial: array<mat4x4<f32>, {{WG}}>;
var<workgroup> slots: atomic<u32>;
#else
var<workgroup> partial: array<mat4x4<f32>, {{WG}}>;
#endif

@compute @workgroup_size({{WG}})
#if SUBGROUPS
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32, @builtin(subgroup_invocation_id) lane: u32) {
#else
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) t: u32) {
#endif
  let n0 = wid.x * 4u;
  let m0 = wid.y * 4u;
  let z = wid.z;
  let bases = batchBases(z);
  var acc = mat4x4<f32>();
  // The trip count is the same for every thread (uniform control flow for the barriers and subgroup ops);
  // threads whose k0 runs past K read zeros.
  for (var k = 0u; k < params.K; k += {{WG}}u * 4u) {
    let k0 = k + t * 4u;
    acc += loadB(bases.y, k0, n0) * loadA(bases.x, m0, k0);
  }
#if SUBGROUPS
  let s = mat4x4<f32>(subgroupAdd(acc[0]), subgroupAdd(acc[1]), subgroupAdd(acc[2]), subgroupAdd(acc[3]));
  if (lane == 0u) {
    partial[atomicAdd(&slots, 1u)] = s;
  }
  workgroupBarrier();
  if (t == 0u) {
    let count = atomicLoad(&slots);
    var total = mat4x4<f32>();
    for (var i = 0u; i < count; i++) {
      total += partial[i];
    }
    store(z, m0, n0, total, 4u);
  }
#else
  partial[t] = acc;
  for (var stride = {{WG}}u / 2u; stride > 0u; stride = stride / 2u) {
    workgroupBarrier();
    if (t < stride) {
      partial[t] += partial[t + stride];
    }
  }
  if (t == 0u) {
    store(z, m0, n0, partial[0], 4u);
  }
#endif
}
#endif
