import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

describe('the demo (npm start)', () => {
  it('shows each feature in readable lines and exits 0', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--conditions=@tq/source', 'src/main.ts'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(run.status, run.stderr).toBe(0);
    const out = run.stdout;
    expect(out).toMatch(/1\. add\.delay\(2, 3\)\s+→ task [0-9a-f-]{36}\n\s+result\s+→ 5 \(state SUCCESS\)/);
    expect(out).toMatch(/2\. .*\n\s+result\s+→ 30 after 0\.[5-9]\d s/);
    expect(out).toMatch(/3\. .*retried, then \{"currency":"EUR","rate":1\.0842,"attempts":3\}/);
    expect(out).toMatch(/4\. .*failed \(state FAILURE\)\n\s+error\s+→ InvoiceError: invoice INV-7: amount must be positive, got 0/);
    expect(out).toMatch(/5\. .*report for 2026-11-23 built from queue "reports"/);
    expect(out).toMatch(/done: the worker stopped cleanly\./);
  });
});
