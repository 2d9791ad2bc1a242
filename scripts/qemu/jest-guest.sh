#!/bin/sh
# Inside the QEMU guest (scripts/test-vm.sh): jest over the files given, with the host's
# install through the shared root, then one line with its counts for the host to read back.
node node_modules/jest/bin/jest.js --ci --json --outputFile=/tmp/ebpf-vm-result.json "$@"
status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync("/tmp/ebpf-vm-result.json", "utf8"));
  console.log("VM-RESULT", r.numPassedTests, r.numFailedTests + r.numRuntimeErrorTestSuites, r.numPendingTests);
' || echo "VM-RESULT 0 1 0"
exit $status
