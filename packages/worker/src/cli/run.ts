/** Entry point: `node dist/cli/run.js …` (what bin/tq.js loads). */
import { main } from './main.js';

process.exitCode = await main(process.argv.slice(2));
