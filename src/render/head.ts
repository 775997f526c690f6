/**
 * A 3-D preview of FLAP coefficients: the head-world asset that flap-mini was trained on
 * (`models/flap-mini/head_asset.safetensors`, written by weights-tools/world/export_asset.py) posed and drawn
 * with a WebGPU render pipeline, the same way weights-tools/world/render.py draws the training frames.
 *
 * It also draws flap-mini's geometry guides (config `unet.guide`, weights-tools/flap_ref/guide.py): the asset
 * in part-label colours over black, one image per frame, straight into a runtime tensor (`renderGuides`).
 * Its buffers and textures are the runtime's (`FlapDevice.createBuffer`), so they count in `device.stats`.
 *
 * @example
 * const head = await HeadRenderer.load(device, assetBytes);
 * head.render(coefficients.subarray(25 * 120, 26 * 120), canvasContext.getCurrentTexture());
 */
import poseSource from '../../shaders/render/head_pose.wgsl?raw';
import normalsSource from '../../shaders/render/head_normals.wgsl?raw';
import drawSource from '../../shaders/render/head_draw.wgsl?raw';
import { InputError } from '../errors';
import type { GuideConfig } from '../models/config';
import { guidePack } from '../ops/render/guide_pack';
import type { FlapDevice } from '../runtime/device';
import type { Tensor } from '../runtime/tensor';
import { BufferUsage, MapMode, ShaderStage, TextureUsage } from '../runtime/gpu_constants';
import { readSafetensors, toFloat32, typedView, type RawTensor } from '../weights/safetensors';

const N_COEFFS = 120;
const SAMPLES = 4;
/** The pose uniform (head_pose.wgsl `Pose`) and its stride when one buffer holds a slot per frame. */
const POSE_BYTES = 4 * 16 * 4 + 26 * 16 + 16;
const POSE_STRIDE = 768;
/** Guides are drawn in half floats: renderable, and exact enough for values in [0, 1]. */
const GUIDE_FORMAT: GPUTextureFormat = 'rgba16float';
/** The format the preview draws in when it renders to its own texture (tests, `renderPixels`). */
export const PREVIEW_FORMAT: GPUTextureFormat = 'rgba8unorm';

interface Camera {
  cam_y: number;
  cam_d: number;
  focal_128: number;
  ambient: number;
  diffuse: number;
}

/** Rodrigues: axis-angle (radians) → row-major 3×3. */
export function axisAngleMatrix(x: number, y: number, z: number): number[] {
  const angle = Math.max(Math.hypot(x, y, z), 1e-12);
  const [kx, ky, kz] = [x / angle, y / angle, z / angle];
  const s = Math.sin(angle), c = 1 - Math.cos(angle);
  // I + s K + (1 − cos) K², K the cross-product matrix of the unit axis.
  return [
    1 + c * (-kz * kz - ky * ky), -s * kz + c * kx * ky, s * ky + c * kx * kz,
    s * kz + c * kx * ky, 1 + c * (-kz * kz - kx * kx), -s * kx + c * ky * kz,
    -s * ky + c * kx * kz, s * kx + c * ky * kz, 1 + c * (-ky * ky - kx * kx),
  ];
}

/** FLAP's 6-D rotation (first two matrix columns, column by column) → row-major 3×3 by Gram–Schmidt. */
export function sixDMatrix(d: ArrayLike<number>): number[] {
  const a1 = [d[0]!, d[1]!, d[2]!], a2 = [d[3]!, d[4]!, d[5]!];
  const n1 = Math.max(Math.hypot(...a1), 1e-8);
  const b1 = a1.map((v) => v / n1);
  const dot = b1[0]! * a2[0]! + b1[1]! * a2[1]! + b1[2]! * a2[2]!;
  const a2o = a2.map((v, i) => v - dot * b1[i]!);
  const n2 = Math.max(Math.hypot(...a2o), 1e-8);
  const b2 = a2o.map((v) => v / n2);
  const b3 = [b1[1]! * b2[2]! - b1[2]! * b2[1]!, b1[2]! * b2[0]! - b1[0]! * b2[2]!, b1[0]! * b2[1]! - b1[1]! * b2[0]!];
  return [b1[0]!, b2[0]!, b3[0]!, b1[1]!, b2[1]!, b3[1]!, b1[2]!, b2[2]!, b3[2]!];
}

