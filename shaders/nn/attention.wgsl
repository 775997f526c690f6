//! params: VARIANT, D, DV, BK, WG, CONCAT, VEC, RQ, UNROLL_DV
// Multi-head attention softmax(q k^T * scale) v in the online-softmax ("flash") form: each query row keeps a
// running max `m`, a running sum `l` and an unnormalised accumulator, so no Lq x Lk score matrix is ever
// stored. Keys come from one source (K1/V1 of length L1) or, with CONCAT, from two (then K2/V2 of length L2
// follow), which equals attending to their concatenation along the sequence without materialising it.
//
// Every operand is addressed through element strides (batch0, batch1, sequence, head) given as uniforms,
// element c of head h of row i in batch (b0, b1) being at offset + b0*s.x + b1*s.y + i*s.z + h*s.w + c.
//
// Loops over the DV chunks of a head (`$c`) and the RQ query rows of a thread (`$r`) are `#for` blocks that
// the template unrolls (rows always, chunks with UNROLL_DV), so the state arrays are indexed by constants and
// can live in registers (SwiftShader does not unroll loops itself, and dynamically indexed private arrays go
// to memory).
//
// Variants:
//   rows     one thread per RQ query rows (each key chunk loaded once serves RQ rows); keys are streamed
//            through registers 4 at a time; no barriers (CPU adapters such as SwiftShader).
//   tiled    WG query rows per workgroup share K/V tiles of BK keys in workgroup memory (GPUs).
//   subgroup one query row per workgroup of WG lanes (few queries, many keys): each lane streams its own
//            share of the keys; the lanes' partial softmax states are merged within each subgroup by
//            subgroupMax/subgroupAdd, then across the workgroup's subgroups through workgroup memory. Nothing
//            assumes a subgroup size: a workgroup may be one subgroup or many, of any width, partial or not.
#if VARIANT == subgroup
enable subgroups;
#endif
{{BINDINGS}}
#include index

// VEC: D, every stride and every offset are multiples of 4, so all operands are read and written as vec4.
#if VEC
alias T = vec4<f32>;
#else
alias T = f32;
#endif
const D: u32 = {{D}}u;
const DV: u32 = {{DV}}u;
// Masked scores: finite, so exp(MASKED - m) is 0 without an inf - inf.
const MASKED: f32 = -1.0e30;

const RQ: u32 = {{RQ}}u;
// State of the RQ query rows this invocation owns: chunk c of row r at r * DV + c.
var<private> qv: array<vec4<f32>, RQ * DV>;
var<private> acc: array<vec4<f32>, RQ * DV>;
var<private> m: array<f32, RQ>;
var<private> l: array<f32, RQ>;

// Four elements of chunk c starting at `base`; the tail chunk of a head dim that is not a multiple of 4 is
// zero-padded (D is a constant, so the branch folds away).
#if VEC
fn ld_q(base: u32, c: u32) -> vec4<f32> {
  return q[base / 4u + c];
}

fn ld_k(src: u32, base: u32, c: u32) -> vec4<f32> {
#if CONCAT
  if (src == 1u) {
    return k2[base / 4u + c];
  }
#endif
  return k1[base / 4u + c];
}

fn ld_v(src: u32, base: u32, c: u32) -> vec4<f32> {
#if CONCAT
  if (src == 1u) {
    return v2[base / 4u + c];
  }
#endif
  return v1[base / 4u + c];
}
#else
// Four elements of chunk c starting at `base`; the tail chunk of a head dim that is not a multiple of 4 is
// zero-padded (D is a constant, so the branch folds away).
fn ld_q(base: u32, c: u32) -> vec4<f32> {
  let o = base + 4u * c;
  if (D % 4u != 0u && c == DV - 1u) {
    var r = vec4<f32>(0.0);
    for (var e = 0u; e < D % 4u; e++) { r[e] = q[o + e]; }
    return r;
  }
  return vec4<f32>(q[o], q[o + 1u], q[o + 2u], q[o + 3u]);
}

