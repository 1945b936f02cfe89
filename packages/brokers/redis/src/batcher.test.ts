import { describe, expect, it } from 'vitest';
import { Batcher } from './batcher.js';

describe('Batcher', () => {
  it('sends what one turn added as one batch per key, in order', async () => {
    const sent: Array<[string, number[]]> = [];
    const batcher = new Batcher<number>(async (key, items) => void sent.push([key, items]));
    await Promise.all([batcher.add('a', 1), batcher.add('b', 2), batcher.add('a', 3)]);
    expect(sent).toEqual([
      ['a', [1, 3]],
      ['b', [2]],
    ]);
  });

  it('hands a waiting batch to another command, whose outcome settles its callers', async () => {
    const sent: number[][] = [];
    const batcher = new Batcher<number>(async (_key, items) => void sent.push(items));
    const first = batcher.add('', 1);
    const second = batcher.add('', 2);
    const taken = batcher.take('')!;
    expect(taken.items).toEqual([1, 2]);
    expect(batcher.take('')).toBeNull();
    const drained = batcher.drain();
    taken.done();
    await Promise.all([first, second, drained]);
    expect(sent).toEqual([]);

    const failed = batcher.add('', 3);
    batcher.take('')!.done(new Error('gone'));
    await expect(failed).rejects.toThrow('gone');
    expect(sent).toEqual([]);
  });

  it('sends a batch that is full at once, without waiting for the end of the turn', async () => {
    const sent: number[][] = [];
    const batcher = new Batcher<number>(async (_key, items) => void sent.push(items), 2);
    const all = [1, 2, 3].map((n) => batcher.add('', n));
    expect(sent).toEqual([[1, 2]]);
    const taken = batcher.take('')!;
    expect(taken.items).toEqual([3]);
    taken.done();
    await Promise.all(all);
    expect(sent).toEqual([[1, 2]]);
  });
});
