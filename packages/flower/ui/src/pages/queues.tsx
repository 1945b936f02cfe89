/** Queues: messages waiting per queue on the broker, with a confirmed purge per queue. */
import { ActionButton, IfWritable } from '../components/actions.tsx';
import { Loading, Section } from '../components/bits.tsx';
import { formatNumber } from '../format.ts';
import type { QueueJson } from '../types.ts';
import { useApi } from '../use-api.ts';

export function Queues() {
  const queues = useApi<QueueJson[]>('api/ui/queues', {}, 5000);
  if (!queues.data) return <div class="page"><Loading error={queues.error} what="queues" /></div>;
  const max = Math.max(1, ...queues.data.map((q) => q.messages ?? 0));
  return (
    <div class="page">
      <Section title="Queues" actions={<button type="button" class="btn btn-small" onClick={queues.reload}>Refresh</button>}>
        <table class="grid" data-testid="queues-table">
          <thead>
            <tr>
              <th>Queue</th>
              <th>Broker</th>
              <th class="num">Messages</th>
              <th class="bar-col" />
              <IfWritable><th /></IfWritable>
            </tr>
          </thead>
          <tbody>
            {queues.data.length === 0 && <tr><td colSpan={5} class="note">No queue known yet: queues appear once a worker reports what it consumes.</td></tr>}
            {queues.data.map((q) => (
              <tr key={`${q.broker}/${q.name}`} data-queue={q.name}>
                <td>{q.name}</td>
                <td class="dim">{q.broker}</td>
                <td class="num" data-testid="queue-messages">{q.messages === null ? <span class="dim" title="This broker cannot count a queue's messages">n/a</span> : formatNumber(q.messages)}</td>
                <td class="bar-col"><span class="hbar"><span style={{ width: `${((q.messages ?? 0) / max) * 100}%` }} /></span></td>
                <IfWritable>
                  <td class="right">
                    <ActionButton
                      small
                      label="Purge"
                      request={{
                        title: 'Purge queue',
                        description: <>Delete every message waiting in <b>{q.name}</b>{q.messages ? <> ({formatNumber(q.messages)} now)</> : null}? This cannot be undone.</>,
                        path: `api/ui/queues/${encodeURIComponent(q.name)}/purge`,
                        danger: true,
                        confirmLabel: 'Purge',
                        success: (reply) => `Purged ${(reply as { purged?: number }).purged ?? 0} message(s) from ${q.name}`,
                        onDone: queues.reload,
                      }}
                    />
                  </td>
                </IfWritable>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
    </div>
  );
}
