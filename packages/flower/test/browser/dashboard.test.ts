/**
 * The dashboard in real Chromium against a real monitor and a real tq worker on Redis: the
 * worker appears online when it starts, and is marked offline when it is killed (SIGKILL, so no
 * worker-offline event: only its missing heartbeats tell).
 */
import { uniqueName } from '@tq/testing';
import { describe, expect, it } from 'vitest';
import { browserSuite, startWorker } from './helpers.js';

const suite = browserSuite('alpha', { worker: false });

describe('dashboard', () => {
  it('shows a worker that starts, with live counts, and marks it offline when it is killed', async () => {
    const { stack, browser } = suite;
    const { page } = browser;
    await page.goto(stack.url);
    await page.getByTestId('live-status').filter({ hasText: 'Live' }).waitFor();

    const hostname = `${uniqueName('alpha')}@flower-ui`;
    const worker = await startWorker(hostname, stack.queue);
    try {
      const row = page.locator(`tr[data-worker="${hostname}"]`);
      await row.locator('[data-status="online"]').waitFor({ timeout: 20_000 });

      // A finished task raises the worker's processed and succeeded counts without a reload.
      await (await stack.tasks.add.delay(2, 3)).get({ timeout: 15 });
      await expect.poll(() => row.locator('td').nth(4).textContent(), { timeout: 15_000 }).toBe('1');
      await expect.poll(() => row.locator('td').nth(5).textContent(), { timeout: 15_000 }).toBe('1');
      await expect.poll(() => page.locator('[data-card="Succeeded"] .card-value').textContent(), { timeout: 15_000 }).not.toBe('0');

      await worker.kill();
      await row.locator('[data-status="offline"]').waitFor({ timeout: 30_000 });
      expect(await row.getAttribute('class')).toContain('row-offline');
    } finally {
      await worker.stop();
    }
  });
});
