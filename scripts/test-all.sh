#!/usr/bin/env bash
# test-all.sh is THE test command of Gatehouse: it installs the real test peers, vets, runs every
# unit test with the race detector in shuffled order, then the end-to-end tests against the real
# peers (openid-client, headless Chromium). .ci/run runs exactly this. Prints the time of each step.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# step runs one command, prints its wall time and stops the run on failure.
step() {
	local name="$1"
	shift
	printf '\n==> %s\n    $ %s\n' "$name" "$*"
	local start=$SECONDS rc=0
	"$@" || rc=$?
	local took=$((SECONDS - start))
	TIMINGS+=("$(printf '%-12s %4ds  %s' "$name" "$took" "$([[ $rc -eq 0 ]] && echo ok || echo "FAILED (exit $rc)")")")
	if [[ $rc -ne 0 ]]; then
		summary
		printf '\ntest-all: step "%s" failed (exit %d)\n' "$name" "$rc" >&2
		exit "$rc"
	fi
}

summary() {
	printf '\n==> timings\n'
	printf '    %s\n' "${TIMINGS[@]}"
}

TIMINGS=()
TOTAL_START=$SECONDS

step install-peers bash scripts/install-peers.sh
step vet go vet ./...
step unit go test -race -shuffle=on ./...
step e2e go test -race -tags peers -count=1 -v ./e2e/...

summary
printf '    %-12s %4ds\n' total "$((SECONDS - TOTAL_START))"
printf '\ntest-all: every step passed\n'
