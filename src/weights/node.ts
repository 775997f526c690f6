/** Node-only sources (kept apart so browser bundles never see `node:fs`). */
import type { ByteSource } from './safetensors';
import { SafetensorsError } from '../errors';

/** A file read through a `fs.promises` FileHandle: only the requested ranges are ever in memory. */
export async function fileSource(path: string): Promise<ByteSource> {
  const fs = await import('node:fs/promises');
  let handle: Awaited<ReturnType<typeof fs.open>>;
  try {
    handle = await fs.open(path, 'r');
  } catch (e) {
    throw new SafetensorsError(path, `cannot open (${(e as Error).message})`);
  }
  const { size } = await handle.stat();
  return {
    size,
    label: path,
    async read(offset, length, into) {
      const out = into && into.byteLength >= length ? into.subarray(0, length) : new Uint8Array(length);
      let got = 0;
      while (got < length) {
        const { bytesRead } = await handle.read(out, got, length - got, offset + got);
        if (bytesRead === 0) throw new SafetensorsError(`${path} (byte ${offset + got})`, 'file ended early (changed while reading?)');
        got += bytesRead;
      }
      return out;
    },
    close: () => handle.close(),
  };
}
