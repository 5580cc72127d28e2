# routerstat_common.bash: sourced by tests/cli/routerstat_*.sh (not a test itself:
# make check runs *.sh only). These tests print an "ok" or "FAIL" line per check and
# exit 1 at the end when any failed (fail=1), so they run without -e. From the
# repository root: the fixture streams in $D, the program as $R, and a scratch
# directory $tmp removed on exit.
set -u
cd "$NMOE_TOP"
D=tests/data/metrics
R=$NMOE_TOP/bin/nmoe-routerstat
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
