import { State } from '@tq/core';
import type { CeleryEvent } from '@tq/protocol';
import { describe, expect, it } from 'vitest';
import { workflowGraph } from './graph.js';

function feed(state: State, events: Array<Partial<CeleryEvent> & Record<string, unknown>>): void {
  let t = 1000;
  for (const e of events) state.event({ hostname: 'w@h', timestamp: (t += 1), ...e } as CeleryEvent);
}

describe('workflow graph', () => {
  it('draws a chain, then a chord whose body hangs off the header task that finished last', () => {
    const state = new State();
    feed(state, [
      { type: 'task-received', uuid: 'a', name: 'add', root_id: 'a', parent_id: null },
      { type: 'task-succeeded', uuid: 'a' },
      { type: 'task-received', uuid: 'b', name: 'add', root_id: 'a', parent_id: 'a' },
      { type: 'task-received', uuid: 'h1', name: 'mul', root_id: 'a', parent_id: 'b' },
      { type: 'task-received', uuid: 'h2', name: 'mul', root_id: 'a', parent_id: 'b' },
      { type: 'task-succeeded', uuid: 'h1' },
      { type: 'task-succeeded', uuid: 'h2' },
      { type: 'task-received', uuid: 'body', name: 'xsum', root_id: 'a', parent_id: 'h2' },
    ]);
    const graph = workflowGraph(state, 'h1')!;
    expect(graph.rootId).toBe('a');
    expect(graph.nodes.find((n) => n.id === 'body')?.kind).toBe('chord-body');
    expect(graph.nodes.find((n) => n.kind === 'group')?.id).toBe('group:b');
    expect(graph.edges).toEqual(
      expect.arrayContaining([
        { from: 'a', to: 'b', kind: 'chain' },
        { from: 'b', to: 'group:b', kind: 'chain' },
        { from: 'group:b', to: 'h1', kind: 'group' },
        { from: 'group:b', to: 'h2', kind: 'group' },
        { from: 'h1', to: 'body', kind: 'chord' },
        { from: 'h2', to: 'body', kind: 'chord' },
      ]),
    );
    expect(graph.edges).toHaveLength(6);
    expect(workflowGraph(state, 'nope')).toBeNull();
  });
});

describe('workflow graph from canvas fields', () => {
  it('links a top-level chord whose tasks share no parent or root, with its body still pending', () => {
    const state = new State();
    feed(state, [
      { type: 'task-received', uuid: 'h1', name: 'add', root_id: 'h1', parent_id: null, group: 'g', chord: 'body' },
      { type: 'task-received', uuid: 'h2', name: 'add', root_id: 'h2', parent_id: null, group: 'g', chord: 'body' },
      { type: 'task-succeeded', uuid: 'h1' },
      { type: 'task-received', uuid: 'c1', name: 'first', root_id: 'c1', parent_id: null, chain_next: 'c2', callbacks: ['cb'] },
    ]);
    const graph = workflowGraph(state, 'h2')!;
    expect(graph.nodes).toEqual(
      expect.arrayContaining([
        { id: 'group:g', name: null, state: 'PENDING', kind: 'group' },
        { id: 'body', name: null, state: 'PENDING', kind: 'chord-body' },
        { id: 'h1', name: 'add', state: 'SUCCESS', kind: 'task' },
      ]),
    );
    expect(graph.edges).toEqual(
      expect.arrayContaining([
        { from: 'group:g', to: 'h1', kind: 'group' },
        { from: 'group:g', to: 'h2', kind: 'group' },
        { from: 'h1', to: 'body', kind: 'chord' },
        { from: 'h2', to: 'body', kind: 'chord' },
      ]),
    );
    expect(graph.nodes.some((n) => n.id === 'c1')).toBe(false);
    const chain = workflowGraph(state, 'c1')!;
    expect(chain.edges).toEqual([
      { from: 'c1', to: 'c2', kind: 'chain' },
      { from: 'c1', to: 'cb', kind: 'callback' },
    ]);
  });
});
