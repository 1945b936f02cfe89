/**
 * Type tests: what the canvas checks at compile time (see the README's "What the types check").
 * Checked by `vitest --typecheck` (part of `npm test`) and `npm run typecheck`; every
 * `@ts-expect-error` line is a workflow that must not compile.
 */
import { createApp, type AsyncResult, type Signature } from '@tq/core';
import { describe, expectTypeOf, it } from 'vitest';
import { chain, chord, chunks, group, xmap, type Chain, type Chord, type Group, type GroupResult } from '../src/index.js';

const app = createApp();
const add = app.task('tasks.add', (x: number, y: number) => x + y);
const upper = app.task('tasks.upper', (s: string) => s.toUpperCase());
const xsum = app.task('tasks.xsum', (numbers: number[]) => numbers.reduce((a, b) => a + b, 0));
const len = app.task('tasks.len', (s: string) => s.length);
const untyped = app.signature('tasks.anything');

describe('chain', () => {
  it('types the chain by its first step arguments and last step result', () => {
    expectTypeOf(chain(add.s(1, 2), add.s(3), add.s(4))).toEqualTypeOf<Chain<[], number>>();
    expectTypeOf(chain(add.s(1), add.s(3))).toEqualTypeOf<Chain<[x: number], number>>();
    expectTypeOf(chain(upper.s('a'), len.s())).toEqualTypeOf<Chain<[], number>>();
    expectTypeOf(chain(add.s(1, 2), add.s(3)).applyAsync()).toEqualTypeOf<Promise<AsyncResult<number>>>();
    // The iterable form is for steps built at run time: not checked, and untyped.
    expectTypeOf(chain([add.s(1, 2), add.s(3)])).toEqualTypeOf<Chain<unknown[], unknown>>();
    chain([add.s(1, 2), upper.s()]);
  });

  it('rejects a step that cannot take the previous result', () => {
    // @ts-expect-error upper takes a string, add returns a number
    chain(add.s(1, 2), upper.s());
    // @ts-expect-error the third step gets a string
    chain(add.s(1, 2), add.s(3), upper.s());
    // @ts-expect-error add.s() still needs two arguments: the previous result fills only one
    chain(add.s(1, 2), add.s());
    // @ts-expect-error add.s(1, 2) is complete: a previous result would be one argument too many
    chain(add.s(1, 2), add.s(1, 2));
  });

  it('accepts immutable steps and untyped signatures anywhere', () => {
    chain(add.s(1, 2), upper.si('x'), len.s());
    chain(add.s(1, 2), untyped, upper.s());
    chain(untyped, add.s(1));
  });

  it('call-time arguments are the first step’s', () => {
    void chain(add.s(1), add.s(2)).delay(5);
    // @ts-expect-error the first step takes a number
    void chain(add.s(1), add.s(2)).delay('5');
  });

  it('pipe() checks the same thing', () => {
    expectTypeOf(add.s(1, 2).pipe(add.s(3))).toEqualTypeOf<Signature<[], number>>();
    expectTypeOf(add.s(1, 2).pipe(add.s(3)).pipe(add.s(4))).toEqualTypeOf<Signature<[], number>>();
    expectTypeOf(chain(add.s(1, 2), add.s(3)).pipe(add.s(4))).toEqualTypeOf<Chain<[], number>>();
    // @ts-expect-error upper takes a string
    add.s(1, 2).pipe(upper.s());
    // @ts-expect-error on a chain too
    chain(add.s(1, 2), add.s(3)).pipe(upper.s());
  });
});

describe('group', () => {
  it('results are a tuple for a tuple of members, an array for an iterable', () => {
    const g = group([add.s(1, 1), upper.s('a')]);
    expectTypeOf(g.applyAsync()).toEqualTypeOf<Promise<GroupResult<[number, string]>>>();
    expectTypeOf(group(add.s(1, 1), add.s(2, 2)).applyAsync()).toEqualTypeOf<Promise<GroupResult<[number, number]>>>();
    const members = [1, 2, 3].map((i) => add.s(i, i));
    expectTypeOf(group(members)).toEqualTypeOf<Group<[], number[]>>();
    function* gen() {
      yield add.s(1);
    }
    expectTypeOf(group(gen()).applyAsync()).toEqualTypeOf<Promise<GroupResult<number[]>>>();
  });

  it('GroupResult is an AsyncResult of the list', async () => {
    const r = await group([add.s(1, 1), add.s(2, 2)]).applyAsync();
    expectTypeOf(r.get()).toEqualTypeOf<Promise<[number, number]>>();
    expectTypeOf(r).toMatchTypeOf<AsyncResult<[number, number]>>();
  });

  it('call-time arguments must suit every mutable member', () => {
    void group([add.s(1), add.s(2)]).delay(5);
    void group([add.s(1), upper.si('x')]).delay(5);
    // @ts-expect-error the members take a number
    void group([add.s(1), add.s(2)]).delay('5');
  });

  it('a group step gets the previous result in every member; group.pipe(body) is a chord', () => {
    chain(add.s(1, 1), group([add.s(1), add.s(2)]), xsum.s());
    // @ts-expect-error upper cannot take the number add returns
    chain(add.s(1, 1), group([add.s(1), upper.s()]));
    // @ts-expect-error len takes a string, not the group's [number, number]
    chain(add.s(1, 1), group([add.s(1), add.s(2)]), len.s());
    expectTypeOf(group([add.s(1, 1), add.s(2, 2)]).pipe(xsum.s())).toEqualTypeOf<Chord<[], number>>();
    // @ts-expect-error the body gets number[]
    group([add.s(1, 1), add.s(2, 2)]).pipe(upper.s());
  });
});

describe('chord', () => {
  it('the body gets the header results and gives the chord result', () => {
    expectTypeOf(chord([add.s(1, 1), add.s(2, 2)], xsum.s())).toEqualTypeOf<Chord<[], number>>();
    expectTypeOf(chord(group([add.s(1), add.s(2)]), xsum.s())).toEqualTypeOf<Chord<[x: number], number>>();
    expectTypeOf(chord([add.s(1, 1)], xsum.s()).applyAsync()).toEqualTypeOf<Promise<AsyncResult<number>>>();
    // @ts-expect-error upper takes a string, not number[]
    chord([add.s(1, 1), add.s(2, 2)], upper.s());
  });

  it('the callable form chord(header)(body)', () => {
    expectTypeOf(chord([add.s(1, 1), add.s(2, 2)])(xsum.s())).toEqualTypeOf<Promise<AsyncResult<number>>>();
    // @ts-expect-error upper takes a string
    void chord([add.s(1, 1), add.s(2, 2)])(upper.s());
  });
});

describe('map, starmap, chunks', () => {
  it('results are lists (of lists for chunks), and items must fit the task', () => {
    expectTypeOf(add.map([1, 2]).applyAsync()).toEqualTypeOf<Promise<AsyncResult<number[]>>>();
    expectTypeOf(xmap(upper, ['a']).applyAsync()).toEqualTypeOf<Promise<AsyncResult<string[]>>>();
    expectTypeOf(chunks(add, [[1, 2]], 10).applyAsync()).toEqualTypeOf<Promise<GroupResult<number[][]>>>();
    expectTypeOf(chunks(add, [[1, 2]], 10).group()).toEqualTypeOf<Group<unknown[], number[][]>>();
    // @ts-expect-error add takes numbers
    chunks(add, [['a', 'b']], 2);
    // @ts-expect-error upper takes strings
    xmap(upper, [1]);
  });
});
