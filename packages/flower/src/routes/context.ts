/**
 * What every route needs: the monitor's model and settings, the hono environment with the
 * authenticated user, and helpers to read Flower-style arguments (query string or form body).
 */
import type { App } from '@tq/core';
import type { Context } from 'hono';
import type { Auth, AuthUser } from '../auth.js';
import type { MonitorEngine } from '../engine.js';

export type MonitorEnv = { Variables: { user: AuthUser | null } };

export interface RouteContext {
  app: App;
  engine: MonitorEngine;
  auth: Auth;
  readOnly: boolean;
  version: string;
}

/** An argument from the query string, else the form or JSON body (Tornado's `get_argument`). */
export async function argument(c: Context<MonitorEnv>, name: string): Promise<string | undefined> {
  const q = c.req.query(name);
  if (q !== undefined) return q;
  if (c.req.method !== 'POST') return undefined;
  const type = c.req.header('content-type') ?? '';
  if (type.includes('application/x-www-form-urlencoded') || type.includes('multipart/form-data')) {
    const body = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
    const v = body[name];
    return typeof v === 'string' ? v : undefined;
  }
  return undefined;
}

/** Tornado's boolean argument: absent → false; '', '0', 'false', 'no' → false. */
export function truthy(value: string | undefined): boolean {
  return value !== undefined && !['', '0', 'false', 'no', 'off'].includes(value.toLowerCase());
}

export class HttpError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409 | 503,
    message: string,
  ) {
    super(message);
  }
}

export function intArgument(value: string | undefined, name: string, fallback: number, min = 0): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new HttpError(400, `${name} must be an integer ≥ ${min}, got ${JSON.stringify(value)}`);
  return n;
}
