/** Live counters of one device, read by tests and benchmarks. All sizes in bytes. */
export interface RuntimeStats {
  /** Bytes of pooled buffers currently handed out (live tensors and their storage). */
  bytesInUse: number;
  /** Highest `bytesInUse` since creation or the last `resetPeak()`. */
  peakBytesInUse: number;
  /** Bytes of all GPU buffers the pool holds, in use or free. */
  bytesAllocated: number;
  /** GPU buffers created (pool misses). */
  buffersCreated: number;
  /** Size of the largest GPU buffer ever created. */
  largestBufferBytes: number;
  /** Compute dispatches, the runtime's kernels and those recorded through `FlapDevice.encode`. */
  dispatches: number;
  /** Render passes recorded through `FlapDevice.encode` (the head renderer's guides). */
  renderPasses: number;
  submits: number;
  readbacks: number;
  pipelinesCompiled: number;
  /** Bind groups created; a dispatch whose buffers were bound before reuses that group. */
  bindGroupsCreated: number;
  /** Milliseconds the CPU spent recording the runtime's dispatches (`run`), apart from the GPU's time. */
  encodeMs: number;
}

export function emptyStats(): RuntimeStats {
  return {
    bytesInUse: 0,
    peakBytesInUse: 0,
    bytesAllocated: 0,
    buffersCreated: 0,
    largestBufferBytes: 0,
    dispatches: 0,
    renderPasses: 0,
    submits: 0,
    readbacks: 0,
    pipelinesCompiled: 0,
    bindGroupsCreated: 0,
    encodeMs: 0,
  };
}
