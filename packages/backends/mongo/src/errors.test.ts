import { MongoBulkWriteError, MongoNetworkError, MongoServerError } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { isTransientWriteError } from './errors.js';

describe('MongoDB write errors worth sending again', () => {
  it('a bulk write cut off by a closed connection is transient; a refused document is not', () => {
    const network = new MongoNetworkError('connection 2 to 127.0.0.1:27017 closed');
    expect(isTransientWriteError(network)).toBe(true);
    // What insertMany throws when the server stops under it: no write errors, the network error inside.
    expect(isTransientWriteError(new MongoBulkWriteError(network, { writeErrors: [], insertedIds: {} } as never))).toBe(true);
    expect(isTransientWriteError(new MongoServerError({ code: 11000, errmsg: 'E11000 duplicate key error' }))).toBe(false);
    expect(isTransientWriteError(new MongoServerError({ code: 2, errmsg: 'bad value' }))).toBe(false);
    expect(isTransientWriteError(new MongoServerError({ code: 91, errmsg: 'shutting down' }))).toBe(true);
    expect(isTransientWriteError(new Error('boom'))).toBe(false);
  });
});
