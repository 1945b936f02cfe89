/**
 * Celery's `saferepr`: the Python-style, truncated text of a value that goes into the
 * `argsrepr`/`kwargsrepr` headers, events and logs (`(2, 3)`, `{'y': 'é'}`).
 *
 * Celery's version never escapes anything but the quote in strings, stops at `maxlen` characters
 * with `, ...` and keeps nesting to three levels; this one follows those rules so that monitors
 * show tq's messages exactly as they show Python's.
 */
import { pyIsoDatetime } from './python-json.js';
import { PyDate, PyDecimal, PyTime, PyUUID } from './python-types.js';

export interface ReprOptions {
  /** Stop after about this many characters (Celery's argsrepr/kwargsrepr use 1024). */
  maxlen?: number;
  /** Deeper containers are written as `[...]`. Default 3. */
  maxlevels?: number;
}

class Budget {
  constructor(public left: number) {}
}

class Overflow extends Error {}

function pyNumber(n: number): string {
  if (Number.isNaN(n)) return 'nan';
  if (n === Infinity) return 'inf';
  if (n === -Infinity) return '-inf';
  return String(n);
}

function truncate(s: string, maxlen: number): string {
  return s.length > maxlen ? `${s.slice(0, maxlen)}...` : s;
}

function reprScalar(value: unknown, budget: Budget): string | undefined {
  switch (typeof value) {
    case 'string':
      return `'${truncate(value, Math.max(budget.left, 0)).replace(/'/g, "\\'")}'`;
    case 'number':
      return pyNumber(value);
    case 'bigint':
      return value.toString();
    case 'boolean':
      return value ? 'True' : 'False';
    case 'undefined':
      return 'None';
    case 'function':
      return `<function ${value.name || 'anonymous'}>`;
    case 'symbol':
      return value.toString();
    default:
      break;
  }
  if (value === null) return 'None';
  if (value instanceof Date) {
    return Number.isNaN(value.getTime())
      ? 'datetime.datetime(invalid)'
      : `datetime.datetime.fromisoformat('${pyIsoDatetime(value)}')`;
  }
  if (value instanceof Uint8Array) {
    const text = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    return `b'${truncate(text.toString('utf8'), Math.max(budget.left, 0))}'`;
  }
  if (value instanceof PyDate) return `datetime.date.fromisoformat('${value.iso}')`;
  if (value instanceof PyTime) return `datetime.time.fromisoformat('${value.iso}')`;
  if (value instanceof PyDecimal) return `Decimal('${value.value}')`;
  if (value instanceof PyUUID) return `UUID('${value.toString()}')`;
  return undefined;
}

function emit(out: string[], text: string, budget: Budget): void {
  if (budget.left <= 0) throw new Overflow();
  out.push(text);
  budget.left -= text.length;
}

function walk(value: unknown, out: string[], budget: Budget, level: number, maxlevels: number, asTuple: boolean, seen: Set<object>): void {
  const scalar = reprScalar(value, budget);
  if (scalar !== undefined) {
    emit(out, scalar, budget);
    return;
  }
  const obj = value as object;
  const isList = Array.isArray(obj) || obj instanceof Set;
  const items: unknown[] | null = Array.isArray(obj) ? obj : obj instanceof Set ? [...obj] : null;
  const [open, close] = items
    ? asTuple
      ? ['(', items.length === 1 ? ',)' : ')']
      : obj instanceof Set
        ? ['{', '}']
        : ['[', ']']
    : ['{', '}'];
  if (maxlevels && level >= maxlevels) {
    emit(out, `${open}...${close}`, budget);
    return;
  }
  if (seen.has(obj)) {
    emit(out, `<Recursion on ${isList ? 'list' : 'dict'} with id=0>`, budget);
    return;
  }
  seen.add(obj);
  emit(out, open, budget);
  try {
    if (items) {
      items.forEach((item, i) => {
        if (i > 0) emit(out, ', ', budget);
        walk(item, out, budget, level + 1, maxlevels, false, seen);
      });
    } else {
      const entries = obj instanceof Map ? [...obj.entries()] : Object.entries(obj);
      entries.forEach(([k, v], i) => {
        if (i > 0) emit(out, ', ', budget);
        walk(k, out, budget, level + 1, maxlevels, false, seen);
        emit(out, ': ', budget);
        walk(v, out, budget, level + 1, maxlevels, false, seen);
      });
    }
  } catch (err) {
    if (err instanceof Overflow) out.push(close);
    throw err;
  }
  seen.delete(obj);
  out.push(close);
  budget.left -= close.length;
}

/** `saferepr(value, maxlen)`. With `asTuple`, a top-level array is written as a Python tuple. */
export function pyRepr(value: unknown, options: ReprOptions & { asTuple?: boolean } = {}): string {
  const out: string[] = [];
  const budget = new Budget(options.maxlen ?? Number.POSITIVE_INFINITY);
  try {
    walk(value, out, budget, 0, options.maxlevels ?? 3, options.asTuple ?? false, new Set());
  } catch (err) {
    if (!(err instanceof Overflow)) throw err;
    const closers = out.splice(out.length - countTrailingClosers(out));
    out.push(', ...', ...closers);
  }
  return out.join('');
}

function countTrailingClosers(out: string[]): number {
  let n = 0;
  for (let i = out.length - 1; i >= 0 && /^,?[)\]}]$/.test(out[i]!); i--) n++;
  return n;
}

/** The `argsrepr` header: positional arguments as a Python tuple, at most 1024 characters. */
export function argsRepr(args: readonly unknown[], maxlen = 1024): string {
  // Fast path for the common case: a few numbers, booleans or short plain strings.
  if (args.length <= 8) {
    let out = '(';
    let simple = true;
    for (let i = 0; i < args.length && simple; i++) {
      const v = args[i];
      if (i > 0) out += ', ';
      if (typeof v === 'number' && Number.isFinite(v)) out += String(v);
      else if (typeof v === 'boolean') out += v ? 'True' : 'False';
      else if (v === null || v === undefined) out += 'None';
      else if (typeof v === 'string' && v.length <= 64 && !v.includes("'")) out += `'${v}'`;
      else simple = false;
    }
    if (simple) {
      out += args.length === 1 ? ',)' : ')';
      if (out.length <= maxlen) return out;
    }
  }
  return pyRepr(args, { maxlen, asTuple: true });
}

/** The `kwargsrepr` header: keyword arguments as a Python dict, at most 1024 characters. */
export function kwargsRepr(kwargs: Record<string, unknown>, maxlen = 1024): string {
  for (const _ in kwargs) return pyRepr(kwargs, { maxlen });
  return '{}';
}
