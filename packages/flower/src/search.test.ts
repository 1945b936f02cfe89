import { describe, expect, it } from 'vitest';
import { parseSearch, type Searchable } from './search.js';

const task = (over: Partial<Searchable>): Searchable => ({ uuid: '7f1c0d2e-1111-4222-8333-444455556666', name: 'proj.add', state: 'SUCCESS', worker: 'w1@host', args: '(2, 3)', kwargs: "{'user': 'ann', 'n': 5}", result: '5', exception: null, ...over });
const ok = task({});
const bad = task({ uuid: 'aaaa0000-1111-4222-8333-444455556666', name: 'proj.send', state: 'FAILURE', worker: 'w2@host', args: "('mail',)", kwargs: '{}', result: null, exception: "ValueError('no mailbox')" });
const match = (q: string) => [ok, bad].filter(parseSearch(q)!).map((t) => t.name);

describe('Flower 2.1 search', () => {
  it('ANDs terms, ORs with OR, groups with parentheses and reads phrases', () => {
    expect(match('state:success')).toEqual(['proj.add']);
    expect(match('state:SUCCESS OR state:FAILURE')).toEqual(['proj.add', 'proj.send']);
    expect(match('name:proj worker:w2')).toEqual(['proj.send']);
    expect(match('(name:add OR name:send) state:FAILURE')).toEqual(['proj.send']);
    expect(match('"no mailbox"')).toEqual(['proj.send']);
    expect(match('args:"(2, 3)"')).toEqual(['proj.add']);
  });

  it('matches kwargs pairs exactly and other terms as substrings', () => {
    expect(match('kwargs:user=ann')).toEqual(['proj.add']);
    expect(match('kwargs:n=5')).toEqual(['proj.add']);
    expect(match('kwargs:user=an')).toEqual([]);
    expect(match('result:5')).toEqual(['proj.add']);
    expect(match('aaaa0000-1111')).toEqual(['proj.send']);
    expect(match('mailbox')).toEqual(['proj.send']);
  });

  it('rejects queries it cannot read, with a reason', () => {
    expect(parseSearch('')).toBeNull();
    expect(() => parseSearch('(state:SUCCESS')).toThrow(/parenthesis/);
    expect(() => parseSearch('state:SUCCESS)')).toThrow(/unexpected \)/);
    expect(() => parseSearch('OR name:x')).toThrow(/OR needs a term/);
    expect(() => parseSearch('name:x OR')).toThrow(/OR needs a term/);
    expect(() => parseSearch('ab')).toThrow(/at least 3 characters/);
    expect(() => parseSearch('state:')).toThrow(/needs a value/);
    expect(() => parseSearch('"open')).toThrow(/quote/);
  });
});
