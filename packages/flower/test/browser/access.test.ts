/**
 * Who may do what, in real Chromium against a real monitor: a read-only monitor shows no action
 * anywhere, and a monitor with users asks the browser to log in before it shows anything.
 */
import { describe, expect, it } from 'vitest';
import { browserSuite, openBrowser } from './helpers.js';

const suite = browserSuite('access', { browser: false });

describe('access', () => {
  it('read-only mode hides every action', async () => {
    const { stack, worker } = suite;
    const url = await stack.serve({ readOnly: true });
    const failed = await stack.tasks.add.applyAsync([1, 2], { countdown: 60 });
    const browser = await openBrowser();
    try {
      const { page } = browser;
      await page.goto(url);
      await page.getByTestId('read-only').waitFor();
      await page.locator(`tr[data-worker="${worker.hostname}"] [data-status="online"]`).waitFor();

      for (const hash of [`#/task/${failed.id}`, `#/workers/${encodeURIComponent(worker.hostname)}`, '#/queues']) {
        await page.goto(`${url}${hash}`);
        await page.locator('.panel').first().waitFor();
        await page.waitForLoadState('networkidle').catch(() => undefined);
        expect(await page.locator('[data-action]').count(), hash).toBe(0);
      }
      // The pool tab's grow/shrink and autoscale forms are gone too, not only their buttons.
      await page.goto(`${url}#/workers/${encodeURIComponent(worker.hostname)}`);
      await page.getByTestId('pool-concurrency').waitFor();
      expect(await page.getByLabel('Grow or shrink by').count()).toBe(0);
      // The same pages on the writable monitor do offer them.
      await page.goto(`${stack.url}#/workers/${encodeURIComponent(worker.hostname)}`);
      await page.locator('button[data-action="Shut down"]').waitFor();
      await page.goto(`${stack.url}#/queues`);
      await page.locator(`tr[data-queue="${stack.queue}"] button[data-action="Purge"]`).waitFor();
    } finally {
      await browser.close();
      await failed.revoke();
    }
  });

  it('asks for a login when users are configured, and shows the monitor after it', async () => {
    const { stack, worker } = suite;
    const url = await stack.serve({ auth: { users: [{ username: 'ops', password: 'correct horse' }] } });

    // Headless Chromium answers a Basic challenge it has no credentials for by failing the
    // navigation with ERR_INVALID_AUTH_CREDENTIALS (a headed one shows its login prompt).
    const anonymous = await openBrowser();
    try {
      await expect(anonymous.page.goto(url)).rejects.toThrow(/ERR_INVALID_AUTH_CREDENTIALS/);
      const challenge = await anonymous.page.request.get(url);
      expect(challenge.status()).toBe(401);
      expect(challenge.headers()['www-authenticate']).toMatch(/^Basic realm=/);
      expect(await challenge.text()).not.toContain('<div id="app">');
    } finally {
      await anonymous.close();
    }

    const wrong = await openBrowser({ httpCredentials: { username: 'ops', password: 'wrong' } });
    try {
      expect((await wrong.page.goto(url))?.status()).toBe(401);
      expect(await wrong.page.locator('header.top').count()).toBe(0);
    } finally {
      await wrong.close();
    }

    const user = await openBrowser({ httpCredentials: { username: 'ops', password: 'correct horse' } });
    try {
      const { page } = user;
      expect((await page.goto(url))?.status()).toBe(200);
      await page.getByTestId('user').filter({ hasText: 'ops' }).waitFor();
      // The API calls and the live stream pass the same login.
      await page.locator(`tr[data-worker="${worker.hostname}"] [data-status="online"]`).waitFor();
      await page.getByTestId('live-status').filter({ hasText: 'Live' }).waitFor();
    } finally {
      await user.close();
    }
  });
});
