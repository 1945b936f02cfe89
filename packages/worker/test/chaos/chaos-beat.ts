/** A chaos beat process: beat on the shared result backend with a short lease; each send is printed for the harness. */
import { Beat } from '@tq/worker';
import { app } from './chaos-app.js';

const beat = new Beat(app, { store: 'backend', leaseTtl: Number(process.env['TQ_CHAOS_LEASE'] ?? 3), name: process.env['TQ_CHAOS_QUEUE'] ?? 'chaos', maxInterval: 0.5 });
beat.on('sent', (sent) => console.log(`SENT ${JSON.stringify({ ...sent, pid: process.pid, at: Date.now() })}`));
beat.on('leader', () => console.log(`LEADER ${process.pid} ${Date.now()}`));
process.once('SIGTERM', () => void beat.stop().then(() => app.close()).then(() => process.exit(0)));
await beat.start();
console.log(`READY ${process.pid}`);
