import { MemoryBackend, MemoryBroker } from '@tq/core';
import { runBackendConformance } from './backend-conformance.js';
import { runBrokerConformance } from './broker-conformance.js';

runBrokerConformance({ name: 'memory', create: () => new MemoryBroker(), peer: (broker) => broker });
runBackendConformance({ name: 'memory', create: () => new MemoryBackend() });
