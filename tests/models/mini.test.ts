import { runEverywhere } from '../harness/run';

// Chromium only: a clip of the shipped model takes about a minute on SwiftShader, and the Node path is the same
// code (the test-config generation covers both).
await runEverywhere(import.meta.url, { where: ['chromium'] });
