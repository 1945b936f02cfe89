/**
 * Task search with Flower 2.1's syntax: whitespace is AND, uppercase `OR`, parentheses and
 * `"phrases"`; qualifiers `name:`, `state:` (exact), `worker:`, `args:`, `kwargs:` (`k=v` is an
 * exact pair), `result:`; any other term matches a substring (at least 3 characters) of the
 * name, id, state, worker, args, kwargs, result or exception. No negation, as in Flower.
 * A query that does not parse throws a SearchError (HTTP 400).
 */
import { TqError } from '@tq/core';

export class SearchError extends TqError {
  constructor(message: string) {
    super('SEARCH_ERROR', `bad search: ${message}`);
  }
}

/** The fields a search looks at (a subset of a task record). */
export interface Searchable {
  uuid: string;
  name: string | null;
  state: string;
  worker: string | null;
  args: string | null;
  kwargs: string | null;
  result: string | null;
  exception: string | null;
}

export type Predicate = (task: Searchable) => boolean;

const QUALIFIERS = new Set(['name', 'state', 'worker', 'args', 'kwargs', 'result']);
const MIN_TERM = 3;

type Token = { kind: 'open' | 'close' | 'or' } | { kind: 'term'; field: string | null; value: string };

function unquote(text: string): string {
  return text.startsWith('"') && text.endsWith('"') && text.length >= 2 ? text.slice(1, -1).replace(/\\"/g, '"') : text;
}

function tokenize(query: string): Token[] {
  const tokens: Token[] = [];
  // A token: a parenthesis, or a run of non-space characters where "…" may hold spaces.
  const re = /\s*(\(|\)|(?:[^\s()"]|"(?:\\.|[^"\\])*")+|")/gy;
  let m: RegExpExecArray | null;
  let pos = 0;
  while (pos < query.length && (m = re.exec(query)) !== null) {
    pos = re.lastIndex;
    const text = m[1]!;
    if (text === '(') tokens.push({ kind: 'open' });
    else if (text === ')') tokens.push({ kind: 'close' });
    else if (text === '"') throw new SearchError('a quote is not closed');
    else if (text === 'OR') tokens.push({ kind: 'or' });
    else {
      const colon = text.indexOf(':');
      const field = colon > 0 ? text.slice(0, colon).toLowerCase() : '';
      if (colon > 0 && QUALIFIERS.has(field)) {
        const value = unquote(text.slice(colon + 1));
        if (value === '') throw new SearchError(`${field}: needs a value`);
        tokens.push({ kind: 'term', field, value });
      } else tokens.push({ kind: 'term', field: null, value: unquote(text) });
    }
    if (/^\s*$/.test(query.slice(pos))) break;
  }
  return tokens;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function includes(haystack: string | null, needle: string): boolean {
  return haystack !== null && haystack.toLowerCase().includes(needle);
}

function termPredicate(field: string | null, raw: string): Predicate {
  const value = raw.toLowerCase();
  switch (field) {
    case 'state': {
      const state = raw.toUpperCase();
      return (t) => t.state === state;
    }
    case 'name':
      return (t) => includes(t.name, value);
    case 'worker':
      return (t) => includes(t.worker, value);
    case 'args':
      return (t) => includes(t.args, value);
    case 'result':
      return (t) => includes(t.result, value);
    case 'kwargs': {
      const eq = raw.indexOf('=');
      if (eq <= 0) return (t) => includes(t.kwargs, value);
      const key = escapeRegExp(raw.slice(0, eq).trim());
      const expected = escapeRegExp(raw.slice(eq + 1).trim().replace(/^['"]|['"]$/g, ''));
      // `{'k': 5}` (Python repr) or `{"k": 5}` (JSON): the value whole, quoted or not.
      const pair = new RegExp(`['"]${key}['"]\\s*:\\s*(['"]?)${expected}\\1\\s*[,}]`);
      return (t) => t.kwargs !== null && pair.test(t.kwargs);
    }
    default: {
      if (raw.length < MIN_TERM) throw new SearchError(`${JSON.stringify(raw)} is too short: search terms need at least ${MIN_TERM} characters`);
      return (t) =>
        includes(t.name, value) ||
        includes(t.uuid, value) ||
        includes(t.state, value) ||
        includes(t.worker, value) ||
        includes(t.args, value) ||
        includes(t.kwargs, value) ||
        includes(t.result, value) ||
        includes(t.exception, value);
    }
  }
}

/** Parse a search; null for an empty one (matches everything). */
export function parseSearch(query: string | null | undefined): Predicate | null {
  if (!query || !query.trim()) return null;
  const tokens = tokenize(query.trim());
  let i = 0;
  const orExpr = (): Predicate => {
    const parts = [andExpr()];
    while (tokens[i]?.kind === 'or') {
      i++;
      if (i >= tokens.length || tokens[i]!.kind === 'close' || tokens[i]!.kind === 'or') throw new SearchError('OR needs a term on both sides');
      parts.push(andExpr());
    }
    return parts.length === 1 ? parts[0]! : (t) => parts.some((p) => p(t));
  };
  const andExpr = (): Predicate => {
    const parts: Predicate[] = [];
    while (i < tokens.length && tokens[i]!.kind !== 'or' && tokens[i]!.kind !== 'close') {
      const token = tokens[i++]!;
      if (token.kind === 'open') {
        const inner = orExpr();
        if (tokens[i]?.kind !== 'close') throw new SearchError('a parenthesis is not closed');
        i++;
        parts.push(inner);
      } else if (token.kind === 'term') parts.push(termPredicate(token.field, token.value));
    }
    if (parts.length === 0) throw new SearchError(tokens[i]?.kind === 'close' ? 'unexpected )' : 'OR needs a term on both sides');
    return parts.length === 1 ? parts[0]! : (t) => parts.every((p) => p(t));
  };
  const predicate = orExpr();
  if (i < tokens.length) throw new SearchError('unexpected )');
  return predicate;
}
