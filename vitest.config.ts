/** The whole suite: every package with a vitest.config.ts is a project (see vitest.shared.ts). */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: ['packages/*/vitest.config.ts', 'packages/brokers/*/vitest.config.ts', 'packages/backends/*/vitest.config.ts', 'apps/*/vitest.config.ts'],
  },
});
