/**
 * A task's workflow (chain, group, chord, callbacks) drawn as an SVG, left to right. Layout is a
 * plain layered one: each node's column is its longest path from a source, and rows inside a
 * column follow the average row of the node's predecessors so edges cross as little as possible.
 */
import { href } from '../route.ts';
import type { GraphEdgeKind, TaskGraph } from '../types.ts';

const NODE_W = 190;
const NODE_H = 46;
const GAP_X = 70;
const GAP_Y = 18;
const PAD = 12;

const STATE_COLOR: Record<string, string> = {
  SUCCESS: '#12b76a',
  FAILURE: '#f04438',
  STARTED: '#2e90fa',
  RECEIVED: '#84adff',
  RETRY: '#f79009',
  REVOKED: '#98a2b3',
  PENDING: '#d0d5dd',
};

const EDGE_STYLE: Record<GraphEdgeKind, { color: string; dash?: string; label: string }> = {
  chain: { color: '#475467', label: 'chain' },
  group: { color: '#7a5af8', label: 'group member' },
  chord: { color: '#ee46bc', label: 'chord header → body' },
  callback: { color: '#667085', dash: '5 4', label: 'callback (link)' },
};

interface Placed {
  id: string;
  x: number;
  y: number;
}

export function layout(graph: TaskGraph): Map<string, Placed> {
  const ids = graph.nodes.map((n) => n.id);
  const known = new Set(ids);
  const edges = graph.edges.filter((e) => known.has(e.from) && known.has(e.to) && e.from !== e.to);
  const column = new Map(ids.map((id) => [id, 0]));
  // Longest path by relaxation; bounded by the node count so a cycle cannot loop forever.
  for (let round = 0; round < ids.length; round++) {
    let changed = false;
    for (const e of edges) {
      const next = (column.get(e.from) ?? 0) + 1;
      if (next > (column.get(e.to) ?? 0) && next < ids.length) {
        column.set(e.to, next);
        changed = true;
      }
    }
    if (!changed) break;
  }
  const columns: string[][] = [];
  for (const id of ids) (columns[column.get(id) ?? 0] ??= []).push(id);
  const row = new Map<string, number>();
  columns.forEach((members, c) => {
    if (c > 0) {
      const score = (id: string) => {
        const preds = edges.filter((e) => e.to === id).map((e) => row.get(e.from) ?? 0);
        return preds.length ? preds.reduce((a, b) => a + b, 0) / preds.length : 0;
      };
      members.sort((a, b) => score(a) - score(b));
    }
    members.forEach((id, r) => row.set(id, r));
  });
  const tallest = Math.max(1, ...columns.map((m) => m?.length ?? 0));
  const placed = new Map<string, Placed>();
  columns.forEach((members, c) => {
    // Centre shorter columns against the tallest one.
    const offset = ((tallest - members.length) * (NODE_H + GAP_Y)) / 2;
    members.forEach((id, r) => placed.set(id, { id, x: PAD + c * (NODE_W + GAP_X), y: PAD + offset + r * (NODE_H + GAP_Y) }));
  });
  return placed;
}

function shortName(name: string | null, kind: string): string {
  if (kind === 'group') return 'group';
  const text = name ?? '(unknown task)';
  return text.length > 24 ? `…${text.slice(-23)}` : text;
}

/** The second line of a node: its state and a short id (the body of a chord says so). */
function nodeMeta(n: TaskGraph['nodes'][number]): string {
  const id = n.id.replace(/^group:/, '').slice(0, 8);
  if (n.kind === 'group') return `${id}`;
  return n.kind === 'chord-body' ? `body · ${n.state} · ${id.slice(0, 6)}` : `${n.state} · ${id}`;
}

export function WorkflowGraph({ graph, current }: { graph: TaskGraph; current: string }) {
  const placed = layout(graph);
  const all = [...placed.values()];
  const width = Math.max(...all.map((p) => p.x)) + NODE_W + PAD;
  const height = Math.max(...all.map((p) => p.y)) + NODE_H + PAD;
  const kinds = [...new Set(graph.edges.map((e) => e.kind))];
  return (
    <div class="graph-wrap">
      <svg class="workflow" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label="Workflow graph">
        <defs>
          {Object.entries(EDGE_STYLE).map(([kind, style]) => (
            <marker key={kind} id={`arrow-${kind}`} viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
              <path d="M 0 0 L 10 5 L 0 10 z" fill={style.color} />
            </marker>
          ))}
        </defs>
        {graph.edges.map((e, i) => {
          const a = placed.get(e.from);
          const b = placed.get(e.to);
          if (!a || !b) return null;
          const style = EDGE_STYLE[e.kind] ?? EDGE_STYLE.chain;
          const x1 = a.x + NODE_W;
          const y1 = a.y + NODE_H / 2;
          const x2 = b.x - 2;
          const y2 = b.y + NODE_H / 2;
          const mid = (x1 + x2) / 2;
          return (
            <path key={i} class="edge" data-kind={e.kind} d={`M ${x1} ${y1} C ${mid} ${y1}, ${mid} ${y2}, ${x2} ${y2}`} fill="none" stroke={style.color} stroke-width="1.6" stroke-dasharray={style.dash} marker-end={`url(#arrow-${e.kind})`} />
          );
        })}
        {graph.nodes.map((n) => {
          const p = placed.get(n.id);
          if (!p) return null;
          const color = n.kind === 'group' ? '#7a5af8' : (STATE_COLOR[n.state] ?? '#d0d5dd');
          const body = (
            <g class={`node node-${n.kind}${n.id === current ? ' node-current' : ''}`} data-node={n.id} data-kind={n.kind} data-state={n.state}>
              <title>{`${n.name ?? n.kind} ${n.id} ${n.state}`}</title>
              <rect x={p.x} y={p.y} width={NODE_W} height={NODE_H} rx="8" fill={n.id === current ? '#eff8ff' : '#fff'} stroke={n.id === current ? '#1570ef' : '#d0d5dd'} stroke-width={n.id === current ? 2 : 1} stroke-dasharray={n.kind === 'group' ? '4 3' : undefined} />
              <rect x={p.x} y={p.y} width="6" height={NODE_H} rx="3" fill={color} />
              <text x={p.x + 14} y={p.y + 19} class="node-name">{shortName(n.name, n.kind)}</text>
              <text x={p.x + 14} y={p.y + 36} class="node-meta">{nodeMeta(n)}</text>
            </g>
          );
          return n.kind === 'group' ? <g key={n.id}>{body}</g> : <a key={n.id} href={href('task', n.id)}>{body}</a>;
        })}
      </svg>
      <ul class="legend">
        {kinds.map((kind) => (
          <li key={kind}>
            <svg width="28" height="10" aria-hidden="true"><line x1="0" y1="5" x2="28" y2="5" stroke={EDGE_STYLE[kind]?.color} stroke-width="2" stroke-dasharray={EDGE_STYLE[kind]?.dash} /></svg>
            {EDGE_STYLE[kind]?.label ?? kind}
          </li>
        ))}
      </ul>
    </div>
  );
}
