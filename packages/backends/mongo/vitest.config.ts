import { defineProject } from 'vitest/config';
import { projectDefaults } from '../../../vitest.shared.ts';

// Each test file uses a database of its own; the restart test runs a FerretDB of its own.
export default defineProject(projectDefaults('backend-mongo'));
