/**
 * A 3-D preview of FLAP coefficients: the head-world asset that flap-mini was trained on
 * (`models/flap-mini/head_asset.safetensors`, written by weights-tools/world/export_asset.py) posed and drawn
 * with a WebGPU render pipeline, the same way weights-tools/world/render.py draws the training frames.
 *
 * @example
 * const head = await HeadRenderer.load(device, assetBytes);
 * head.render(coefficients.subarray(25 * 120, 26 * 120), canvasContext.getCurrentTexture());
 */
import poseSource from '../../shaders/render/head_pose.wgsl?raw';
import normalsSource from '../../shaders/render/head_normals.wgsl?raw';
import drawSource from '../../shaders/render/head_draw.wgsl?raw';
import { InputError } from '../errors';
import type { FlapDevice } from '../runtime/device';
import { BufferUsage, MapMode, ShaderStage, TextureUsage } from '../runtime/gpu_constants';
import { readSafetensors, toFloat32, typedView, type RawTensor } from '../weights/safetensors';

const N_COEFFS = 120;
const SAMPLES = 4;
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
    private readonly pose: { pipeline: GPUComputePipeline; group: GPUBindGroup },
    private readonly normals: { pipeline: GPUComputePipeline; group: GPUBindGroup },
    private readonly draw: { mesh: Map<GPUTextureFormat, GPURenderPipeline>; background: Map<GPUTextureFormat, GPURenderPipeline>; group: GPUBindGroup; index: GPUBuffer; module: GPUShaderModule },
    buffers: GPUBuffer[],
    poseUniform: GPUBuffer,
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
      const b = gpu.createBuffer({ label: `head:${label}`, size: Math.max(16, Math.ceil(data.byteLength / 16) * 16), usage: usage | BufferUsage.COPY_DST });
      gpu.queue.writeBuffer(b, 0, data.buffer, data.byteOffset, data.byteLength);
      return b;
    };
    const camera = JSON.parse(header.metadata.camera ?? 'null') as Camera | null;
    if (!camera) throw new InputError('asset', 'head asset lacks its camera');
    const posed = gpu.createBuffer({ label: 'head:posed', size: 16 * n, usage: BufferUsage.STORAGE });
    const normals = gpu.createBuffer({ label: 'head:normals', size: 16 * n, usage: BufferUsage.STORAGE });
    const buffers = [
      storage(template, 'template'), storage(exprBasis, 'expr_basis'), storage(eyelidBasis, 'eyelid_basis'), storage(skin, 'skin'),
      posed, normals, storage(faces, 'faces'), storage(ringStart, 'ring_start'), storage(ring, 'ring'), storage(floats('color'), 'colour'),
      storage(faces, 'index', BufferUsage.INDEX),
    ];
    const [tpl, eb, lb, sk, , , fc, rs, rg, col, index] = buffers as [GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer, GPUBuffer];
    const poseUniform = gpu.createBuffer({ label: 'head:pose', size: 4 * 16 * 4 + 26 * 16 + 16, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST });
    const normalsUniform = storage(new Uint32Array([n, 0, 0, 0]), 'normals-params', BufferUsage.UNIFORM);
    const viewUniform = gpu.createBuffer({ label: 'head:view', size: 5 * 16, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST });
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
    const pose = await compute(poseSource, 'pose', [poseUniform, tpl, eb, lb, sk, posed]);
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
      { mesh: new Map(), background: new Map(), group, index, module }, buffers, poseUniform);
    renderer.drawLayout = gpu.createPipelineLayout({ bindGroupLayouts: [layout] });
    await renderer.pipelines(PREVIEW_FORMAT);
    return renderer;
  }

  private drawLayout!: GPUPipelineLayout;

  private async pipelines(format: GPUTextureFormat): Promise<{ mesh: GPURenderPipeline; background: GPURenderPipeline }> {
    const { mesh, background, module } = this.draw;
    if (!mesh.has(format)) {
      const gpu = this.device.gpu;
      const common = { layout: this.drawLayout, multisample: { count: SAMPLES } };
      const depth = (write: boolean): GPUDepthStencilState => ({ format: 'depth24plus', depthWriteEnabled: write, depthCompare: write ? 'less' : 'always' });
      mesh.set(format, await gpu.createRenderPipelineAsync({
        ...common,
        label: 'head:mesh',
        vertex: { module, entryPoint: 'mesh_vs' },
        fragment: { module, entryPoint: 'mesh_fs', targets: [{ format }] },
        // render.py keeps triangles that are counter-clockwise as seen by the camera.
        primitive: { topology: 'triangle-list', frontFace: 'ccw', cullMode: 'back' },
        depthStencil: depth(true),
      }));
      background.set(format, await gpu.createRenderPipelineAsync({
        ...common,
        label: 'head:background',
        vertex: { module, entryPoint: 'background_vs' },
        fragment: { module, entryPoint: 'background_fs', targets: [{ format }] },
        depthStencil: depth(false),
      }));
    }
    return { mesh: mesh.get(format)!, background: background.get(format)! };
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
    const c = Array.from({ length: N_COEFFS }, (_, i) => coeffs[i]!);
    const weights = new Float32Array(26 * 4);
    weights.set(c.slice(20, 120), 0);
    weights.set(c.slice(18, 20), 100);
    const pivot = (p: number[]) => [p[0]!, p[1]!, p[2]!, 1];
    const uniform = new Float32Array(4 * 12 + 4 * 4 + 26 * 4 + 4);
    uniform.set([
      ...mat3Columns(axisAngleMatrix(c[15]!, c[16]!, c[17]!)),
      ...mat3Columns(sixDMatrix(c.slice(3, 9))),
      ...mat3Columns(sixDMatrix(c.slice(9, 15))),
      ...mat3Columns(axisAngleMatrix(c[0]!, c[1]!, c[2]!)),
      ...pivot(this.pivots.jaw), ...pivot(this.pivots.eyes[0]), ...pivot(this.pivots.eyes[1]), ...pivot(this.pivots.neck),
    ]);
    uniform.set(weights, 64);
    new Uint32Array(uniform.buffer).set([this.vertices], 64 + 104);
    const gpu = this.device.gpu;
    gpu.queue.writeBuffer(this.poseUniform, 0, uniform);

    const { colour, depth } = this.target(target.width, target.height, target.format);
    const enc = gpu.createCommandEncoder({ label: 'head:frame' });
    const pass = enc.beginComputePass();
    const groups = Math.ceil(this.vertices / 64);
    pass.setPipeline(this.pose.pipeline);
    pass.setBindGroup(0, this.pose.group);
    pass.dispatchWorkgroups(groups);
    pass.setPipeline(this.normals.pipeline);
    pass.setBindGroup(0, this.normals.group);
    pass.dispatchWorkgroups(groups);
    pass.end();
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
      const gpu = this.device.gpu;
      const usage = TextureUsage.RENDER_ATTACHMENT;
      t = {
        colour: gpu.createTexture({ size: [width, height], format, sampleCount: SAMPLES, usage }),
        depth: gpu.createTexture({ size: [width, height], format: 'depth24plus', sampleCount: SAMPLES, usage }),
      };
      this.targets.set(key, t);
    }
    return t;
  }

  /** Frees the GPU buffers and textures (the device stays). */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const b of this.buffers) b.destroy();
    for (const t of this.targets.values()) {
      t.colour.destroy();
      t.depth.destroy();
    }
    this.targets.clear();
  }
}
