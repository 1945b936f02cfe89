/**
 * Tasks in real Chromium against a real monitor and tq worker on Redis: a task appears live in
 * the list and its page shows args, result and runtime (escaped); a chord's page draws its header
 * and body; revoking from the UI (through the confirm dialog) makes the task REVOKED.
 */
import { chord, type GroupResult } from '@tq/canvas';
import { describe, expect, it } from 'vitest';
import { browserSuite } from './helpers.js';

const suite = browserSuite('tasks');

async function taskState(id: string): Promise<string | undefined> {
  const response = await fetch(`${suite.stack.url}api/ui/tasks/${id}`);
  return response.ok ? ((await response.json()) as { state: string }).state : undefined;
}

describe('tasks', () => {
  it('a task appears live in the list, and its page shows args, result and runtime', async () => {
    const { stack, browser } = suite;
    const { page } = browser;
    await page.goto(`${stack.url}#/tasks`);
    await page.getByTestId('tasks-table').waitFor();
    await page.getByTestId('live-status').filter({ hasText: 'Live' }).waitFor();

    const result = await stack.tasks.add.delay(20, 22);
    expect(await result.get({ timeout: 15 })).toBe(42);
    const row = page.locator(`tr[data-task="${result.id}"]`);
    await row.locator('[data-state="SUCCESS"]').waitFor();
    expect(await row.locator('td').first().textContent()).toBe('ui.add');

    await row.locator(`a[href="#/task/${result.id}"]`).click();
    await page.getByTestId('task-result').waitFor();
    expect(await page.getByTestId('task-args').textContent()).toBe('(20, 22)');
    expect(await page.getByTestId('task-result').textContent()).toBe('42');
    expect(await page.getByTestId('task-runtime').textContent()).toMatch(/^\d+(\.\d+)? (ms|s)$/);
    expect(await page.locator('.title-row [data-state]').textContent()).toBe('SUCCESS');
  });

  it('shows markup from a task as text, never as HTML', async () => {
    const { stack, browser } = suite;
    const { page } = browser;
    const markup = '<img src=x onerror="window.pwned=1"><b id="injected">bold</b>';
    const result = await stack.tasks.echo.delay(markup);
    await result.get({ timeout: 15 });
    await page.goto(`${stack.url}#/task/${result.id}`);
    await page.getByTestId('task-result').waitFor();
    expect(await page.getByTestId('task-args').textContent()).toContain(markup);
    expect(await page.getByTestId('task-result').textContent()).toContain(markup);
    expect(await page.locator('#injected').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as { pwned?: number }).pwned)).toBeUndefined();
  });

  it("draws a chord's header and body as a graph", async () => {
    const { stack, browser } = suite;
    const { page } = browser;
    const body = await chord([stack.tasks.add.s(1, 1), stack.tasks.add.s(2, 2)], stack.tasks.xsum.s()).applyAsync();
    expect(await body.get({ timeout: 20 })).toBe(6);
    const header = (body.parent as GroupResult).results.map((r) => r.id);
    await page.goto(`${stack.url}#/task/${header[0]}`);
    const svg = page.locator('svg.workflow');
    await svg.waitFor();
    // Every member of the header and the body, each with its state, joined by chord edges.
    await svg.locator(`[data-node="${body.id}"][data-kind="chord-body"][data-state="SUCCESS"]`).waitFor();
    for (const id of header) await svg.locator(`[data-node="${id}"][data-kind="task"][data-state="SUCCESS"]`).waitFor();
    expect(await svg.locator('path.edge[data-kind="chord"]').count()).toBeGreaterThanOrEqual(header.length);
    expect(await svg.locator(`[data-node="${body.id}"] .node-name`).textContent()).toBe('ui.xsum');

    // A node links to its task's page.
    await svg.locator(`a[href="#/task/${body.id}"]`).click();
    await page.getByTestId('task-result').filter({ hasText: '6' }).waitFor();
  });

  it('revokes a task from its page after confirmation', async () => {
    const { stack, browser } = suite;
    const { page } = browser;
    // Held by the worker until its countdown: revoked meanwhile, it never runs.
    const result = await stack.tasks.add.applyAsync([5, 5], { countdown: 8 });
    await page.goto(`${stack.url}#/task/${result.id}`);
    const revoke = page.locator('button[data-action="Revoke"]');
    await expect.poll(() => revoke.isEnabled(), { timeout: 15_000 }).toBe(true);
    await revoke.click();
    const dialog = page.locator('dialog.confirm');
    await dialog.waitFor();
    expect(await dialog.locator('h2').textContent()).toBe('Revoke task');
    await dialog.locator('button[type="submit"]').click();
    await page.locator('.toast-ok').filter({ hasText: 'Revoke task: done' }).waitFor();
    await page.locator('.title-row [data-state="REVOKED"]').waitFor({ timeout: 30_000 });
    expect(await taskState(result.id)).toBe('REVOKED');
  });
});
