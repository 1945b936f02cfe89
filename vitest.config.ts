/** The whole suite: every package is a vitest project (see vitest.shared.ts). */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: ['packages/*', 'packages/brokers/*', 'packages/backends/*', 'apps/*'],
  },
});
