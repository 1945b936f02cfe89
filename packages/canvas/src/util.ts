/**
 * Helpers the canvas primitives share: turning dicts into signatures, wire options, and
 * Celery's chord-size count (`_chord._descend`).
 */
import { Signature, type App, type LinkTarget } from '@tq/core';
import type { SignatureDict } from '@tq/protocol';
import type { AnySignature } from './types.js';

/** Options in their wire (snake_case) form, as a signature's `options` dict holds them. */
export type Wire = Record<string, unknown>;

/** A signature object for a signature or a Celery dict (rebuilt with its canvas kind). */
export function toSignature(app: App, value: Signature | SignatureDict): AnySignature {
  return (value instanceof Signature ? value : app.signature(value)) as AnySignature;
}

/** The dict of a signature or dict. */
export function dictOf(value: LinkTarget): SignatureDict {
  return typeof (value as { toDict?: unknown }).toDict === 'function' ? (value as { toDict(): SignatureDict }).toDict() : (value as SignatureDict);
}

export function isKind(sig: { subtaskType: string | null }, kind: 'chain' | 'group' | 'chord'): boolean {
  return sig.subtaskType === kind;
}

/** The members of a group or chain signature (its `kwargs.tasks`). */
export function membersOf(sig: AnySignature): AnySignature[] {
  return (sig.kwargs['tasks'] as AnySignature[] | undefined) ?? [];
}

/** A string option, or undefined. */
export function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** Remove keys from a wire options dict (returns it). */
export function without(options: Wire, ...keys: string[]): Wire {
  for (const key of keys) delete options[key];
  return options;
}

/** The app of the first signature given; a clear error when there is none. */
export function appOf(items: readonly unknown[], fallback: App | undefined, what: string): App {
  for (const item of items) if (item instanceof Signature) return item.app;
  if (fallback) return fallback;
  throw new TypeError(`[tq] [canvas] ${what} needs an app: pass at least one task signature (task.s()), or { app }`);
}

/**
 * How many header completions a member of a chord header stands for (Celery's
 * `_chord._descend`): a task 1, a group the sum of its members, a chain its last non-empty
 * step, a chord its body.
 */
export function chordSize(app: App, value: AnySignature | SignatureDict): number {
  const sig = toSignature(app, value);
  if (isKind(sig, 'group')) {
    let total = 0;
    for (const member of membersOf(sig)) total += chordSize(app, member);
    return total;
  }
  if (isKind(sig, 'chain')) {
    const steps = membersOf(sig);
    for (let i = steps.length - 1; i >= 0; i--) {
      const size = chordSize(app, steps[i]!);
      if (size > 0) return size;
    }
    return 0;
  }
  if (isKind(sig, 'chord')) {
    const body = sig.kwargs['body'] as AnySignature | null | undefined;
    return body ? chordSize(app, body) : 0;
  }
  return 1;
}
