/**
 * Every page of the UI, served under a URL prefix, after some real work (successes, a failure,
 * a chord, a task waiting on its countdown): each shows that work, and none throws; filters,
 * search and retry along the way. With
 * TQ_FLOWER_SCREENSHOTS=1 the run refreshes docs/screenshots/ for the README.
 */
import { chord } from '@tq/canvas';
import { describe, expect, it } from 'vitest';
import { browserSuite, screenshot } from './helpers.js';

const suite = browserSuite('tour', { prefix: '/flower' });

describe('a tour of the UI under /flower/', () => {
  it('shows the work on every page', async () => {
    const { stack, browser, worker } = suite;
    const { page } = browser;
    const { add, fail, xsum } = stack.tasks;
    expect(stack.url).toMatch(/\/flower\/$/);
    for (let i = 0; i < 12; i++) await (await add.delay(i, i)).get({ timeout: 15 });
    const failed = await fail.delay('the input was negative');
    await expect(failed.get({ timeout: 15 })).rejects.toThrow(/refused/);
    const body = await chord([add.s(1, 1), add.s(2, 2), add.s(3, 3)], xsum.s()).applyAsync();
    expect(await body.get({ timeout: 15 })).toBe(12);
    const waiting = await add.applyAsync([7, 7], { countdown: 120 });

    await page.goto(stack.url);
    await page.locator(`tr[data-worker="${worker.hostname}"] [data-status="online"]`).waitFor();
    await expect.poll(() => page.locator('[data-card="Failed"] .card-value').textContent()).toBe('1');
    await page.locator('.chart canvas').first().waitFor();
    await screenshot(page, 'dashboard');

    await page.locator('nav.nav a', { hasText: 'Tasks' }).click();
    await page.locator(`tr[data-task="${failed.id}"] [data-state="FAILURE"]`).waitFor();
    await page.locator(`tr[data-task="${waiting.id}"] [data-state="RECEIVED"]`).waitFor();
    await screenshot(page, 'tasks');
    // The state filter asks the server for failures only.
    await page.locator('[data-filter-state="FAILURE"]').click();
    await page.getByTestId('tasks-total').filter({ hasText: '1–1 of 1' }).waitFor();
    expect(page.url()).toContain('#/tasks?state=FAILURE');
    // So does the search box, with Flower 2.1's syntax.
    await page.locator('[data-filter-state="ALL"]').click();
    await expect.poll(() => page.getByTestId('tasks-total').textContent()).toMatch(/ of (1[0-9]|2[0-9])$/);
    await page.getByLabel('Search').fill('name:ui.xsum');
    await page.getByLabel('Search').press('Enter');
    await expect.poll(() => page.getByTestId('tasks-total').textContent()).toBe('1–1 of 1');
    await page.locator(`tr[data-task="${body.id}"]`).waitFor();
    expect(page.url()).toContain('search=name%3Aui.xsum');

    await page.goto(`${stack.url}#/task/${failed.id}`);
    await page.getByTestId('task-traceback').waitFor();
    expect(await page.getByTestId('task-exception').textContent()).toContain('refused: the input was negative');
    // Retry sends the failed task again with its arguments, and opens the new task's page.
    await page.locator('button[data-action="Retry"]').click();
    await page.locator('dialog.confirm button[type="submit"]').click();
    await page.waitForURL((u) => u.hash.startsWith('#/task/') && !u.hash.includes(failed.id));
    await page.getByTestId('task-exception').filter({ hasText: 'refused: the input was negative' }).waitFor();
    expect(await page.getByTestId('task-args').textContent()).toBe("('the input was negative',)");

    await page.goto(`${stack.url}#/task/${body.id}`);
    await page.locator(`svg.workflow [data-node="${body.id}"]`).waitFor();
    await screenshot(page, 'task');

    await page.goto(`${stack.url}#/workers/${encodeURIComponent(worker.hostname)}`);
    await page.getByTestId('pool-concurrency').filter({ hasText: '4' }).waitFor();
    await page.getByRole('tab', { name: 'Limits' }).click();
    await page.locator('tr[data-limit-task="ui.add"]').waitFor();
    await page.getByRole('tab', { name: 'Pool' }).click();
    await screenshot(page, 'worker');

    await page.locator('nav.nav a', { hasText: 'Queues' }).click();
    // The countdown task is held by the worker, so the queue itself is empty.
    await page.locator(`tr[data-queue="${stack.queue}"] [data-testid="queue-messages"]`).waitFor();
    await screenshot(page, 'queues');

    await page.locator('nav.nav a', { hasText: 'Beat' }).click();
    await page.locator('tr[data-entry="add-every-30s"]').waitFor();
    expect(await page.locator('tr[data-entry="add-every-30s"] td').nth(1).textContent()).toBe('ui.add');
    await screenshot(page, 'beat');

    await page.locator('nav.nav a', { hasText: 'Graphs' }).click();
    await page.locator('[data-testid^="Runtime"] .pbar-value').first().waitFor();
    await expect.poll(() => page.locator('[data-testid^="Runtime"] .pbar-value').first().textContent()).not.toBe('—');
    expect(await page.locator('.chart canvas').count()).toBeGreaterThanOrEqual(1);
    await screenshot(page, 'graphs');
    await waiting.revoke();
  });
});
