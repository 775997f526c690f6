/** Node only: a `TuningStore` in a JSON file, so a command-line process tunes an adapter once. */
import type { TuningStore } from './tune';

/** The file `~/.cache/flap-webgpu/tuning.json`, or `FLAP_TUNING_FILE` when set. */
export async function defaultTuningFile(): Promise<string> {
  const [{ homedir }, { join }] = await Promise.all([import('node:os'), import('node:path')]);
  return process.env.FLAP_TUNING_FILE ?? join(homedir(), '.cache', 'flap-webgpu', 'tuning.json');
}

/** Reads and writes winners at `path` (written whole through a temporary file, so a reader never sees half). */
export function fileTuningStore(path: string): TuningStore {
  return {
    async load() {
      const { readFile } = await import('node:fs/promises');
      try {
        return JSON.parse(await readFile(path, 'utf8')) as Record<string, string>;
      } catch {
        return undefined; // missing or damaged: tune again
      }
    },
    async save(entries) {
      const [{ mkdir, rename, writeFile }, { dirname }] = await Promise.all([import('node:fs/promises'), import('node:path')]);
      await mkdir(dirname(path), { recursive: true });
      const tmp = `${path}.${process.pid}.tmp`;
      await writeFile(tmp, JSON.stringify(entries, null, 1));
      await rename(tmp, path);
    },
  };
}
