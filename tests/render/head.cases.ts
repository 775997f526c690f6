/**
 * The WebGPU head preview against weights-tools/world/render.py: the shipped asset drawn from the same
 * coefficients (neutral; turned with the jaw open; tilted with closed eyes, a smile and a sideways gaze) must
 * match the reference renders (4x supersampled there, 4x MSAA here) to PSNR ≥ 35 dB (measured 42-44; edges are anti-aliased
 * differently) and move where the reference moves. Skipped, with a note, until a model with an asset is shipped.
 */
import miniConfig from '../../weights-tools/configs/mini.json';
import { InputError } from '../../src/errors';
import { parseConfig } from '../../src/models/config';
import { HeadRenderer, axisAngleMatrix, sixDMatrix } from '../../src/render/head';
import { assert, assertClose, assertThrows, psnr } from '../harness/assert';
import type { Cases } from '../harness/cases';
import { loadFixture, repoBytes } from '../harness/fixtures';

const psnrRgba = (a: ArrayLike<number>, b: ArrayLike<number>, n: number) => {
  let se = 0;
  for (let p = 0; p < n; p++) for (let c = 0; c < 3; c++) se += ((a[p * 4 + c]! - b[p * 3 + c]!) / 255) ** 2;
  return 10 * Math.log10(1 / (se / (3 * n)));
};

export const cases: Cases = {
  'rotations: Rodrigues and the 6-D Gram–Schmidt give orthonormal matrices (identity at rest)': () => {
    assertClose(axisAngleMatrix(0, 0, 0), [1, 0, 0, 0, 1, 0, 0, 0, 1], { atol: 1e-12 });
    // 90° about y turns +x toward −z (right-handed).
    assertClose(axisAngleMatrix(0, Math.PI / 2, 0), [0, 0, 1, 0, 1, 0, -1, 0, 0], { atol: 1e-12 });
    assertClose(sixDMatrix([1, 0, 0, 0, 1, 0]), [1, 0, 0, 0, 1, 0, 0, 0, 1], { atol: 1e-12 });
    const m = sixDMatrix([2, 0.3, -0.1, 0.2, 1.5, 0.4]);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) {
      let dot = 0;
      for (let k = 0; k < 3; k++) dot += m[k * 3 + i]! * m[k * 3 + j]!;
      assertClose([dot], [i === j ? 1 : 0], { atol: 1e-12, label: `columns ${i}·${j}` });
    }
  },

  'the preview draws the shipped asset as the reference renderer does (PSNR ≥ 35 dB per pose)': async ({ device, where, log }) => {
    const bytes = await repoBytes('models/flap-mini/head_asset.safetensors', where);
    if (!bytes) {
      log('models/flap-mini/head_asset.safetensors is not shipped yet: nothing to draw');
      return;
    }
    const fx = await loadFixture('head_renders.safetensors', where);
    const coeffs = fx.get('coeffs')!, images = fx.get('images')!;
    const [frames, size] = [coeffs.shape[0]!, images.shape[1]!];
    const head = await HeadRenderer.load(device, bytes);
    try {
      log(`asset: ${head.vertices} vertices, ${head.triangles} triangles`);
      let previous: Uint8Array | undefined;
      for (let f = 0; f < frames; f++) {
        const frame = coeffs.data.subarray(f * 120, (f + 1) * 120);
        const got = await head.renderPixels(frame, size);
        const want = images.data.subarray(f * size * size * 3, (f + 1) * size * size * 3);
        const db = psnrRgba(got, want, size * size);
        log(`pose ${f}: PSNR ${db.toFixed(1)} dB against render.py`);
        assert(db >= 35, `pose ${f}: PSNR ${db.toFixed(1)} dB < 35 dB`);
        if (previous) assert(psnrRgba(got, Array.from({ length: size * size * 3 }, (_, i) => previous![Math.floor(i / 3) * 4 + (i % 3)]!), size * size) < 30, `pose ${f} looks like pose ${f - 1}`);
        previous = got;
      }
      await assertThrows(() => head.render(new Float32Array(119), device.gpu.createTexture({ size: [4, 4], format: 'rgba8unorm', usage: 0x10 })), InputError, /120 coefficients/);
      const nan = new Float32Array(120);
      nan[16] = Number.NaN;
      await assertThrows(() => head.renderPixels(nan, 8), InputError, /coefficients\[16\]/);
    } finally {
      head.destroy();
    }
  },

  'the geometry guide is drawn on the GPU as flap_ref/guide.py draws it (PSNR ≥ 42 dB per pose, no readback, counted in the stats)': async ({ device, where, log }) => {
    const bytes = await repoBytes('models/flap-mini/head_asset.safetensors', where);
    if (!bytes) {
      log('models/flap-mini/head_asset.safetensors is not shipped yet: nothing to draw');
      return;
    }
    const guide = parseConfig(miniConfig).unet.guide!;
    const fx = await loadFixture('guide_renders.safetensors', where);
    const coeffs = fx.get('coeffs')!, want = fx.get('guides')!;
    const [frames, size] = [coeffs.shape[0]!, want.shape[1]!];
    assert(size === guide.size, `fixture guides are ${size}px, the config says ${guide.size}`);
    const before = device.stats.bytesInUse;
    const head = await HeadRenderer.load(device, bytes);
    try {
      await head.prepareGuides(guide);
      assert(device.stats.bytesInUse > before, 'the renderer\'s buffers are not counted in the runtime statistics');
      const [passes, readbacks] = [device.stats.renderPasses, device.stats.readbacks];
      const out = head.renderGuides(coeffs.data, guide);
      assert(device.stats.renderPasses - passes === frames, `${device.stats.renderPasses - passes} render passes for ${frames} frames`);
      assert(device.stats.readbacks === readbacks, 'drawing the guides read back');
      assert(out.shape.join() === [frames, size, size, 3].join(), `guides [${out.shape.join(', ')}]`);
      const got = await out.read();
      out.release();
      const n = size * size * 3;
      for (let f = 0; f < frames; f++) {
        let lit = 0;
        for (let i = f * n; i < (f + 1) * n; i++) if (want.data[i]! > 0.05) lit++;
        const db = psnr(got, want.data, f * n, (f + 1) * n);
        log(`pose ${f}: guide PSNR ${db.toFixed(1)} dB against guide.py (${lit} lit values)`);
        assert(lit > n / 10, `pose ${f}: the reference guide is nearly empty`);
        assert(db >= 42, `pose ${f}: guide PSNR ${db.toFixed(1)} dB < 42 dB`); // measured 48.7-49.9
      }
      await assertThrows(() => head.renderGuides(new Float32Array(130), guide), InputError, /whole frames/);
      await assertThrows(() => head.renderGuides(new Float32Array(120), { ...guide, size: 32 }), InputError, /prepareGuides/);
    } finally {
      head.destroy();
    }
    device.flush();
    assert(device.stats.bytesInUse === before, `bytes in use ${device.stats.bytesInUse} != ${before} after destroy()`);
  },
};
