import { defineProject } from 'vitest/config';
import { projectDefaults } from '../../vitest.shared.ts';

export default defineProject(
  projectDefaults('canvas', {
    typecheck: { enabled: true, include: ['test/**/*.test-d.ts'], tsconfig: './tsconfig.test.json' },
  }),
);
