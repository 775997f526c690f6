import type { IncomingMessage, ServerResponse } from 'node:http';
import type { InlineConfig, ViteDevServer } from 'vite';

export declare const MIME_TYPES: Readonly<Record<string, string>>;

/** URL prefix → file or folder (a prefix ending in `/` is a folder). */
export type Mounts = Readonly<Record<string, string>>;

export declare function resolveMounted(mounts: Mounts, urlPath: string): string | undefined;

export interface ServeOptions {
  /** Static mode: what to serve (default `{ '/': root }`). */
  mounts?: Mounts;
  /** Vite mode: `true` or extra Vite config. */
  vite?: boolean | InlineConfig;
  /** The folder served (Vite's root; the static default mount). */
  root?: string;
  /** Headers sent with every response. */
  headers?: Readonly<Record<string, string>>;
  /** Runs before the files; call `next()` to fall through to them. */
  middleware?: (req: IncomingMessage, res: ServerResponse, next: () => void) => void;
}

export interface Server {
  url: string;
  port: number;
  /** The Vite server (Vite mode only). */
  vite?: ViteDevServer;
  close(): Promise<void>;
}

export declare function serve(options?: ServeOptions): Promise<Server>;