fn ld_k(src: u32, base: u32, c: u32) -> vec4<f32> {
  let o = base + 4u * c;
  let tail = D % 4u != 0u && c == DV - 1u;
#if CONCAT
  if (src == 1u) {
    if (tail) {
      var r = vec4<f32>(0.0);
      for (var e = 0u; e < D % 4u; e++) { r[e] = k2[o + e]; }
      return r;
    }
    return vec4<f32>(k2[o], k2[o + 1u], k2[o + 2u], k2[o + 3u]);
  }
#endif
  if (tail) {
    var r = vec4<f32>(0.0);
    for (var e = 0u; e < D % 4u; e++) { r[e] = k1[o + e]; }
    return r;
  }
  return vec4<f32>(k1[o], k1[o + 1u], k1[o + 2u], k1[o + 3u]);
}

fn ld_v(src: u32, base: u32, c: u32) -> vec4<f32> {
  let o = base + 4u * c;
  let tail = D % 4u != 0u && c == DV - 1u;
#if CONCAT
  if (src == 1u) {
    if (tail) {
      var r = vec4<f32>(0.0);
      for (var e = 0u; e < D % 4u; e++) { r[e] = v2[o + e]; }
      return r;
    }
    return vec4<f32>(v2[o], v2[o + 1u], v2[o + 2u], v2[o + 3u]);
  }
#endif
  if (tail) {
    var r = vec4<f32>(0.0);
    for (var e = 0u; e < D % 4u; e++) { r[e] = v1[o + e]; }
    return r;
  }
  return vec4<f32>(v1[o], v1[o + 1u], v1[o + 2u], v1[o + 3u]);
}
#endif

fn src_len(src: u32) -> u32 {
  return select(params.lens.x, params.lens.y, src == 1u);
}

fn k_strides(src: u32) -> vec4<u32> {
  return select(params.k1_strides, params.k2_strides, src == 1u);
}

fn v_strides(src: u32) -> vec4<u32> {
  return select(params.v1_strides, params.v2_strides, src == 1u);
}

// Folds a block of 4 scores of row r into its running max and sum, rescales its accumulator once per
// block, and returns the block's probabilities (0 where masked).
fn online_block(s: vec4<f32>, r: u32) -> vec4<f32> {
  let mb = max(m[r], max(max(s.x, s.y), max(s.z, s.w)));
  let corr = exp(m[r] - mb);
  m[r] = mb;
  let p = exp(s - vec4<f32>(mb));
  l[r] = l[r] * corr + (p.x + p.y + p.z + p.w);
  #for $c < DV unroll UNROLL_DV
    acc[r * DV + $c] = acc[r * DV + $c] * corr;
  #endfor
  return p;
}

fn reset_state() {
  #for $r < RQ unroll
    m[$r] = MASKED;
    l[$r] = 0.0;
    #for $c < DV unroll UNROLL_DV
      acc[$r * DV + $c] = vec4<f32>(0.0);
    #endfor
  #endfor
}

fn load_query(base: u32, r: u32) {
  #for $c < DV unroll UNROLL_DV
    qv[r * DV + $c] = ld_q(base, $c) * params.scale;
  #endfor
}

// Folds keys 4*blk .. 4*blk+3 of source `src` (out-of-range keys masked) into the state of every row.
// Indices are clamped so masked keys read a valid element and contribute p = 0.
fn stream_block(src: u32, kbase: u32, vbase: u32, blk: u32) {
  let len = src_len(src);
  let ks = k_strides(src).z;
  let vs = v_strides(src).z;
  let j0 = 4u * blk;
  let j = min(vec4<u32>(j0, j0 + 1u, j0 + 2u, j0 + 3u), vec4<u32>(len - 1u));
  let valid = vec4<u32>(j0, j0 + 1u, j0 + 2u, j0 + 3u) < vec4<u32>(len);
  var s: array<vec4<f32>, RQ>;
  #for $c < DV unroll UNROLL_DV
    let kk0 = ld_k(src, kbase + j.x * ks, $c);
    let kk1 = ld_k(src, kbase + j.y * ks, $c);
    let kk2 = ld_k(src, kbase + j.z * ks, $c);
    let kk3 = ld_k(src, kbase + j.w * ks, $c);
    #for $r < RQ unroll
      let qc = qv[$r * DV + $c];
      s[$r] += vec4<f32>(dot(qc, kk0), dot(qc, kk1), dot(qc, kk2), dot(qc, kk3));
    #endfor
  #endfor
  var p: array<vec4<f32>, RQ>;
  #for $r < RQ unroll
    p[$r] = online_block(select(vec4<f32>(MASKED), s[$r], valid), $r);
  #endfor
  #for $c < DV unroll UNROLL_DV
    let vv0 = ld_v(src, vbase + j.x * vs, $c);
    let vv1 = ld_v(src, vbase + j.y * vs, $c);
    let vv2 = ld_v(src, vbase + j.z * vs, $c);
    let vv3 = ld_v(src, vbase + j.w * vs, $c);
    #for $r < RQ unroll
      acc[$r * DV + $c] += p[$r].x * vv0 + p[$r].y * vv1 + p[$r].z * vv2 + p[$r].w * vv3;
    #endfor
  #endfor
}

