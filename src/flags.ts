/**
 * Debug and tuning flags, read once when this module loads. In Node they come from environment variables,
 * in the browser from `globalThis.FLAP_FLAGS` (an object) or the page's query string (`?FLAP_NO_REUSE=1`).
 * Every flag is declared here, once; hot code reads the frozen `flags` object, never the environment.
 */

type FlagSource = (name: string) => string | undefined;

function flagSource(): FlagSource {
  const g = globalThis as { FLAP_FLAGS?: Record<string, unknown>; location?: { search?: string } };
  const fromObject = g.FLAP_FLAGS;
  const query = typeof g.location?.search === 'string' ? new URLSearchParams(g.location.search) : undefined;
  const env = typeof process !== 'undefined' && process.env ? process.env : undefined;
  return (name) => {
    const v = fromObject?.[name] ?? query?.get(name) ?? env?.[name];
    return v === undefined || v === null ? undefined : String(v);
  };
}

const read = flagSource();
const declared = new Set<string>();

function declare<T>(name: string, fallback: T, parse: (raw: string) => T): T {
  if (declared.has(name)) throw new Error(`flag ${name} declared twice`);
  declared.add(name);
  const raw = read(name);
  return raw === undefined || raw === '' ? fallback : parse(raw);
}

const bool = (raw: string) => raw !== '0' && raw.toLowerCase() !== 'false';
const int = (raw: string) => {
  const n = Number.parseInt(raw, 10);
  if (!Number.isFinite(n)) throw new Error(`flag value ${raw} is not an integer`);
  return n;
};
const list = (raw: string) => raw.split(',').map((s) => s.trim()).filter(Boolean);

export const flags = Object.freeze({
  /** Never reuse pooled buffers (every acquire creates a buffer): for hunting aliasing bugs. */
  noReuse: declare('FLAP_NO_REUSE', false, bool),
  /** Print the rendered WGSL of kernels whose key contains one of these substrings. */
  printShader: declare('FLAP_PRINT_SHADER', [] as string[], list),
  /** Dispatches recorded before the encoder is submitted. */
  submitBatch: declare('FLAP_SUBMIT_BATCH', 64, int),
  /** Wrap every dispatch in a validation error scope, so a GPU error names the exact kernel. */
  validate: declare('FLAP_VALIDATE', false, bool),
});
