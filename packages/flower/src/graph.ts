/**
 * The workflow a task belongs to, as a graph for the UI: every task under the same root, with
 * edges from parent to child. Events carry parent and root ids only, so the canvas shapes are
 * read from them as Celery builds them: several children of one parent (or several roots of one
 * workflow) are a group, drawn through a group node; a task whose parent is one of a group's
 * members, while no other member has children, is that group's chord body (a chord's body is
 * sent by the header task that finished last, so it becomes that task's child).
 */
import type { EventTask, State } from '@tq/core';

export interface GraphNode {
  id: string;
  name: string | null;
  state: string;
  kind: 'task' | 'group' | 'chord-body';
}

export interface GraphEdge {
  from: string;
  to: string;
  kind: 'chain' | 'group' | 'chord' | 'callback';
}

export interface WorkflowGraph {
  rootId: string;
  nodes: GraphNode[];
  edges: GraphEdge[];
}

/** The graph of the workflow containing `id`, or null when the task is unknown. */
export function workflowGraph(state: State, id: string): WorkflowGraph | null {
  const start = state.task(id);
  if (!start) return null;
  // Walk up to the root through known parents, then take everything sharing that root.
  let top: EventTask = start;
  for (let guard = 0; top.parentId && guard < 10_000; guard++) {
    const parent = state.task(top.parentId);
    if (!parent) break;
    top = parent;
  }
  const rootId = start.rootId ?? top.rootId ?? top.uuid;
  const members = new Map<string, EventTask>();
  for (const task of state.tasks.values()) {
    if (task.uuid === rootId || task.rootId === rootId || task.uuid === top.uuid) members.set(task.uuid, task);
  }
  // Children known by id (from parent_id) whose records we hold but that lack root_id.
  const queue = [...members.values()];
  while (queue.length) {
    const task = queue.pop()!;
    for (const child of task.children) {
      const c = state.task(child);
      if (c && !members.has(child)) {
        members.set(child, c);
        queue.push(c);
      }
    }
  }
  const byParent = new Map<string | null, EventTask[]>();
  for (const task of members.values()) {
    const parent = task.parentId && members.has(task.parentId) ? task.parentId : null;
    let list = byParent.get(parent);
    if (!list) byParent.set(parent, (list = []));
    list.push(task);
  }
  const order = (a: EventTask, b: EventTask) => (a.received ?? a.timestamp ?? 0) - (b.received ?? b.timestamp ?? 0);
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  const bodies = new Set<string>();
  // First find the chords, so their bodies are not also drawn as plain children.
  const chordOf = new Map<string, EventTask[]>();
  for (const children of byParent.values()) {
    if (children.length < 2) continue;
    const withChildren = children.filter((c) => byParent.has(c.uuid));
    if (withChildren.length === 1) chordOf.set(withChildren[0]!.uuid, children);
  }
  for (const [parent, children] of byParent) {
    children.sort(order);
    const header = parent === null ? undefined : chordOf.get(parent);
    if (header) {
      // A chord: the body hangs off the member that finished last; draw it from every member.
      for (const body of children) {
        bodies.add(body.uuid);
        for (const member of header) edges.push({ from: member.uuid, to: body.uuid, kind: 'chord' });
      }
      continue;
    }
    if (children.length < 2) {
      if (parent !== null) for (const c of children) edges.push({ from: parent, to: c.uuid, kind: 'chain' });
      continue;
    }
    const groupId = `group:${parent ?? rootId}`;
    nodes.push({ id: groupId, name: null, state: groupState(children), kind: 'group' });
    if (parent !== null) edges.push({ from: parent, to: groupId, kind: 'chain' });
    for (const c of children) edges.push({ from: groupId, to: c.uuid, kind: 'group' });
  }
  for (const task of members.values()) nodes.push({ id: task.uuid, name: task.name, state: task.state, kind: bodies.has(task.uuid) ? 'chord-body' : 'task' });
  return { rootId, nodes, edges };
}

function groupState(members: EventTask[]): string {
  if (members.some((m) => m.state === 'FAILURE')) return 'FAILURE';
  if (members.every((m) => m.state === 'SUCCESS')) return 'SUCCESS';
  return members.some((m) => m.state === 'STARTED') ? 'STARTED' : 'PENDING';
}
