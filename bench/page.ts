// The benchmark page: bench/run.mjs calls window.__runBench(suite, options) and writes what it returns.
import { benchKernels } from './kernels';
import { benchUnet } from './unet';

const w = window as unknown as Record<string, unknown>;

w.__runBench = async (suite: string, options: { reps: number; sets?: string[]; ops?: string[] }) => {
  try {
    if (suite === 'kernels') return await benchKernels(options);
    if (suite === 'unet') return await benchUnet(options);
    return { error: `unknown suite ${suite}` };
  } catch (e) {
    return { error: `${(e as Error).name}: ${(e as Error).message}\n${(e as Error).stack ?? ''}` };
  }
};

w.__benchReady = true;
