import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const dir = join(root, '.changeset');

/** Every workspace package's name, from the root package.json's workspaces globs (`dir/*`). */
function workspacePackages(): Set<string> {
  const globs = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { workspaces: string[] }).workspaces;
  const names = new Set<string>();
  for (const glob of globs) {
    const base = join(root, glob.replace(/\/\*$/, ''));
    for (const entry of readdirSync(base, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      try {
        names.add((JSON.parse(readFileSync(join(base, entry.name, 'package.json'), 'utf8')) as { name: string }).name);
      } catch {
        // a folder without a package.json (a group such as packages/brokers) is not a package
      }
    }
  }
  return names;
}

describe('the changesets', () => {
  const ignored = new Set((JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { ignore: string[] }).ignore);
  const known = workspacePackages();
  const files = readdirSync(dir).filter((f) => f.endsWith('.md') && f !== 'README.md');

  it('name real packages and never mix ignored ones with released ones (`changeset version` refuses that)', () => {
    const problems: string[] = [];
    for (const file of files) {
      const front = /^---\n([\s\S]*?)\n---\n/.exec(readFileSync(join(dir, file), 'utf8'))?.[1] ?? '';
      const names = [...front.matchAll(/^['"]?(@?[^'":]+)['"]?:\s*(major|minor|patch)\s*$/gm)].map((m) => m[1]!);
      if (names.length === 0) problems.push(`${file}: no package bump in its front matter`);
      for (const name of names) if (!known.has(name)) problems.push(`${file}: ${name} is not a workspace package`);
      if (new Set(names.map((n) => ignored.has(n))).size > 1) problems.push(`${file}: mixes ignored and released packages (${names.join(', ')})`);
    }
    expect(files.length).toBeGreaterThan(0);
    expect(problems).toEqual([]);
  });
});
