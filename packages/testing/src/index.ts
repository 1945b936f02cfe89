/**
 * @tq/testing (private): the conformance suites that every broker and result backend runs, and
 * helpers for tests against real services. The memory transport is the reference implementation.
 */
export { runBrokerConformance, conformanceMessage, type BrokerConformanceOptions } from './broker-conformance.js';
export { runBackendConformance, type BackendConformanceOptions } from './backend-conformance.js';
export { waitFor, Collector, uniqueName, type WaitOptions } from './wait.js';
export { recordingLogger, type RecordedLine } from './logger.js';
export { runHostileInputSuite, hostileCases, type HostileCase, type HostileInputSuiteOptions } from './hostile-input.js';
export { freePort, TcpForwarder } from './net.js';
export { PrivateFerretDB, type PrivateFerretDBOptions } from './ferretdb.js';
export { createTestCertificates, type TestCertificates } from './tls.js';
export { runPython, lastJson, startPythonWorker, pythonExecutable, PYTHON_DIR, type PythonEnv, type PythonWorker, type PythonWorkerOptions } from './python.js';
export { runCanvasSuite, startWorker, NoChordCounterMemoryBackend, type CanvasSuiteOptions } from './canvas-suite.js';