// Offsets (elements): offsets[0] = (q, k1, v1, out), offsets[1] = (k2, v2, -, -).
fn base_of(s: vec4<u32>, off: u32, b0: u32, b1: u32, h: u32) -> u32 {
  return off + b0 * s.x + b1 * s.y + h * s.w;
}

fn k_offset(src: u32) -> u32 {
  return select(params.offsets[0].y, params.offsets[1].x, src == 1u);
}

fn v_offset(src: u32) -> u32 {
  return select(params.offsets[0].z, params.offsets[1].y, src == 1u);
}

fn store_chunk(base: u32, c: u32, r: vec4<f32>) {
#if VEC
  out[base / 4u + c] = r;
#else
  for (var e = 0u; e < min(4u, D - 4u * c); e++) { out[base + 4u * c + e] = r[e]; }
#endif
}

fn store_row(base: u32, r: u32) {
  let inv = 1.0 / l[r];
  #for $c < DV unroll UNROLL_DV
    store_chunk(base, $c, acc[r * DV + $c] * inv);
  #endfor
}

#if CONCAT
const NSRC: u32 = 2u;
#else
const NSRC: u32 = 1u;
#endif

// Decodes a flat row index into (b0, b1, head, query) with batch = (B0, B1, heads, Lq).
fn decode(r: u32) -> vec4<u32> {
  let i = r % params.dims.w;
  var rest = r / params.dims.w;
  let h = rest % params.dims.z;
  rest = rest / params.dims.z;
  return vec4<u32>(rest / params.dims.y, rest % params.dims.y, h, i);
}

#if VARIANT == rows
@compute @workgroup_size({{WG}})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  // Thread t takes rows i0 .. i0 + RQ - 1 of head-batch t / qblocks.
  let t = flat_index(gid, groups);
  let lq = params.dims.w;
  let qblocks = (lq + RQ - 1u) / RQ;
  if (t >= qblocks * (params.rows / lq)) {
    return;
  }
  let id = decode((t / qblocks) * lq);
  let i0 = (t % qblocks) * RQ;
  let qbase = base_of(params.q_strides, params.offsets[0].x, id.x, id.y, id.z);
  #for $r < RQ unroll
    load_query(qbase + min(i0 + $r, lq - 1u) * params.q_strides.z, $r);
  #endfor
  reset_state();
  for (var src = 0u; src < NSRC; src++) {
    let kbase = base_of(k_strides(src), k_offset(src), id.x, id.y, id.z);
    let vbase = base_of(v_strides(src), v_offset(src), id.x, id.y, id.z);
    let blocks = (src_len(src) + 3u) / 4u;
    for (var blk = 0u; blk < blocks; blk++) { stream_block(src, kbase, vbase, blk); }
  }
  let obase = base_of(params.o_strides, params.offsets[0].w, id.x, id.y, id.z);
  #for $r < RQ unroll
    if (i0 + $r < lq) {
      store_row(obase + (i0 + $r) * params.o_strides.z, $r);
    }
  #endfor
}
#endif

