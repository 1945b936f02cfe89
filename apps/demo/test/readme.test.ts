import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

describe('the README', () => {
  it("shows the API tour exactly as apps/demo/src/tour.ts, which is type-checked (so the README's code compiles)", () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const block = /<!-- tour:start -->\n```ts\n([\s\S]*?)```\n<!-- tour:end -->/.exec(readme)?.[1];
    expect(block, 'README.md has a tour block').toBeDefined();
    expect(block).toBe(readFileSync(join(root, 'apps', 'demo', 'src', 'tour.ts'), 'utf8'));
  });

  it('gives the two quick-start commands', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    expect(readme).toContain('npm install && npm start');
    expect(readme).toMatch(/^npm test$/m);
  });
});
