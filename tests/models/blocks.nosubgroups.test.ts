import { runEverywhere } from '../harness/run';

// The same block cases with the adapter's subgroups disabled, so the kernels' fallback variants (attention,
// reductions) run through whole modules too.
await runEverywhere(import.meta.url, { cases: './blocks.cases.ts', variant: 'no subgroups', device: { disableFeatures: ['subgroups'] } });
