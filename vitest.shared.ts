/**
 * Settings every package's vitest project shares: tests import workspace packages from their
 * TypeScript sources (the `@tq/source` export condition), so a test run needs no build.
 */
import type { UserWorkspaceConfig } from 'vitest/config';

export function projectDefaults(name: string, overrides: UserWorkspaceConfig['test'] = {}): UserWorkspaceConfig {
  return {
    resolve: { conditions: ['@tq/source', 'module', 'node', 'import', 'default'] },
    ssr: { resolve: { conditions: ['@tq/source', 'node', 'import', 'default'] } },
    test: {
      name,
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      testTimeout: 30_000,
      hookTimeout: 60_000,
      ...overrides,
    },
  };
}
