/**
 * Basic authentication with roles, and the CSRF token actions must carry. Passwords are compared
 * in constant time (over SHA-256 digests, so lengths leak nothing either). Browsers send basic
 * credentials to any page that asks, so a cross-site form could still post: each user's CSRF
 * token is an HMAC of the user name under a per-monitor secret, readable only by a page that
 * can read this origin's `/api/ui/session`.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ConfigurationError } from '@tq/core';
import type { MonitorUser, Role } from './types.js';

export interface AuthUser {
  username: string;
  role: Role;
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export class Auth {
  private readonly users: Array<{ username: Buffer; password: Buffer; user: AuthUser }>;
  private readonly secret: Buffer;

  constructor(users: MonitorUser[] | undefined, secret?: string) {
    this.users = (users ?? []).map((u) => {
      if (!u.username || u.username.includes(':')) throw new ConfigurationError(`auth: a user name must be non-empty and contain no colon, got ${JSON.stringify(u.username)}`);
      if (!u.password) throw new ConfigurationError(`auth: user ${u.username} has an empty password`);
      const role = u.role ?? 'admin';
      if (role !== 'admin' && role !== 'read-only') throw new ConfigurationError(`auth: role must be 'admin' or 'read-only', got ${JSON.stringify(role)}`);
      return { username: digest(u.username), password: digest(u.password), user: { username: u.username, role } };
    });
    this.secret = secret ? Buffer.from(secret) : randomBytes(32);
  }

  get enabled(): boolean {
    return this.users.length > 0;
  }

  /** The user an `Authorization: Basic …` header names, or null. Every user is checked, so timing says nothing. */
  verify(header: string | undefined | null): AuthUser | null {
    if (!header) return null;
    const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
    if (!m) return null;
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return null;
    const name = digest(decoded.slice(0, colon));
    const pass = digest(decoded.slice(colon + 1));
    let found: AuthUser | null = null;
    for (const u of this.users) {
      const ok = timingSafeEqual(u.username, name) && timingSafeEqual(u.password, pass);
      if (ok && !found) found = u.user;
    }
    return found;
  }

  csrfToken(user: AuthUser | null): string {
    return createHmac('sha256', this.secret)
      .update(user ? `user:${user.username}` : 'anonymous')
      .digest('base64url');
  }

  checkCsrf(user: AuthUser | null, token: string | undefined | null): boolean {
    if (!token) return false;
    const expected = Buffer.from(this.csrfToken(user));
    const given = Buffer.from(token);
    return expected.length === given.length && timingSafeEqual(expected, given);
  }
}

/** `user:pass` (the CLI's --basic-auth) as a user. */
export function parseBasicAuth(spec: string, role: Role = 'admin'): MonitorUser {
  const colon = spec.indexOf(':');
  if (colon <= 0 || colon === spec.length - 1) throw new ConfigurationError('--basic-auth must be user:password');
  return { username: spec.slice(0, colon), password: spec.slice(colon + 1), role };
}
