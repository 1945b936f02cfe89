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
