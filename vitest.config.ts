import { defineConfig } from 'vitest/config';
import { withSwiftShader } from './scripts/chromium.mjs';

const icd = withSwiftShader().VK_ICD_FILENAMES;

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    globalSetup: ['tests/harness/global_setup.ts'],
    testTimeout: 300_000,
    hookTimeout: 120_000,
    // Dawn in Node finds SwiftShader through the Vulkan loader (DESIGN §6).
    env: icd ? { VK_ICD_FILENAMES: icd } : {},
  },
});