#if VARIANT == subgroup
// The cross-subgroup merge. Each subgroup claims a slot with an atomic counter (WGSL does not promise how
// invocations map to subgroups, nor their width: Intel runs 8, 16 or 32 wide whatever it reports, Metal 32 wide
// while reporting 4) and leaves its merged (m, l, acc) there; then every lane folds the slots into the output
// chunks it owns (lane, lane + WG, ...). SG_SLOTS holds WG / 4 subgroups (WebGPU subgroups are at least 4 wide)
// within 8 KiB; more subgroups than slots (partial subgroups) merge in further rounds.
const SG_SLOTS: u32 = max(1u, min({{WG}}u / 4u, 8192u / (DV * 16u)));
const OWN: u32 = (DV + {{WG}}u - 1u) / {{WG}}u;
var<workgroup> sg_count: atomic<u32>;
var<workgroup> sg_m: array<f32, SG_SLOTS>;
var<workgroup> sg_l: array<f32, SG_SLOTS>;
var<workgroup> sg_acc: array<vec4<f32>, SG_SLOTS * DV>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) lane: u32) {
  // One row per workgroup: the test is uniform across the workgroup, so the subgroup ops and barriers below
  // stay in uniform control flow.
  let r = wid.x + wid.y * groups.x;
  if (r >= params.rows) {
    return;
  }
  let id = decode(r);
  load_query(base_of(params.q_strides, params.offsets[0].x, id.x, id.y, id.z) + id.w * params.q_strides.z, 0u);
  reset_state();
  for (var src = 0u; src < NSRC; src++) {
    let kbase = base_of(k_strides(src), k_offset(src), id.x, id.y, id.z);
    let vbase = base_of(v_strides(src), v_offset(src), id.x, id.y, id.z);
    let blocks = (src_len(src) + 3u) / 4u;
    // Lane `lane` takes blocks lane, lane + WG, ...; the trip count is the same for every lane.
    let rounds = (blocks + {{WG}}u - 1u) / {{WG}}u;
    for (var it = 0u; it < rounds; it++) {
      let blk = it * {{WG}}u + lane;
      if (blk < blocks) {
        stream_block(src, kbase, vbase, blk);
      }
    }
  }
  // Within the subgroup: rescale each lane's (m, l, acc) to the subgroup's max and sum them. A lane without
  // keys has m = MASKED and l = acc = 0, and adds nothing.
  let msub = subgroupMax(m[0]);
  let f = exp(m[0] - msub);
  let lsub = subgroupAdd(l[0] * f);
  #for $c < DV unroll UNROLL_DV
    acc[$c] = subgroupAdd(acc[$c] * f);
  #endfor
  // The subgroup's active lanes and this lane's rank among them (rather than subgroup_size and
  // subgroup_invocation_id, which a partial subgroup does not fill); rank 0 claims the slot.
  let sub_n = subgroupAdd(1u);
  let sub_rank = subgroupExclusiveAdd(1u);
  var claimed = 0u;
  if (sub_rank == 0u) {
    claimed = atomicAdd(&sg_count, 1u);
  }
  let slot = subgroupBroadcastFirst(claimed);
  let count = workgroupUniformLoad(&sg_count);

  // Across subgroups, SG_SLOTS at a time: a running (mo, lo) and this lane's output chunks `ob`.
  var mo = MASKED;
  var lo = 0.0;
  var ob: array<vec4<f32>, OWN>;
  for (var first = 0u; first < count; first += SG_SLOTS) {
    if (slot >= first && slot < first + SG_SLOTS) {
      let s = slot - first;
      if (sub_rank == 0u) {
        sg_m[s] = msub;
        sg_l[s] = lsub;
      }
      #for $c < DV unroll UNROLL_DV
        if ($c % sub_n == sub_rank) {
          sg_acc[s * DV + $c] = acc[$c];
        }
      #endfor
    }
    workgroupBarrier();
    let n = min(SG_SLOTS, count - first);
    var mb = mo;
    for (var s = 0u; s < n; s++) { mb = max(mb, sg_m[s]); }
    let corr = exp(mo - mb);
    lo = lo * corr;
    for (var s = 0u; s < n; s++) { lo += sg_l[s] * exp(sg_m[s] - mb); }
    for (var k = 0u; k < OWN; k++) {
      let c = lane + k * {{WG}}u;
      if (c < DV) {
        var a = ob[k] * corr;
        for (var s = 0u; s < n; s++) { a += sg_acc[s * DV + c] * exp(sg_m[s] - mb); }
        ob[k] = a;
      }
    }
    mo = mb;
    // The slots are read before the next round overwrites them.
    workgroupBarrier();
  }
  let obase = base_of(params.o_strides, params.offsets[0].w, id.x, id.y, id.z) + id.w * params.o_strides.z;
  let inv = 1.0 / lo;
  for (var k = 0u; k < OWN; k++) {
    let c = lane + k * {{WG}}u;
    if (c < DV) {
      store_chunk(obase, c, ob[k] * inv);
    }
  }
}
#endif

