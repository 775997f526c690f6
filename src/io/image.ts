/**
 * Image input for generation: PNG/JPEG/WebP bytes or a Blob (decoded by the browser), an `ImageBitmap`,
 * `HTMLImageElement`, `ImageData`, or raw RGBA `{data, width, height}` → the model's H × W as f32 RGB in
 * [-1, 1], channels last. Centre crop to the model's aspect by default, or a given face box; area-averaged
 * resizing, so shrinking does not alias.
 */
import { InputError } from '../errors';

export interface RawImage {
  data: Uint8ClampedArray | Uint8Array;
  width: number;
  height: number;
}

export type ImageInput = RawImage | ImageData | ImageBitmap | HTMLImageElement | Uint8Array | ArrayBuffer | Blob;

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export const MAX_SIDE = 8192;
export const MAX_PIXELS = 40_000_000;

function checkSize(width: number, height: number): void {
  if (!(width >= 1 && height >= 1)) throw new InputError('image', `has no pixels (${width}x${height})`);
  if (width > MAX_SIDE || height > MAX_SIDE || width * height > MAX_PIXELS) {
    throw new InputError('image', `${width}x${height} is too large (at most ${MAX_SIDE} px a side and ${MAX_PIXELS / 1e6} MP)`);
  }
}

/** Width and height from a PNG, JPEG or WebP header, before any pixel is decoded. */
export function imageHeaderSize(b: Uint8Array): { width: number; height: number; format: string } {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length >= 24 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return { width: v.getUint32(16), height: v.getUint32(20), format: 'png' };
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0xd8) {
    for (let i = 2; i + 9 < b.length; ) {
      if (b[i] !== 0xff) break;
      const marker = b[i + 1]!;
      const len = v.getUint16(i + 2);
      if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) return { width: v.getUint16(i + 7), height: v.getUint16(i + 5), format: 'jpeg' };
      i += 2 + len;
    }
    throw new InputError('image', 'JPEG without a frame header (truncated or corrupt)');
  }
  if (b.length >= 30 && String.fromCharCode(...b.subarray(0, 4)) === 'RIFF' && String.fromCharCode(...b.subarray(8, 12)) === 'WEBP') {
    const kind = String.fromCharCode(...b.subarray(12, 16));
    if (kind === 'VP8X') return { width: 1 + (b[24]! | (b[25]! << 8) | (b[26]! << 16)), height: 1 + (b[27]! | (b[28]! << 8) | (b[29]! << 16)), format: 'webp' };
    if (kind === 'VP8 ') return { width: v.getUint16(26, true) & 0x3fff, height: v.getUint16(28, true) & 0x3fff, format: 'webp' };
    if (kind === 'VP8L') {
      const bits = v.getUint32(21, true);
      return { width: (bits & 0x3fff) + 1, height: ((bits >> 14) & 0x3fff) + 1, format: 'webp' };
    }
  }
  throw new InputError('image', `unsupported or corrupt image data (${b.length} bytes; PNG, JPEG and WebP are read)`);
}

async function toRaw(input: ImageInput): Promise<RawImage> {
  if (typeof input === 'object' && input !== null && 'data' in input && 'width' in input && !(typeof ImageData !== 'undefined' && input instanceof ImageData)) {
    const raw = input as RawImage;
    checkSize(raw.width, raw.height);
    if (raw.data.length !== raw.width * raw.height * 4) throw new InputError('image', `RGBA data of ${raw.data.length} bytes does not match ${raw.width}x${raw.height}`);
    return raw;
  }
  if (typeof ImageData !== 'undefined' && input instanceof ImageData) return { data: input.data, width: input.width, height: input.height };
  let source: ImageBitmap | HTMLImageElement;
  if (input instanceof Uint8Array || input instanceof ArrayBuffer || (typeof Blob !== 'undefined' && input instanceof Blob)) {
    const bytes = input instanceof Blob ? new Uint8Array(await input.arrayBuffer()) : input instanceof ArrayBuffer ? new Uint8Array(input) : input;
    if (bytes.length === 0) throw new InputError('image', 'is empty (0 bytes)');
    const { width, height } = imageHeaderSize(bytes);
    checkSize(width, height);
    if (typeof createImageBitmap === 'undefined') throw new InputError('image', 'encoded images are decoded in a browser; in Node pass raw RGBA {data, width, height}');
    try {
      source = await createImageBitmap(new Blob([bytes.slice()]));
    } catch (e) {
      throw new InputError('image', `cannot be decoded (${(e as Error).message || 'corrupt data'})`);
    }
  } else source = input as ImageBitmap | HTMLImageElement;
  const width = 'naturalWidth' in source ? source.naturalWidth : source.width;
  const height = 'naturalHeight' in source ? source.naturalHeight : source.height;
  checkSize(width, height);
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d')!;
  ctx.drawImage(source, 0, 0);
  return { data: ctx.getImageData(0, 0, width, height).data, width, height };
}

/** The centred crop of `w × h` with the aspect of `tw × th`. */
export function centreBox(w: number, h: number, tw: number, th: number): Box {
  const scale = Math.min(w / tw, h / th);
  const cw = tw * scale;
  const ch = th * scale;
  return { x: (w - cw) / 2, y: (h - ch) / 2, width: cw, height: ch };
}

/** Area-averaged resampling of `box` of an RGBA image to `tw × th`, → f32 RGB in [-1, 1], HWC. */
export function cropResize(img: RawImage, box: Box, tw: number, th: number): Float32Array {
  const out = new Float32Array(tw * th * 3);
  const sx = box.width / tw;
  const sy = box.height / th;
  for (let y = 0; y < th; y++) {
    const y0 = box.y + y * sy;
    const y1 = y0 + sy;
    for (let x = 0; x < tw; x++) {
      const x0 = box.x + x * sx;
      const x1 = x0 + sx;
      const acc = [0, 0, 0];
      let wsum = 0;
      for (let py = Math.floor(y0); py < Math.ceil(y1); py++) {
        const wy = Math.min(y1, py + 1) - Math.max(y0, py);
        const cy = Math.min(Math.max(py, 0), img.height - 1);
        for (let px = Math.floor(x0); px < Math.ceil(x1); px++) {
          const w = wy * (Math.min(x1, px + 1) - Math.max(x0, px));
          const cx = Math.min(Math.max(px, 0), img.width - 1);
          const at = (cy * img.width + cx) * 4;
          for (let c = 0; c < 3; c++) acc[c]! += w * img.data[at + c]!;
          wsum += w;
        }
      }
      for (let c = 0; c < 3; c++) out[(y * tw + x) * 3 + c] = (acc[c]! / wsum / 255) * 2 - 1;
    }
  }
  return out;
}

/** Decodes, crops (centre, or `box`) and resizes to `width × height`; throws `InputError` for bad input. */
export async function prepareImage(input: ImageInput, width: number, height: number, box?: Box): Promise<Float32Array> {
  const img = await toRaw(input);
  let b = centreBox(img.width, img.height, width, height);
  if (box) {
    for (const k of ['x', 'y', 'width', 'height'] as const) {
      if (!Number.isFinite(box[k])) throw new InputError(`faceBox.${k}`, `must be a finite number (got ${box[k]})`);
    }
    if (box.width <= 0 || box.height <= 0 || box.x < 0 || box.y < 0 || box.x + box.width > img.width || box.y + box.height > img.height) {
      throw new InputError('faceBox', `${JSON.stringify(box)} is not inside the ${img.width}x${img.height} image`);
    }
    b = box;
  }
  return cropResize(img, b, width, height);
}
