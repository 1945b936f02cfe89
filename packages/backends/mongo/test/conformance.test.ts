/** The backend conformance suite of @tq/testing on the MongoDB server, with and without the chord counter. */
import { runBackendConformance } from '@tq/testing';
import { MongoBackend } from '../src/mongo-backend.js';
import { testDatabase } from './helpers.js';

const plain = testDatabase('conformance');
const counted = testDatabase('conformance_chords');

runBackendConformance({ name: 'mongodb', create: () => new MongoBackend(plain.url) });
runBackendConformance({ name: 'mongodb (chordCounter)', create: () => new MongoBackend(counted.url, { chordCounter: true }) });
