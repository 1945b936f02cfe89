import { defineProject } from 'vitest/config';
import { projectDefaults } from '../../../vitest.shared.ts';

// Integration tests share one fauxqs and a Python venv; files run one at a time.
export default defineProject(projectDefaults('broker-sqs', { fileParallelism: false }));
