/**
 * Reading the argument text events carry (`argsrepr`, `kwargsrepr`: Python reprs such as
 * `(2, 'a', {'k': None})`, or JSON) back into values, to re-send a task with the same
 * arguments. Only literals are read (numbers, strings, None/True/False, tuples, lists, dicts);
 * anything else, including text Celery truncated with `...`, is refused. Nothing is evaluated.
 */
import { TqError } from '@tq/core';

export class LiteralError extends TqError {
  constructor(message: string) {
    super('LITERAL_ERROR', message);
  }
}

export function parsePyLiteral(text: string): unknown {
  let i = 0;
  const ws = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const fail = (what: string): never => {
    throw new LiteralError(`cannot read ${JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text)} as literal values (${what} at ${i})`);
  };
  const value = (): unknown => {
    ws();
    const ch = text[i];
    if (ch === undefined) return fail('unexpected end');
    if (ch === '(' || ch === '[') {
      const close = ch === '(' ? ')' : ']';
      i++;
      const out: unknown[] = [];
      ws();
      while (text[i] !== close) {
        out.push(value());
        ws();
        if (text[i] === ',') i++;
        else if (text[i] !== close) fail(`expected , or ${close}`);
        ws();
      }
      i++;
      return out;
    }
    if (ch === '{') {
      i++;
      const out: Record<string, unknown> = {};
      ws();
      while (text[i] !== '}') {
        const key = value();
        ws();
        if (text[i] !== ':') fail('expected :');
        i++;
        out[String(key)] = value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] !== '}') fail('expected , or }');
        ws();
      }
      i++;
      return out;
    }
    if (ch === "'" || ch === '"') {
      i++;
      let s = '';
      while (text[i] !== ch) {
        if (i >= text.length) fail('unterminated string');
        if (text[i] === '\\') {
          const e = text[++i];
          const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', '0': '\0' };
          if (e === 'x' || e === 'u') {
            const len = e === 'x' ? 2 : 4;
            s += String.fromCharCode(parseInt(text.slice(i + 1, i + 1 + len), 16));
            i += len;
          } else s += map[e!] ?? `\\${e}`;
          i++;
        } else s += text[i++];
      }
      i++;
      return s;
    }
    const m = /^(None|null|True|true|False|false|-?\d+(\.\d+)?([eE][-+]?\d+)?)/.exec(text.slice(i));
    if (!m) return fail('not a literal');
    i += m[0].length;
    if (m[0] === 'None' || m[0] === 'null') return null;
    if (m[0] === 'True' || m[0] === 'true') return true;
    if (m[0] === 'False' || m[0] === 'false') return false;
    return Number(m[0]);
  };
  const result = value();
  ws();
  if (i < text.length) fail('trailing text');
  return result;
}