#if VARIANT == tiled
const BK: u32 = {{BK}}u;
var<workgroup> kt: array<vec4<f32>, {{BK}} * {{DV}}>;
var<workgroup> vt: array<vec4<f32>, {{BK}} * {{DV}}>;

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) t: u32) {
  // Workgroup g covers rows WG*(g % rowBlocks) .. of head-batch g / rowBlocks; the early return is uniform
  // across the workgroup.
  let g = wid.x + wid.y * groups.x;
  let row_blocks = (params.dims.w + {{WG}}u - 1u) / {{WG}}u;
  if (g >= row_blocks * params.rows / params.dims.w) {
    return;
  }
  let i = (g % row_blocks) * {{WG}}u + t;
  let bh = g / row_blocks;
  let id = decode(bh * params.dims.w);
  let live = i < params.dims.w;
  load_query(base_of(params.q_strides, params.offsets[0].x, id.x, id.y, id.z) + min(i, params.dims.w - 1u) * params.q_strides.z, 0u);
  reset_state();
  for (var src = 0u; src < NSRC; src++) {
    let len = src_len(src);
    let ks = k_strides(src);
    let vs = v_strides(src);
    let kbase = base_of(ks, k_offset(src), id.x, id.y, id.z);
    let vbase = base_of(vs, v_offset(src), id.x, id.y, id.z);
    for (var j0 = 0u; j0 < len; j0 += BK) {
      workgroupBarrier();
      for (var e = t; e < BK * DV; e += {{WG}}u) {
        let j = j0 + e / DV;
        let c = e % DV;
        var kv = vec4<f32>(0.0);
        var vv = vec4<f32>(0.0);
        if (j < len) {
          kv = ld_k(src, kbase + j * ks.z, c);
          vv = ld_v(src, vbase + j * vs.z, c);
        }
        kt[e] = kv;
        vt[e] = vv;
      }
      workgroupBarrier();
      // Every thread folds the tile (inactive rows too: it keeps the control flow uniform and costs nothing
      // extra, since the workgroup waits for the slowest thread anyway).
      let n = min(BK, len - j0);
      for (var jj = 0u; jj < n; jj += 4u) {
        var s = vec4<f32>(0.0);
        #for $c < DV unroll UNROLL_DV
          let qc = qv[$c];
          s += vec4<f32>(dot(qc, kt[jj * DV + $c]), dot(qc, kt[(jj + 1u) * DV + $c]),
                         dot(qc, kt[(jj + 2u) * DV + $c]), dot(qc, kt[(jj + 3u) * DV + $c]));
        #endfor
        s = select(vec4<f32>(MASKED), s, vec4<u32>(jj, jj + 1u, jj + 2u, jj + 3u) < vec4<u32>(n));
        let p = online_block(s, 0u);
        #for $c < DV unroll UNROLL_DV
          acc[$c] += p.x * vt[jj * DV + $c] + p.y * vt[(jj + 1u) * DV + $c] + p.z * vt[(jj + 2u) * DV + $c] + p.w * vt[(jj + 3u) * DV + $c];
        #endfor
      }
    }
  }
  if (live) {
    store_row(base_of(params.o_strides, params.offsets[0].w, id.x, id.y, id.z) + i * params.o_strides.z, 0u);
  }
}
#endif