/** A row-major 3×3 as WGSL's column-major mat3x3 (three columns padded to vec4). */
function mat3Columns(m: number[]): number[] {
  return [m[0]!, m[3]!, m[6]!, 0, m[1]!, m[4]!, m[7]!, 0, m[2]!, m[5]!, m[8]!, 0];
}

export class HeadRenderer {
  private readonly poseUniform: GPUBuffer;
  private readonly buffers: GPUBuffer[];
  private readonly targets = new Map<string, { colour: GPUTexture; depth: GPUTexture }>();
  private destroyed = false;

  private constructor(
    readonly device: FlapDevice,
    readonly vertices: number,
    readonly triangles: number,
    private readonly pivots: { jaw: number[]; eyes: [number[], number[]]; neck: number[] },
    private readonly pose: { pipeline: GPUComputePipeline; group: GPUBindGroup; inputs: GPUBuffer[] },
    private readonly normals: { pipeline: GPUComputePipeline; group: GPUBindGroup },
    private readonly draw: { mesh: Map<string, GPURenderPipeline>; background: Map<string, GPURenderPipeline>; group: GPUBindGroup; index: GPUBuffer; module: GPUShaderModule },
    buffers: GPUBuffer[],
    poseUniform: GPUBuffer,
    private readonly region: Uint8Array,
    private readonly drawInputs: { view: Float32Array; layout: GPUBindGroupLayout; posed: GPUBuffer; normals: GPUBuffer },
  ) {
    this.buffers = buffers;
    this.poseUniform = poseUniform;
  }

