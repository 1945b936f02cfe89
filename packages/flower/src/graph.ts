/**
 * The workflow a task belongs to, as a graph for the UI. Links come from the events: parent and
 * root ids (Celery's), and, from tq workers, the canvas fields of task-received — `group`,
 * `chord` (the body a header feeds), `chain_next` and `callbacks` — which also link a
 * top-level chord, whose header and body share no parent or root. Tasks referred to but not
 * seen yet appear as PENDING. For workers that send only parent ids (Python Celery), several
 * children of one parent are drawn as a group, and a task whose parent is one of a group's
 * members, while no other member has children, as that group's chord body (a chord's body is
 * sent by the header task that finished last).
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

/** A task's canvas links, from the extra fields of its task-received event. */
export interface CanvasLinks {
  group: string | null;
  chord: string | null;
  chainNext: string | null;
  callbacks: string[];
}

export function canvasLinks(task: EventTask): CanvasLinks {
  const x = task.extra;
  const str = (v: unknown) => (typeof v === 'string' && v ? v : null);
  return {
    group: str(x['group']),
    chord: str(x['chord']),
    chainNext: str(x['chain_next']),
    callbacks: Array.isArray(x['callbacks']) ? x['callbacks'].filter((c): c is string => typeof c === 'string') : [],
  };
}

/** The graph of the workflow containing `id`, or null when the task is unknown. */
export function workflowGraph(state: State, id: string): WorkflowGraph | null {
  const start = state.task(id);
  if (!start) return null;
  // One pass: every link in both directions, so the walk below finds the whole workflow.
  const links = new Map<string, Set<string>>();
  const link = (a: string, b: string) => {
    let s = links.get(a);
    if (!s) links.set(a, (s = new Set()));
    s.add(b);
    let t = links.get(b);
    if (!t) links.set(b, (t = new Set()));
    t.add(a);
  };
  const canvas = new Map<string, CanvasLinks>();
  for (const task of state.tasks.values()) {
    const c = canvasLinks(task);
    if (c.group || c.chord || c.chainNext || c.callbacks.length) canvas.set(task.uuid, c);
    if (task.parentId) link(task.uuid, task.parentId);
    if (task.rootId && task.rootId !== task.uuid) link(task.uuid, task.rootId);
    if (c.group) link(task.uuid, `group:${c.group}`);
    if (c.chord) link(task.uuid, c.chord);
    if (c.chainNext) link(task.uuid, c.chainNext);
    for (const cb of c.callbacks) link(task.uuid, cb);
  }
  const members = new Set<string>([id]);
  const queue = [id];
  while (queue.length) {
    for (const next of links.get(queue.pop()!) ?? []) {
      if (!members.has(next)) {
        members.add(next);
        queue.push(next);
      }
    }
  }
  const tasks = new Map<string, EventTask>();
  const groups = new Map<string, string[]>();
  for (const m of members) {
    if (m.startsWith('group:')) groups.set(m, []);
    else {
      const t = state.task(m);
      if (t) tasks.set(m, t);
    }
  }
  const order = (a: EventTask, b: EventTask) => (a.received ?? a.timestamp ?? 0) - (b.received ?? b.timestamp ?? 0);
  const sorted = [...tasks.values()].sort(order);
  const nodes = new Map<string, GraphNode>();
  const edges: GraphEdge[] = [];
  const edgeKeys = new Set<string>();
  const hasIncoming = new Set<string>();
  const edge = (from: string, to: string, kind: GraphEdge['kind']) => {
    const key = `${from}>${to}`;
    if (edgeKeys.has(key)) return;
    edgeKeys.add(key);
    hasIncoming.add(to);
    edges.push({ from, to, kind });
  };
  for (const m of members) {
    if (m.startsWith('group:')) continue;
    const t = tasks.get(m);
    nodes.set(m, { id: m, name: t?.name ?? null, state: t?.state ?? 'PENDING', kind: 'task' });
  }

  // Links the messages declared (tq workers).
  for (const task of sorted) {
    const c = canvas.get(task.uuid);
    if (!c) continue;
    if (c.group) groups.get(`group:${c.group}`)?.push(task.uuid);
    if (c.chord) {
      edge(task.uuid, c.chord, 'chord');
      nodes.get(c.chord)!.kind = 'chord-body';
    }
    if (c.chainNext) edge(task.uuid, c.chainNext, 'chain');
    for (const cb of c.callbacks) edge(task.uuid, cb, 'callback');
  }
  for (const [groupId, ids] of groups) {
    const states = ids.map((i) => nodes.get(i)!.state);
    nodes.set(groupId, { id: groupId, name: null, state: groupState(states), kind: 'group' });
    for (const i of ids) edge(groupId, i, 'group');
    // A group inside a chain hangs off the task before it.
    const parents = new Set(ids.map((i) => tasks.get(i)?.parentId).filter((p): p is string => !!p && tasks.has(p)));
    if (parents.size === 1) edge([...parents][0]!, groupId, 'chain');
  }

  // Parent links not already drawn (Python workers, and chains whose messages carried no next).
  const byParent = new Map<string, EventTask[]>();
  for (const task of sorted) {
    if (hasIncoming.has(task.uuid) || !task.parentId || !tasks.has(task.parentId)) continue;
    let list = byParent.get(task.parentId);
    if (!list) byParent.set(task.parentId, (list = []));
    list.push(task);
  }
  const chordOf = new Map<string, EventTask[]>();
  for (const children of byParent.values()) {
    if (children.length < 2) continue;
    const withChildren = children.filter((c) => byParent.has(c.uuid));
    if (withChildren.length === 1) chordOf.set(withChildren[0]!.uuid, children);
  }
  for (const [parent, children] of byParent) {
    const header = chordOf.get(parent);
    if (header) {
      for (const body of children) {
        nodes.get(body.uuid)!.kind = 'chord-body';
        for (const member of header) edge(member.uuid, body.uuid, 'chord');
      }
      continue;
    }
    if (children.length < 2) {
      for (const c of children) edge(parent, c.uuid, 'chain');
      continue;
    }
    const groupId = `group:${parent}`;
    nodes.set(groupId, { id: groupId, name: null, state: groupState(children.map((c) => c.state)), kind: 'group' });
    edge(parent, groupId, 'chain');
    for (const c of children) edge(groupId, c.uuid, 'group');
  }
  const top = sorted.find((t) => !hasIncoming.has(t.uuid)) ?? start;
  return { rootId: start.rootId ?? top.rootId ?? top.uuid, nodes: [...nodes.values()], edges };
}

function groupState(states: string[]): string {
  if (states.some((s) => s === 'FAILURE')) return 'FAILURE';
  if (states.length > 0 && states.every((s) => s === 'SUCCESS')) return 'SUCCESS';
  return states.some((s) => s === 'STARTED') ? 'STARTED' : 'PENDING';
}
