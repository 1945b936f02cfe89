#!/usr/bin/env node
// The tq command line. See `tq --help`.
import '../dist/cli/run.js';
