/**
 * Every GPU allocation the runtime makes is counted: buffers, textures and query sets are created through
 * the pool or `FlapDevice.createBuffer/createTexture/createQuerySet`, so `stats.bytesAllocated` always equals
 * what the GPU device really holds. The GPU objects' own methods are wrapped to see every creation and
 * destruction, independently of the runtime's bookkeeping.
 */
import miniConfig from '../../weights-tools/configs/mini.json';
import { parseConfig } from '../../src/models/config';
import { add } from '../../src/ops/math/binary';
import { HeadRenderer } from '../../src/render/head';
import type { FlapDevice } from '../../src/runtime/device';
import { BufferUsage, TextureUsage } from '../../src/runtime/gpu_constants';
import { assert, assertEqual } from '../harness/assert';
import type { Cases } from '../harness/cases';
import { repoBytes } from '../harness/fixtures';

const TEXEL_BYTES: Record<string, number> = { rgba16float: 8, rgba8unorm: 4, bgra8unorm: 4, depth24plus: 4 };

/** Live resources and their bytes, per GPU device, seen through the wrapped creation methods. */
class AllocationSpy {
  readonly live = new Map<GPUDevice, Map<object, number>>();
  private readonly restore: (() => void)[] = [];

  constructor(sample: GPUDevice) {
    const spy = this;
    const track = (owner: GPUDevice, resource: object, bytes: number) => {
      if (!spy.live.has(owner)) spy.live.set(owner, new Map());
      spy.live.get(owner)!.set(resource, bytes);
    };
    const wrap = <T extends object>(proto: T, name: keyof T & string, after: (self: any, result: any, args: any[]) => void) => {
      const original = (proto as any)[name] as (...args: unknown[]) => unknown;
      (proto as any)[name] = function (this: unknown, ...args: unknown[]) {
        const result = original.apply(this, args);
        after(this, result, args);
        return result;
      };
      this.restore.push(() => void ((proto as any)[name] = original));
    };
    const forget = (resource: object) => {
      for (const m of spy.live.values()) m.delete(resource);
    };
    const deviceProto = Object.getPrototypeOf(sample) as GPUDevice;
    const buffer = sample.createBuffer({ size: 16, usage: BufferUsage.STORAGE });
    const texture = sample.createTexture({ size: [1, 1], format: 'rgba8unorm', usage: TextureUsage.RENDER_ATTACHMENT });
    const protos = [Object.getPrototypeOf(buffer), Object.getPrototypeOf(texture)];
    buffer.destroy();
    texture.destroy();
    if (sample.features.has('timestamp-query')) {
      const set = sample.createQuerySet({ type: 'timestamp', count: 2 });
      protos.push(Object.getPrototypeOf(set));
      set.destroy();
    }
    wrap(deviceProto, 'createBuffer', (dev, b, [d]) => track(dev, b, d.size));
    wrap(deviceProto, 'createTexture', (dev, t, [d]) => {
      const [w, h = 1, layers = 1] = Array.isArray(d.size) ? d.size : [d.size.width, d.size.height, d.size.depthOrArrayLayers];
      track(dev, t, w * h * layers * (TEXEL_BYTES[d.format] ?? Number.NaN) * (d.sampleCount ?? 1));
    });
    wrap(deviceProto, 'createQuerySet', (dev, q, [d]) => track(dev, q, 8 * d.count));
    for (const proto of new Set(protos)) wrap(proto, 'destroy', (self) => forget(self));
  }

  bytes(device: FlapDevice): number {
    return [...(this.live.get(device.gpu)?.values() ?? [])].reduce((a, b) => a + b, 0);
  }

  count(device: FlapDevice): number {
    return this.live.get(device.gpu)?.size ?? 0;
  }

  uninstall(): void {
    for (const undo of this.restore.reverse()) undo();
  }
}

export const cases: Cases = {
  'every GPU allocation is counted: tensors, readback, uniforms, profiling, the head renderer': async ({ device: shared, openDevice, where, log }) => {
    const spy = new AllocationSpy(shared.gpu);
    try {
      const device = await openDevice();
      const check = (when: string) => {
        device.flush();
        assertEqual(device.stats.bytesAllocated, spy.bytes(device), `${when}: stats.bytesAllocated against the GPU's live bytes`);
      };
      check('new device (the uniform arena)');
      const a = device.tensor([1000], 'f32', new Float32Array(1000).fill(1));
      const sum = add(a, a);
      await sum.read();
      check('tensors and a readback');
      const { report } = await device.profile(() => add(a, sum).release());
      check(`profiled (${report.source})`);
      a.release();
      sum.release();
      const asset = await repoBytes('models/flap-mini/head_asset.safetensors', where);
      if (asset) {
        const head = await HeadRenderer.load(device, asset);
        const guide = parseConfig(miniConfig).unet.guide!;
        await head.prepareGuides(guide);
        head.renderGuides(new Float32Array(3 * 120), guide).release();
        await head.renderPixels(new Float32Array(120), 32);
        check('head renderer: guides and a preview');
        head.destroy();
        check('head renderer destroyed');
      } else log('models/flap-mini/head_asset.safetensors is not shipped: renderer not covered');
      assert(spy.count(device) > 0, 'the spy saw no allocation of the new device');
      log(`[${where}] ${spy.count(device)} live GPU objects, ${device.stats.bytesAllocated} bytes, all counted`);
      device.destroy();
      assertEqual(spy.count(device), 0, 'GPU objects left undestroyed by device.destroy()');
    } finally {
      spy.uninstall();
    }
  },
};
