// Prints "passed failed skipped" from a jest --json result file (failed counts suites
// that could not run): node scripts/jest-counts.js RESULT.json
'use strict';
const r = JSON.parse(require('fs').readFileSync(process.argv[2], 'utf8'));
console.log(r.numPassedTests, r.numFailedTests + r.numRuntimeErrorTestSuites, r.numPendingTests + r.numTodoTests);
