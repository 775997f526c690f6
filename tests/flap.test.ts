import { runEverywhere } from './harness/run';

// Node only: the same engine runs in Chromium in tests/models and tests/demo; this file checks API behaviour.
await runEverywhere(import.meta.url, { where: ['node'] });
