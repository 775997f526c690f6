import type { Browser } from 'puppeteer-core';

export declare const SWIFTSHADER_ICD: string;
export declare function withSwiftShader(env?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
export declare function useSwiftShaderByDefault(): void;
export declare function chromiumPath(env?: NodeJS.ProcessEnv): string;
export declare function chromiumArgs(env?: NodeJS.ProcessEnv): string[];
export declare class BrowserNotFoundError extends Error {
  readonly path: string;
  constructor(path: string);
}
export declare function launchChromium(options?: { env?: NodeJS.ProcessEnv; protocolTimeout?: number }): Promise<Browser>;
