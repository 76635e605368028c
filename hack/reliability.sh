#!/usr/bin/env bash
# Runs the reliability scenarios (tests/reliability*_test.go: daemons
# killed, Ctrl-C, damaged state, secrets, reproducible digests) RUNS times
# against the test env and prints one table: per scenario the runs, the
# failed runs, the invariant violations (which invariants, see
# tests/internal/invariant) and the slowest recovery, the time from the
# fault to the first command that worked again.
#
# usage: hack/reliability.sh            RUNS=3 by default
#        RUNS=10 hack/reliability.sh
# The load scenarios (32 concurrent loads, 16 concurrent builders) run once,
# for ROUNDS rounds (100 by default) or as many as BUDGET (10m) allows;
# each round is a run in the table.
# The env must be up (hack/env up). XBUILD_BIN names an xbuild binary to
# test; otherwise the tests build one. Exits 1 when any run failed, after
# the table; the full go test output stays in the file it names.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${RUNS:-3}
ROUNDS=${ROUNDS:-100}
BUDGET=${BUDGET:-10m}

die() {
	echo "reliability: $*" >&2
	exit 2
}

[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive number, not '$RUNS'"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive number, not '$ROUNDS'"
[[ $BUDGET =~ ^[1-9][0-9]*m$ ]] || die "BUDGET must be minutes (10m), not '$BUDGET'"
command -v jq >/dev/null || die "jq is needed for the table (hack/env up installs it)"
command -v go >/dev/null || die "go is needed"
"$ROOT/hack/env" status >/dev/null || die "the test env is not up: run hack/env up"
eval "$("$ROOT/hack/env" print)"

results=$(mktemp "${TMPDIR:-/tmp}/xbuild-reliability-XXXXXX.jsonl")
log=${results%.jsonl}.log
trap 'rm -f "$results"' EXIT

echo "reliability: $RUNS run(s) of every scenario, $ROUNDS round(s) of the load ones within $BUDGET; go test output in $log" >&2
status=0
(cd "$ROOT" && XBUILD_RELIABILITY_OUT=$results go test -count="$RUNS" -timeout "$((RUNS * 20))m" \
	-run 'TestReliability' -skip 'TestReliabilityConcurrent' ./tests/) >"$log" 2>&1 || status=$?
(cd "$ROOT" && XBUILD_RELIABILITY_OUT=$results XBUILD_RELIABILITY_ROUNDS=$ROUNDS XBUILD_RELIABILITY_BUDGET=$BUDGET \
	go test -count=1 -timeout "$((${BUDGET%m} + 20))m" -run 'TestReliabilityConcurrent' ./tests/) >>"$log" 2>&1 || status=$?

if [ ! -s "$results" ]; then
	tail -n 40 "$log" >&2
	die "no scenario recorded a run (go test exited $status)"
fi

jq -rs '
	group_by(.scenario)[] | {
		scenario: .[0].scenario,
		runs: length,
		failures: (map(select(.failed)) | length),
		violations: (map(.violations | length) | add),
		which: ([.[].violations[] | split(":")[0]] | unique | join(",")),
		slowest: ([.[].recovery_seconds | select(. != null)] | max)
	} | [.scenario, .runs, .failures, .violations, (if .which == "" then "-" else .which end),
		(if .slowest == null then "-" else (.slowest * 100 | round / 100 | tostring) end)] | @tsv
' "$results" | {
	printf '%-26s %5s %9s %11s %-11s %s\n' SCENARIO RUNS FAILURES VIOLATIONS INVARIANTS "SLOWEST RECOVERY (s)"
	while IFS=$'\t' read -r name runs failures violations which slowest; do
		printf '%-26s %5s %9s %11s %-11s %s\n' "$name" "$runs" "$failures" "$violations" "$which" "$slowest"
	done
}

if [ "$status" -ne 0 ]; then
	echo >&2
	echo "reliability: some runs failed (go test exited $status); what they said, first lines:" >&2
	grep -E '^\s+reliability_[a-z]+_test\.go:[0-9]+: ' "$log" | sed 's/^\s*/  /' | sort | uniq -c | sort -rn | head -n 30 >&2 || true
	exit 1
fi
