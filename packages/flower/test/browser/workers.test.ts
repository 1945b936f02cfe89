/**
 * A worker's page in real Chromium against a real monitor and tq worker on Redis: its pool and
 * queues as the worker reports them, and remote-control actions, each confirmed in a dialog,
 * that the worker then carries out (pool grow, add and cancel consumer), and a queue purge.
 */
import { describe, expect, it } from 'vitest';
import { browserSuite } from './helpers.js';

const suite = browserSuite('pool');

async function confirm(): Promise<void> {
  const dialog = suite.browser.page.locator('dialog.confirm');
  await dialog.waitFor();
  await dialog.locator('button[type="submit"]').click();
  await dialog.waitFor({ state: 'hidden' });
}

describe('worker page', () => {
  it('grows the pool after confirmation, and the page shows the new size', async () => {
    const { stack, browser, worker } = suite;
    const { page } = browser;
    await page.goto(`${stack.url}#/workers/${encodeURIComponent(worker.hostname)}`);
    const concurrency = page.getByTestId('pool-concurrency');
    await concurrency.filter({ hasText: '4' }).waitFor();
    await page.getByLabel('Grow or shrink by').fill('2');
    await page.locator('button[data-action="Grow"]').click();
    expect(await page.locator('dialog.confirm .confirm-body').textContent()).toContain(`Add 2 process(es) to ${worker.hostname}'s pool?`);
    await confirm();
    await concurrency.filter({ hasText: '6' }).waitFor({ timeout: 25_000 });
  });

  it('adds a consumer for a queue, and the queue shows up in the Queues tab', async () => {
    const { stack, browser, worker } = suite;
    const { page } = browser;
    const extra = `${stack.queue}-extra`;
    await page.getByRole('tab', { name: 'Queues' }).click();
    await page.locator(`tr[data-queue="${stack.queue}"]`).waitFor();
    await page.getByPlaceholder('queue name').fill(extra);
    await page.locator('button[data-action="Add consumer"]').click();
    await confirm();
    await page.locator(`tr[data-queue="${extra}"]`).waitFor({ timeout: 25_000 });
    // A task sent to the new queue is consumed by this worker.
    const result = await stack.tasks.add.applyAsync([1, 2], { queue: extra });
    expect(await result.get({ timeout: 15 })).toBe(3);
  });

  it('cancels a consumer, and purges the messages that then wait in its queue', async () => {
    const { stack, browser, worker } = suite;
    const { page } = browser;
    await page.goto(`${stack.url}#/workers/${encodeURIComponent(worker.hostname)}`);
    await page.getByRole('tab', { name: 'Queues' }).click();
    await page.locator(`tr[data-queue="${stack.queue}"] button[data-action="Cancel consumer"]`).click();
    expect(await page.locator('dialog.confirm .confirm-body').textContent()).toContain(`Stop ${worker.hostname} consuming from ${stack.queue}?`);
    await confirm();
    await page.locator(`tr[data-queue="${stack.queue}"]`).waitFor({ state: 'detached', timeout: 25_000 });

    // Nobody consumes the queue now: what is sent there waits, and the queues page counts it.
    for (let i = 0; i < 3; i++) await stack.tasks.add.delay(i, 1);
    await page.goto(`${stack.url}#/queues`);
    const row = page.locator(`tr[data-queue="${stack.queue}"]`);
    await row.getByTestId('queue-messages').filter({ hasText: /^3$/ }).waitFor({ timeout: 25_000 });
    await row.locator('button[data-action="Purge"]').click();
    expect(await page.locator('dialog.confirm .confirm-body').textContent()).toContain(`Delete every message waiting in ${stack.queue}`);
    await confirm();
    await page.locator('.toast-ok').filter({ hasText: `Purged 3 message(s) from ${stack.queue}` }).waitFor();
    await row.getByTestId('queue-messages').filter({ hasText: /^0$/ }).waitFor();
  });
});
