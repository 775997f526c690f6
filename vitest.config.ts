import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    globalSetup: ['tests/harness/global_setup.ts'],
    testTimeout: 300_000,
    hookTimeout: 120_000,
    env: {
      // Dawn in Node finds SwiftShader through the Vulkan loader (DESIGN §6).
      VK_ICD_FILENAMES: process.env.VK_ICD_FILENAMES ?? '/usr/lib/chromium/vk_swiftshader_icd.json',
    },
  },
});
