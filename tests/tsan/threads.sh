#!/usr/bin/env bash
# The tests of the code that runs its own threads (nmoe-tok encode's pipeline, nmoe-
# shard cat's read-ahead) under ThreadSanitizer: any data race fails the test.
# ThreadSanitizer needs the address layout it was built for; a kernel with more
# address randomization than gcc's TSan expects makes it abort at start-up, so the
# tests run with randomization off for the process (setarch -R, no root needed).
set -u
top=${NMOE_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$top"
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
status=0
for t in build/tsan/tests/test_tokenizer_pipeline build/tsan/tests/test_shard_stream; do
    [ -x "$t" ] || { echo "missing $t (run make unit)"; exit 1; }
    echo "== $t"
    setarch "$(uname -m)" -R "$t" || { echo "FAILED: $t"; status=1; }
done
exit $status
