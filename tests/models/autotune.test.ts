import { runEverywhere } from '../harness/run';

// Node only: tuning compiles every matmul variant, which takes tens of seconds on SwiftShader per target.
await runEverywhere(import.meta.url, { where: ['node'] });
