/**
 * A 3-D preview of FLAP coefficients: the head-world asset that flap-mini was trained on
 * (`models/flap-mini/head_asset.safetensors`, written by weights-tools/world/export_asset.py) posed and drawn
 * with a WebGPU render pipeline, the same way weights-tools/world/render.py draws the training frames.
 *
 * It also draws flap-mini's geometry guides (config `unet.guide`, weights-tools/flap_ref/guide.py): the asset
 * in part-label colours over black, one image per frame, straight into a runtime tensor (`renderGuides`).
 * It runs on the runtime: the mesh lives in tensors, posing and normals are kernels (shaders/render/head_pose.wgsl,
 * head_normals.wgsl) and the draw passes are recorded with `FlapDevice.encode`, so every buffer, texture and
 * pass counts in `device.stats`.
 *
 * @example
 * const head = await HeadRenderer.load(device, assetBytes);
 * head.render(coefficients.subarray(25 * 120, 26 * 120), canvasContext.getCurrentTexture());
 */
import drawSource from '../../shaders/render/head_draw.wgsl?raw';
import { COEFFS, Slices } from '../controls/layout';
import { InputError } from '../errors';
import type { GuideConfig } from '../models/config';
import { headNormals, headNormalsKernel, selectVariant as normalsVariant, triangleRings } from '../ops/render/head_normals';
import { headPose, headPoseKernel, selectVariant as poseVariant, type HeadPose, type PoseMesh } from '../ops/render/head_pose';
import { guidePack } from '../ops/render/guide_pack';
import type { FlapDevice } from '../runtime/device';
import type { Tensor } from '../runtime/tensor';
import { BufferUsage, MapMode, ShaderStage, TextureUsage } from '../runtime/gpu_constants';
import { uniformSchema, type UniformValues } from '../runtime/uniforms';
import { readSafetensors, toFloat32, typedView, type RawTensor } from '../weights/safetensors';

const SAMPLES = 4;
/** Guides are drawn in half floats: renderable, and exact enough for values in [0, 1]. */
const GUIDE_FORMAT: GPUTextureFormat = 'rgba16float';
/** The format the preview draws in when it renders to its own texture (tests, `renderPixels`). */
export const PREVIEW_FORMAT: GPUTextureFormat = 'rgba8unorm';

/** The draw pass's uniform (head_draw.wgsl): light, background gradient, camera, shading. */
const headViewUniforms = uniformSchema({
  light: 'vec4<f32>',
  bg_from: 'vec4<f32>',
  bg_to: 'vec4<f32>',
  camera: 'vec4<f32>',
  shading: 'vec4<f32>',
});
type HeadView = UniformValues<typeof headViewUniforms.fields>;

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

/** A row-major 3×3 column by column, as a mat3x3 uniform takes it. */
function columns(m: number[]): number[] {
  return [m[0]!, m[3]!, m[6]!, m[1]!, m[4]!, m[7]!, m[2]!, m[5]!, m[8]!];
}

/** What a draw pass binds: the view uniform, then the posed vertices, their normals and colours. */
interface DrawInputs {
  view: GPUBuffer;
  colour: Tensor;
  group: GPUBindGroup;
}

export class HeadRenderer {
  private readonly targets = new Map<string, { colour: GPUTexture; depth: GPUTexture }>();
  private destroyed = false;
  private drawLayout!: GPUPipelineLayout;
  private readonly pipelineCache = { mesh: new Map<string, GPURenderPipeline>(), background: new Map<string, GPURenderPipeline>() };

  private constructor(
    readonly device: FlapDevice,
    readonly vertices: number,
    readonly triangles: number,
    private readonly pivots: { jaw: number[]; eyes: [number[], number[]]; neck: number[] },
    /** Mesh data, posed vertices and normals: runtime tensors (counted in `device.stats`). */
    private readonly mesh: PoseMesh & { faces: Tensor; ringStart: Tensor; ring: Tensor; posed: Tensor; normals: Tensor },
    private readonly index: GPUBuffer,
    private readonly module: GPUShaderModule,
    private readonly layout: GPUBindGroupLayout,
    private readonly view: HeadView,
    private readonly region: Uint8Array,
  ) {}

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
    const camera = JSON.parse(header.metadata.camera ?? 'null') as Camera | null;
    if (!camera) throw new InputError('asset', 'head asset lacks its camera');
    const light = floats('light');
    const bg = floats('background');
    const view: HeadView = {
      light: [light[0]!, light[1]!, light[2]!, 0],
      bg_from: [bg[0]!, bg[1]!, bg[2]!, 1],
      bg_to: [bg[3]!, bg[4]!, bg[5]!, 1],
      camera: [(2 * camera.focal_128) / 128, camera.cam_y, camera.cam_d, Number(header.metadata.bg_angle ?? 0)],
      shading: [camera.ambient, camera.diffuse, 0, 0],
    };

