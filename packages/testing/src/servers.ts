/**
 * `@tq/testing/servers`: the helpers that start and reach real servers, without the rest of
 * @tq/testing (which loads vitest), for scripts that run outside a test such as `npm run chaos`.
 */
export { freePort, TcpForwarder } from './net.js';
export { PrivateFerretDB, type PrivateFerretDBOptions } from './ferretdb.js';
