/** Where each suite's generated files live, relative to the repository. */
export declare const GENERATED: Readonly<{ kernels: string; unet: string }>;

/** Why the PyTorch reference cannot run here, or undefined when it can. */
export declare function pythonMissing(): string | undefined;

/** Makes the missing generated files of `suites`; throws on failure unless `optional`. */
export declare function prepare(suites: readonly ('kernels' | 'unet')[], options?: { optional?: boolean }): void;

/** The files the built site needs for the benchmark page: repository-relative `from`, site-relative `to`. */
export declare function siteFiles(): { from: string; to: string }[];
