import { defineProject } from 'vitest/config';
import { projectDefaults } from '../../vitest.shared.ts';

// Benchmarks are not tests (`npm run bench` runs them); this project only keeps vitest from
// complaining about an app without tests.
export default defineProject(projectDefaults('bench', { include: [], passWithNoTests: true }));