    const { ringStart, ring } = triangleRings(faces, n);
    // Index data is kept as its u32 bits in f32 tensors; the kernels bind it as array<u32>.
    const bits = (u: Uint32Array) => new Float32Array(u.buffer, u.byteOffset, u.length);
    const kept = (shape: number[], data?: Float32Array) => device.tensor(shape, 'f32', data).keep();
    const mesh = {
      template: kept([n, 3], template), exprBasis: kept([100, n, 3], exprBasis), eyelidBasis: kept([2, n, 3], eyelidBasis), skin: kept([n, 4], skin),
      faces: kept([faces.length], bits(faces)), ringStart: kept([n + 1], bits(ringStart)), ring: kept([ring.length], bits(ring)),
      posed: kept([n, 4]), normals: kept([n, 4]),
    };
    const index = device.createBuffer({ label: 'head:index', size: Math.ceil(faces.byteLength / 16) * 16, usage: BufferUsage.INDEX | BufferUsage.COPY_DST });
    device.gpu.queue.writeBuffer(index, 0, faces);
    await Promise.all([device.prepare(headPoseKernel, poseVariant()), device.prepare(headNormalsKernel, normalsVariant())]);
    const layout = device.gpu.createBindGroupLayout({
      entries: [
        { binding: 0, visibility: ShaderStage.VERTEX | ShaderStage.FRAGMENT, buffer: { type: 'uniform' } },
        ...[1, 2, 3].map((binding) => ({ binding, visibility: ShaderStage.VERTEX, buffer: { type: 'read-only-storage' as const } })),
      ],
    });
    const module = device.gpu.createShaderModule({ code: drawSource.replace('{{VIEW}}', headViewUniforms.wgsl) });
    const renderer = new HeadRenderer(device, n, triangles, pivots, mesh, index, module, layout, view, typedView('U8', get('region').bytes) as Uint8Array);
    renderer.drawLayout = device.gpu.createPipelineLayout({ bindGroupLayouts: [layout] });
    renderer.preview = renderer.drawInputs(view, floats('color'), 'preview');
    await renderer.pipelines(PREVIEW_FORMAT);
    return renderer;
  }

  private preview!: DrawInputs;

  /** A view uniform and vertex colours with the bind group of a draw pass over the posed mesh. */
  private drawInputs(view: HeadView, colours: Float32Array, label: string): DrawInputs {
    const device = this.device;
    const data = new ArrayBuffer(headViewUniforms.size);
    headViewUniforms.write(new DataView(data), 0, view);
    const buffer = device.createBuffer({ label: `head:${label}-view`, size: headViewUniforms.size, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST });
    device.gpu.queue.writeBuffer(buffer, 0, data);
    const colour = device.tensor([this.vertices, 3], 'f32', colours).keep();
    const binding = (t: Tensor) => ({ buffer: t.buffer, offset: t.byteOffset, size: t.bindingSize });
    const group = device.gpu.createBindGroup({
      label: `head:${label}`,
      layout: this.layout,
      entries: [{ buffer }, binding(this.mesh.posed), binding(this.mesh.normals), binding(colour)].map((resource, b) => ({ binding: b, resource })),
    });
    return { view: buffer, colour, group };
  }

  private releaseDrawInputs(d: DrawInputs): void {
    this.device.destroyResource(d.view);
    d.colour.release();
  }



  private async pipelines(format: GPUTextureFormat, samples = SAMPLES): Promise<{ mesh: GPURenderPipeline; background: GPURenderPipeline }> {
    const { mesh, background } = this.pipelineCache;
    const key = samples === SAMPLES ? format : `${format}:${samples}`; // render() looks pipelines up by format
    if (!mesh.has(key)) {
      const gpu = this.device.gpu;
      const module = this.module;
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
    if (coeffs.length !== COEFFS) throw new InputError('coefficients', `a frame has ${COEFFS} coefficients, got ${coeffs.length}`);
    for (let i = 0; i < COEFFS; i++) if (!Number.isFinite(coeffs[i]!)) throw new InputError(`coefficients[${i}]`, `must be finite (got ${coeffs[i]})`);
  }

  private assertAlive(): void {
    if (this.destroyed) throw new InputError('HeadRenderer', 'used after destroy()');
  }

  /**
   * Draws one frame of coefficients (FLAP order, 120 values) into `target` (a canvas texture or any 2-D
   * texture), on the runtime's command stream after the work queued before it, and submits.
   */
  render(coeffs: ArrayLike<number>, target: GPUTexture): void {
    this.assertAlive();
    HeadRenderer.checkFrame(coeffs);
    const mesh = this.pipelineCache.mesh.get(target.format), background = this.pipelineCache.background.get(target.format);
    if (!mesh || !background) throw new InputError('target', `call prepare('${target.format}') before rendering to that format`);
    const { colour, depth } = this.target(target.width, target.height, target.format);
    this.poseMesh(coeffs);
    this.device.encode('head:frame', (enc) => {
      const draw = enc.beginRenderPass({
        colorAttachments: [{ view: colour.createView(), resolveTarget: target.createView(), loadOp: 'clear', storeOp: 'discard', clearValue: { r: 0, g: 0, b: 0, a: 1 } }],
        depthStencilAttachment: { view: depth.createView(), depthLoadOp: 'clear', depthClearValue: 1, depthStoreOp: 'discard' },
      });
      draw.setBindGroup(0, this.preview.group);
      draw.setPipeline(background);
      draw.draw(3);
      draw.setPipeline(mesh);
      draw.setIndexBuffer(this.index, 'uint32');
      draw.drawIndexed(this.triangles * 3);
      draw.end();
    }, { renderPasses: 1 });
    this.device.flush();
  }

  /** Records the pose and normals passes of one frame (the draw that follows reads `posed` and `normals`). */
  private poseMesh(coeffs: ArrayLike<number>): void {
    const { posed, normals, faces, ringStart, ring } = this.mesh;
    headPose(this.mesh, this.poseValues(coeffs), posed);
    headNormals(posed, faces, ringStart, ring, normals);
  }

  /** head_pose.wgsl's uniforms for one frame: rotations as matrices, pivots, blend weights. */
  private poseValues(coeffs: ArrayLike<number>): HeadPose {
    const c = Array.from({ length: COEFFS }, (_, i) => coeffs[i]!);
    const part = ({ start, size }: { start: number; size: number }) => c.slice(start, start + size);
    const [eyes, jaw, rot] = [part(Slices.eyes), part(Slices.jaw), part(Slices.global_rot)];
    const pivot = (p: number[]) => [p[0]!, p[1]!, p[2]!, 1];
    return {
      jaw: columns(axisAngleMatrix(jaw[0]!, jaw[1]!, jaw[2]!)),
      eye_left: columns(sixDMatrix(eyes.slice(0, 6))),
      eye_right: columns(sixDMatrix(eyes.slice(6, 12))),
      global: columns(axisAngleMatrix(rot[0]!, rot[1]!, rot[2]!)),
      jaw_pivot: pivot(this.pivots.jaw),
      eye_left_pivot: pivot(this.pivots.eyes[0]),
      eye_right_pivot: pivot(this.pivots.eyes[1]),
      neck_pivot: pivot(this.pivots.neck),
      weights: [...part(Slices.expression), ...part(Slices.eyelids)],
    };
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
    // Both background colours black (the pass clears to black and draws no background).
    const inputs = this.drawInputs({ ...this.view, bg_from: [0, 0, 0, 0], bg_to: [0, 0, 0, 0] }, colour, 'guide');
    const { mesh } = await this.pipelines(GUIDE_FORMAT, 1);
    const side = guide.size * guide.supersample;
    const texels = side * side;
    this.guide = {
      key,
      side,
      mesh,
      inputs,
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
    this.assertAlive();
    const g = this.guide;
    if (!g || g.key !== JSON.stringify(guide)) throw new InputError('guide', 'call prepareGuides(guide) before renderGuides');
    const frames = coeffs.length / COEFFS;
    if (!Number.isInteger(frames) || frames < 1) throw new InputError('coefficients', `expected whole frames of ${COEFFS} (got ${coeffs.length} values)`);
    for (let f = 0; f < frames; f++) HeadRenderer.checkFrame(coeffs.subarray(f * COEFFS, (f + 1) * COEFFS));
    const device = this.device;
    const rowBytes = Math.ceil((g.side * 8) / 256) * 256;
    const texels = device.tensor([(frames * g.side * rowBytes) / 4], 'f32'); // raw rgba16float rows
    for (let f = 0; f < frames; f++) {
      this.poseMesh(coeffs.subarray(f * COEFFS, (f + 1) * COEFFS));
      device.encode('head:guide', (enc) => {
        const draw = enc.beginRenderPass({
          label: 'head:guide-draw',
          colorAttachments: [{ view: g.colour.createView(), loadOp: 'clear', storeOp: 'store', clearValue: { r: 0, g: 0, b: 0, a: 0 } }],
          depthStencilAttachment: { view: g.depth.createView(), depthLoadOp: 'clear', depthClearValue: 1, depthStoreOp: 'discard' },
        });
        draw.setBindGroup(0, g.inputs.group);
        draw.setPipeline(g.mesh);
        draw.setIndexBuffer(this.index, 'uint32');
        draw.drawIndexed(this.triangles * 3);
        draw.end();
        enc.copyTextureToBuffer({ texture: g.colour }, { buffer: texels.buffer, offset: texels.byteOffset + f * rowBytes * g.side, bytesPerRow: rowBytes }, [g.side, g.side]);
      }, { renderPasses: 1 });
    }
    const out = guidePack(texels, frames, guide.size, guide.supersample, rowBytes / 4);
    texels.release();
    return out;
  }

  private guide?: { key: string; side: number; mesh: GPURenderPipeline; inputs: DrawInputs; colour: GPUTexture; depth: GPUTexture };

  private releaseGuide(): void {
    if (!this.guide) return;
    this.releaseDrawInputs(this.guide.inputs);
    this.device.destroyResource(this.guide.colour);
    this.device.destroyResource(this.guide.depth);
    this.guide = undefined;
  }

  /** Renders one frame at `size`×`size` and reads it back as RGBA bytes (tests, thumbnails). */
  async renderPixels(coeffs: ArrayLike<number>, size: number): Promise<Uint8Array> {
    const device = this.device;
    const row = Math.ceil((size * 4) / 256) * 256;
    const texture = device.createTexture({ label: 'head:pixels', size: [size, size], format: PREVIEW_FORMAT, usage: TextureUsage.RENDER_ATTACHMENT | TextureUsage.COPY_SRC }, 4 * size * size);
    const staging = device.createBuffer({ label: 'head:pixels-read', size: row * size, usage: BufferUsage.COPY_DST | BufferUsage.MAP_READ });
    try {
      this.render(coeffs, texture);
      device.encode('head:pixels', (enc) => enc.copyTextureToBuffer({ texture }, { buffer: staging, bytesPerRow: row }, [size, size]));
      device.flush();
      await staging.mapAsync(MapMode.READ);
      const padded = new Uint8Array(staging.getMappedRange());
      const out = new Uint8Array(size * size * 4);
      for (let y = 0; y < size; y++) out.set(padded.subarray(y * row, y * row + size * 4), y * size * 4);
      staging.unmap();
      return out;
    } finally {
      device.destroyResource(staging);
      device.destroyResource(texture);
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

  /** Frees the GPU buffers, tensors and textures (the device stays). */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.releaseGuide();
    this.releaseDrawInputs(this.preview);
    for (const t of Object.values(this.mesh)) t.release();
    this.device.destroyResource(this.index);
    for (const t of this.targets.values()) {
      this.device.destroyResource(t.colour);
      this.device.destroyResource(t.depth);
    }
    this.targets.clear();
  }
}
