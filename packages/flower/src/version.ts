/** The package's version (from package.json, next to both src and dist), shown by /api/ui/session. */
import { createRequire } from 'node:module';

export const VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;
