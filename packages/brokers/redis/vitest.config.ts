import { defineProject } from 'vitest/config';
import { projectDefaults } from '../../../vitest.shared.ts';

// Integration tests share one Redis (and restart it in one file), so files run one at a time.
export default defineProject(projectDefaults('broker-redis', { fileParallelism: false }));