  /** Reads the asset (safetensors bytes) and uploads the mesh; throws `InputError` if it is not a head asset. */
  static async load(device: FlapDevice, asset: Uint8Array | ArrayBuffer): Promise<HeadRenderer> {
    const { header, tensors } = readSafetensors(asset);
    if (header.metadata.format !== 'flap-head-asset') throw new InputError('asset', `not a flap head asset (format ${header.metadata.format ?? 'missing'})`);
    const get = (name: string): RawTensor => {
      const t = tensors.get(name);
      if (!t) throw new InputError('asset', `head asset lacks ${name}`);
      return t;
    };
    const floats = (name: string) => toFloat32(get(name).dtype, get(name).bytes);
    const template = floats('template');
    const n = template.length / 3;
    const faces = Uint32Array.from(typedView('I32', get('faces').bytes) as Int32Array);
    const triangles = faces.length / 3;
    const exprBasis = floats('expr_basis');
    const eyelidBasis = floats('eyelid_basis');
    if (exprBasis.length !== 100 * n * 3 || eyelidBasis.length !== 2 * n * 3) throw new InputError('asset', 'head asset bases do not match its template');
    const wJaw = floats('w_jaw'), wGlobal = floats('w_global');
    const eyeId = typedView('U8', get('eye_id').bytes) as Uint8Array;
    const skin = new Float32Array(4 * n);
    for (let i = 0; i < n; i++) skin.set([wJaw[i]!, wGlobal[i]!, eyeId[i]!, 0], 4 * i);
    const joints = floats('joints'); // neck, jaw, eye left, eye right
    const pivots = {
      neck: [...joints.subarray(0, 3)],
      jaw: [...joints.subarray(3, 6)],
      eyes: [[...joints.subarray(6, 9)], [...joints.subarray(9, 12)]] as [number[], number[]],
    };
    // Triangles around each vertex (CSR), for the normals pass.
    const ringStart = new Uint32Array(n + 1);
    for (const v of faces) ringStart[v + 1]!++;
    for (let i = 0; i < n; i++) ringStart[i + 1]! += ringStart[i]!;
    const ring = new Uint32Array(faces.length);
    const fill = ringStart.slice(0, n);
    faces.forEach((v, i) => {
      ring[fill[v]!++] = Math.floor(i / 3);
    });

    const gpu = device.gpu;
    const storage = (data: Float32Array | Uint32Array, label: string, usage: number = BufferUsage.STORAGE) => {
      const b = device.createBuffer({ label: `head:${label}`, size: Math.max(16, Math.ceil(data.byteLength / 16) * 16), usage: usage | BufferUsage.COPY_DST });
      gpu.queue.writeBuffer(b, 0, data.buffer, data.byteOffset, data.byteLength);
      return b;
    };
    const camera = JSON.parse(header.metadata.camera ?? 'null') as Camera | null;
    if (!camera) throw new InputError('asset', 'head asset lacks its camera');
    const posed = device.createBuffer({ label: 'head:posed', size: 16 * n, usage: BufferUsage.STORAGE });
    const normals = device.createBuffer({ label: 'head:normals', size: 16 * n, usage: BufferUsage.STORAGE });
    const buffers = [
      storage(template, 'template'), storage(exprBasis, 'expr_basis'), storage(eyelidBasis, 'eyelid_basis'), storage(skin, 'skin'),
      posed, normals, storage(faces, 'faces'), storage(ringStart, 'ring_start'), storage(ring, 'ring'), storage(floats('color'), 'colour'),
      storage(faces, 'index', BufferUsage.INDEX),
    ];
    const [tpl, eb, lb, sk, , , fc, rs, rg, col, index] = buffers as [GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer];
    const poseUniform = device.createBuffer({ label: 'head:pose', size: POSE_BYTES, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST });
    const normalsUniform = storage(new Uint32Array([n, 0, 0, 0]), 'normals-params', BufferUsage.UNIFORM);
    const viewUniform = device.createBuffer({ label: 'head:view', size: 5 * 16, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST });
    buffers.push(poseUniform, normalsUniform, viewUniform);

    const light = floats('light');
    const bg = floats('background');
    const view = new Float32Array([
      light[0]!, light[1]!, light[2]!, 0,
      bg[0]!, bg[1]!, bg[2]!, 1,
      bg[3]!, bg[4]!, bg[5]!, 1,
      (2 * camera.focal_128) / 128, camera.cam_y, camera.cam_d, Number(header.metadata.bg_angle ?? 0),
      camera.ambient, camera.diffuse, 0, 0,
    ]);
    gpu.queue.writeBuffer(viewUniform, 0, view);

    const entries = (list: GPUBuffer[]) => list.map((buffer, binding) => ({ binding, resource: { buffer } }));
    const compute = async (code: string, label: string, bound: GPUBuffer[]) => {
      const pipeline = await gpu.createComputePipelineAsync({ label: `head:${label}`, layout: 'auto', compute: { module: gpu.createShaderModule({ code }), entryPoint: 'main' } });
      return { pipeline, group: gpu.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: entries(bound) }) };
    };
    const pose = { ...(await compute(poseSource, 'pose', [poseUniform, tpl, eb, lb, sk, posed])), inputs: [tpl, eb, lb, sk, posed] };
    const normalsPass = await compute(normalsSource, 'normals', [normalsUniform, posed, fc, rs, rg, normals]);
    const module = gpu.createShaderModule({ code: drawSource });
    const layout = gpu.createBindGroupLayout({
      entries: [
        { binding: 0, visibility: ShaderStage.VERTEX | ShaderStage.FRAGMENT, buffer: { type: 'uniform' } },
        ...[1, 2, 3].map((binding) => ({ binding, visibility: ShaderStage.VERTEX, buffer: { type: 'read-only-storage' as const } })),
      ],
    });
    const group = gpu.createBindGroup({ layout, entries: entries([viewUniform, posed, normals, col]) });
    const renderer = new HeadRenderer(device, n, triangles, pivots, pose, normalsPass,
      { mesh: new Map(), background: new Map(), group, index, module }, buffers, poseUniform,
      typedView('U8', get('region').bytes) as Uint8Array, { view, layout, posed, normals });
    renderer.drawLayout = gpu.createPipelineLayout({ bindGroupLayouts: [layout] });
    await renderer.pipelines(PREVIEW_FORMAT);
    return renderer;
  }

  private drawLayout!: GPUPipelineLayout;

  private async pipelines(format: GPUTextureFormat, samples = SAMPLES): Promise<{ mesh: GPURenderPipeline; background: GPURenderPipeline }> {
    const { mesh, background, module } = this.draw;
    const key = samples === SAMPLES ? format : `${format}:${samples}`; // render() looks pipelines up by format
    if (!mesh.has(key)) {
      const gpu = this.device.gpu;
      const common = { layout: this.drawLayout, multisample: { count: samples } };
      const depth = (write: boolean): GPUDepthStencilState => ({ format: 'depth24plus', depthWriteEnabled: write, depthCompare: write ? 'less' : 'always' });
      mesh.set(key, await gpu.createRenderPipelineAsync({
        ...common,
        label: 'head:mesh',
        vertex: { module, entryPoint: 'mesh_vs' },
        fragment: { module, entryPoint: 'mesh_fs', targets: [{ format }] },
        // render.py keeps triangles that are counter-clockwise as seen by the camera.
        primitive: { topology: 'triangle-list', frontFace: 'ccw', cullMode: 'back' },
        depthStencil: depth(true),
      }));
      background.set(key, await gpu.createRenderPipelineAsync({
        ...common,
        label: 'head:background',
        vertex: { module, entryPoint: 'background_vs' },
        fragment: { module, entryPoint: 'background_fs', targets: [{ format }] },
        depthStencil: depth(false),
      }));
    }
    return { mesh: mesh.get(key)!, background: background.get(key)! };
  }

  /** Prepares drawing into textures of `format` (a canvas's preferred format, say); `render` needs it first. */
  async prepare(format: GPUTextureFormat): Promise<void> {
    await this.pipelines(format);
  }

  /** Checks one frame of coefficients: 120 finite numbers. */
  private static checkFrame(coeffs: ArrayLike<number>): void {
    if (coeffs.length !== N_COEFFS) throw new InputError('coefficients', `a frame has ${N_COEFFS} coefficients, got ${coeffs.length}`);
    for (let i = 0; i < N_COEFFS; i++) if (!Number.isFinite(coeffs[i]!)) throw new InputError(`coefficients[${i}]`, `must be finite (got ${coeffs[i]})`);
  }

  /** Draws one frame of coefficients (FLAP order, 120 values) into `target` (a canvas texture or any 2-D texture). */
  render(coeffs: ArrayLike<number>, target: GPUTexture): void {
    if (this.destroyed) throw new InputError('HeadRenderer', 'used after destroy()');
    HeadRenderer.checkFrame(coeffs);
    const mesh = this.draw.mesh.get(target.format), background = this.draw.background.get(target.format);
    if (!mesh || !background) throw new InputError('target', `call prepare('${target.format}') before rendering to that format`);
    const gpu = this.device.gpu;
    gpu.queue.writeBuffer(this.poseUniform, 0, this.poseUniformData(coeffs));

    const { colour, depth } = this.target(target.width, target.height, target.format);
    const enc = gpu.createCommandEncoder({ label: 'head:frame' });
    this.encodePose(enc, this.pose.group);
    const draw = enc.beginRenderPass({
      colorAttachments: [{ view: colour.createView(), resolveTarget: target.createView(), loadOp: 'clear', storeOp: 'discard', clearValue: { r: 0, g: 0, b: 0, a: 1 } }],
      depthStencilAttachment: { view: depth.createView(), depthLoadOp: 'clear', depthClearValue: 1, depthStoreOp: 'discard' },
    });
    draw.setBindGroup(0, this.draw.group);
    draw.setPipeline(background);
    draw.draw(3);
    draw.setPipeline(mesh);
    draw.setIndexBuffer(this.draw.index, 'uint32');
    draw.drawIndexed(this.triangles * 3);
    draw.end();
    // The runtime's own queued work goes first, so a preview never overtakes the frames it shows.
    this.device.flush();
    gpu.queue.submit([enc.finish()]);
  }

  /** Poses the mesh and recomputes its normals (one compute pass); `poseGroup` binds the frame's uniform. */
  private encodePose(enc: GPUCommandEncoder, poseGroup: GPUBindGroup): void {
    const pass = enc.beginComputePass({ label: 'head:pose' });
    const groups = Math.ceil(this.vertices / 64);
    pass.setPipeline(this.pose.pipeline);
    pass.setBindGroup(0, poseGroup);
    pass.dispatchWorkgroups(groups);
    pass.setPipeline(this.normals.pipeline);
    pass.setBindGroup(0, this.normals.group);
    pass.dispatchWorkgroups(groups);
    pass.end();
  }

  /** The `Pose` uniform of head_pose.wgsl for one frame: rotations as matrices, pivots, blend weights. */
  private poseUniformData(coeffs: ArrayLike<number>): Float32Array {
    const c = Array.from({ length: N_COEFFS }, (_, i) => coeffs[i]!);
    const pivot = (p: number[]) => [p[0]!, p[1]!, p[2]!, 1];
    const uniform = new Float32Array(POSE_BYTES / 4);
    uniform.set([
      ...mat3Columns(axisAngleMatrix(c[15]!, c[16]!, c[17]!)),
      ...mat3Columns(sixDMatrix(c.slice(3, 9))),
      ...mat3Columns(sixDMatrix(c.slice(9, 15))),
      ...mat3Columns(axisAngleMatrix(c[0]!, c[1]!, c[2]!)),
      ...pivot(this.pivots.jaw), ...pivot(this.pivots.eyes[0]), ...pivot(this.pivots.eyes[1]), ...pivot(this.pivots.neck),
    ]);
    uniform.set(c.slice(20, 120), 64); // expression, then the eyelids
    uniform.set(c.slice(18, 20), 64 + 100);
    new Uint32Array(uniform.buffer).set([this.vertices], 64 + 104);
    return uniform;
  }

  /**
   * Prepares `renderGuides` for a guide config: the part-label colours of the asset's vertices, a black
   * background and the single-sample half-float pipeline. Throws `InputError` if the palette lacks a region.
   */
  async prepareGuides(guide: GuideConfig): Promise<void> {
    const key = JSON.stringify(guide);
    if (this.guide?.key === key) return;
    const maxRegion = this.region.reduce((a, b) => Math.max(a, b), 0);
    if (guide.palette.length <= maxRegion) throw new InputError('guide.palette', `has ${guide.palette.length} colours; the head asset has region ${maxRegion}`);
    this.releaseGuide();
    const device = this.device;
    const colour = new Float32Array(3 * this.vertices);
    this.region.forEach((r, i) => colour.set(guide.palette[r]!, 3 * i));
    const buffer = (data: Float32Array, label: string, usage: number) => {
      const b = device.createBuffer({ label: `head:${label}`, size: Math.ceil(data.byteLength / 16) * 16, usage: usage | BufferUsage.COPY_DST });
      device.gpu.queue.writeBuffer(b, 0, data);
      return b;
    };
    const colours = buffer(colour, 'guide-colour', BufferUsage.STORAGE);
    const { posed, normals, layout } = this.drawInputs;
    const view = this.drawInputs.view.slice();
    view.fill(0, 4, 12); // both background colours black (the pass clears to black and draws no background)
    const viewUniform = buffer(view, 'guide-view', BufferUsage.UNIFORM);
    const group = device.gpu.createBindGroup({
      layout,
      entries: [viewUniform, posed, normals, colours].map((b, binding) => ({ binding, resource: { buffer: b } })),
    });
    const { mesh } = await this.pipelines(GUIDE_FORMAT, 1);
    this.poseSlots(32); // a clip's frames (grown on demand), allocated now rather than during a generation
    const side = guide.size * guide.supersample;
    const texels = side * side;
    this.guide = {
      key,
      side,
      mesh,
      group,
      buffers: [colours, viewUniform],
      colour: device.createTexture({ label: 'head:guide', size: [side, side], format: GUIDE_FORMAT, usage: TextureUsage.RENDER_ATTACHMENT | TextureUsage.COPY_SRC }, 8 * texels),
      depth: device.createTexture({ label: 'head:guide-depth', size: [side, side], format: 'depth24plus', usage: TextureUsage.RENDER_ATTACHMENT }, 4 * texels),
    };
  }

  /**
   * The geometry guide of every frame of `coeffs` ([frames·120], FLAP order) as a new tensor
   * [frames, size, size, 3] in [0, 1]: posed, drawn at size · supersample and box-filtered on the GPU, recorded
   * on the runtime's command stream with the kernels around it (nothing is read back). Needs
   * `prepareGuides(guide)` first.
   */
  renderGuides(coeffs: Float32Array, guide: GuideConfig): Tensor {
    if (this.destroyed) throw new InputError('HeadRenderer', 'used after destroy()');
    const g = this.guide;
    if (!g || g.key !== JSON.stringify(guide)) throw new InputError('guide', 'call prepareGuides(guide) before renderGuides');
    const frames = coeffs.length / N_COEFFS;
    if (!Number.isInteger(frames) || frames < 1) throw new InputError('coefficients', `expected whole frames of ${N_COEFFS} (got ${coeffs.length} values)`);
    for (let f = 0; f < frames; f++) HeadRenderer.checkFrame(coeffs.subarray(f * N_COEFFS, (f + 1) * N_COEFFS));
    const device = this.device;
    // The slots are written now, on the queue; work recorded earlier that reads them must be submitted first.
    device.flush();
    const slots = this.poseSlots(frames);
    const data = new Float32Array((frames * POSE_STRIDE) / 4);
    for (let f = 0; f < frames; f++) data.set(this.poseUniformData(coeffs.subarray(f * N_COEFFS, (f + 1) * N_COEFFS)), (f * POSE_STRIDE) / 4);
    device.gpu.queue.writeBuffer(slots.buffer, 0, data);

    const rowBytes = Math.ceil((g.side * 8) / 256) * 256;
    const texels = device.tensor([(frames * g.side * rowBytes) / 4], 'f32'); // raw rgba16float rows
    device.encode('head:guides', (enc) => {
      for (let f = 0; f < frames; f++) {
        this.encodePose(enc, slots.groups[f]!);
        const draw = enc.beginRenderPass({
          label: 'head:guide-draw',
          colorAttachments: [{ view: g.colour.createView(), loadOp: 'clear', storeOp: 'store', clearValue: { r: 0, g: 0, b: 0, a: 0 } }],
          depthStencilAttachment: { view: g.depth.createView(), depthLoadOp: 'clear', depthClearValue: 1, depthStoreOp: 'discard' },
        });
        draw.setBindGroup(0, g.group);
        draw.setPipeline(g.mesh);
        draw.setIndexBuffer(this.draw.index, 'uint32');
        draw.drawIndexed(this.triangles * 3);
        draw.end();
        enc.copyTextureToBuffer({ texture: g.colour }, { buffer: texels.buffer, offset: texels.byteOffset + f * rowBytes * g.side, bytesPerRow: rowBytes }, [g.side, g.side]);
      }
    }, { dispatches: 2 * frames, renderPasses: frames });
    const out = guidePack(texels, frames, guide.size, guide.supersample, rowBytes / 4);
    texels.release();
    return out;
  }

  private guide?: { key: string; side: number; mesh: GPURenderPipeline; group: GPUBindGroup; buffers: GPUBuffer[]; colour: GPUTexture; depth: GPUTexture };
  private slots?: { buffer: GPUBuffer; groups: GPUBindGroup[] };

  /** One pose-uniform slot per frame (grown as needed), each with its bind group for the pose pass. */
  private poseSlots(frames: number): { buffer: GPUBuffer; groups: GPUBindGroup[] } {
    if (!this.slots || this.slots.groups.length < frames) {
      if (this.slots) this.device.destroyResource(this.slots.buffer);
      const count = Math.max(frames, 2 * (this.slots?.groups.length ?? 0));
      const buffer = this.device.createBuffer({ label: 'head:pose-slots', size: count * POSE_STRIDE, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST });
      const layout = this.pose.pipeline.getBindGroupLayout(0);
      const groups = Array.from({ length: count }, (_, f) => this.device.gpu.createBindGroup({
        layout,
        entries: [{ binding: 0, resource: { buffer, offset: f * POSE_STRIDE, size: POSE_BYTES } }, ...this.pose.inputs.map((b, i) => ({ binding: i + 1, resource: { buffer: b } }))],
      }));
      this.slots = { buffer, groups };
    }
    return this.slots;
  }

  private releaseGuide(): void {
    if (!this.guide) return;
    for (const r of [...this.guide.buffers, this.guide.colour, this.guide.depth]) this.device.destroyResource(r);
    this.guide = undefined;
  }

  /** Renders one frame at `size`×`size` and reads it back as RGBA bytes (tests, thumbnails). */
  async renderPixels(coeffs: ArrayLike<number>, size: number): Promise<Uint8Array> {
    const gpu = this.device.gpu;
    const texture = gpu.createTexture({ size: [size, size], format: PREVIEW_FORMAT, usage: TextureUsage.RENDER_ATTACHMENT | TextureUsage.COPY_SRC });
    const row = Math.ceil((size * 4) / 256) * 256;
    const staging = gpu.createBuffer({ size: row * size, usage: BufferUsage.COPY_DST | BufferUsage.MAP_READ });
    try {
      this.render(coeffs, texture);
      const enc = gpu.createCommandEncoder();
      enc.copyTextureToBuffer({ texture }, { buffer: staging, bytesPerRow: row }, [size, size]);
      gpu.queue.submit([enc.finish()]);
      await staging.mapAsync(MapMode.READ);
      const padded = new Uint8Array(staging.getMappedRange());
      const out = new Uint8Array(size * size * 4);
      for (let y = 0; y < size; y++) out.set(padded.subarray(y * row, y * row + size * 4), y * size * 4);
      staging.unmap();
      return out;
    } finally {
      staging.destroy();
      texture.destroy();
    }
  }

  private target(width: number, height: number, format: GPUTextureFormat): { colour: GPUTexture; depth: GPUTexture } {
    const key = `${width}x${height}:${format}`;
    let t = this.targets.get(key);
    if (!t) {
      const usage = TextureUsage.RENDER_ATTACHMENT;
      const texels = width * height * SAMPLES;
      t = {
        colour: this.device.createTexture({ size: [width, height], format, sampleCount: SAMPLES, usage }, 4 * texels),
        depth: this.device.createTexture({ size: [width, height], format: 'depth24plus', sampleCount: SAMPLES, usage }, 4 * texels),
      };
      this.targets.set(key, t);
    }
    return t;
  }

  /** Frees the GPU buffers and textures (the device stays). */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.releaseGuide();
    if (this.slots) this.device.destroyResource(this.slots.buffer);
    this.slots = undefined;
    for (const b of this.buffers) this.device.destroyResource(b);
    for (const t of this.targets.values()) {
      this.device.destroyResource(t.colour);
      this.device.destroyResource(t.depth);
    }
    this.targets.clear();
  }
}
