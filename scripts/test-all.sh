#!/usr/bin/env bash
# test-all.sh is THE test command of Gatehouse: it installs the real test peers, vets, then runs
# every test (unit, in-process end-to-end, and real-peer tests: openid-client, headless Chromium,
# ...) with the race detector in shuffled order. .ci/run runs exactly this. Prints step timings.
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
# One PostgreSQL server for every package's tests (storage/postgres, e2e), stopped at exit.
source scripts/peers/postgres.sh
trap stop_test_postgres EXIT
step postgres start_test_postgres
step vet go vet -tags peers ./...
# The PKCS#11 signing backend needs cgo and the pkcs11 tag (the default build stays pure Go);
# vet it with the tag too, and build the default binary without cgo.
step vet-pkcs11 env CGO_ENABLED=1 go vet -tags 'peers pkcs11' ./...
step build-nocgo env CGO_ENABLED=0 go build -o /dev/null ./cmd/gatehouse
# golangci-lint (errcheck, sloglint, staticcheck, unused, ...; see .golangci.yml), pinned in its
# own module so its dependencies stay out of Gatehouse's go.mod. Built once into bin/.
step lint-build go build -C tools/golangci-lint -o "$PWD/bin/golangci-lint" github.com/golangci/golangci-lint/v2/cmd/golangci-lint
step lint ./bin/golangci-lint run ./...
# The files behind the pkcs11 tag (cgo) are linted with it.
step lint-pkcs11 env CGO_ENABLED=1 ./bin/golangci-lint run --build-tags peers,pkcs11 ./tokens/... ./internal/testpeer/ ./config/
# The admin API's generated code (api/gatehouse/admin/v1) is up to date with its protobufs:
# buf (pinned in tools/protogen) and the protoc plugins (at go.mod's versions) are built into
# bin/ (about 5 minutes cold on 2 busy cores, 4 seconds warm), then the code is generated into
# a scratch copy and compared.
step proto bash scripts/gen-proto.sh --check
# The Helm chart (deploy/helm/gatehouse): helm, pinned in tools/helm (its own module, like
# golangci-lint: helm and the Kubernetes modules stay out of Gatehouse's go.mod), is built into
# bin/ (about 12 minutes cold on 2 busy cores, seconds from the build cache), then
# tools/helm/chart_test.go runs helm lint and helm template with several value sets and decodes
# the rendered manifests strictly into the Kubernetes API types.
step helm-build go build -C tools/helm -o "$PWD/bin/helm" helm.sh/helm/v4/cmd/helm
step chart env HELM="$PWD/bin/helm" go test -C tools/helm -count=1 ./...
# One run of every test: unit tests, in-process end-to-end tests, and (tag peers) the tests
# against real peers. Without -tags peers those files are not compiled, which keeps plain
# `go test ./...` fast for the edit-test loop.
step test go test -race -shuffle=on -tags peers -count=1 -timeout 30m ./...
# Signing through PKCS#11 against a real SoftHSM2 token (keys generated in the token, JWKS,
# rotation across three replicas on SQLite and on the PostgreSQL above, non-extractable keys, the
# SAML IdP key): only the packages with pkcs11 tests.
step pkcs11 env CGO_ENABLED=1 go test -race -shuffle=on -tags 'peers pkcs11' -count=1 -timeout 10m ./tokens/pkcs11/ ./config/

summary
printf '    %-12s %4ds\n' total "$((SECONDS - TOTAL_START))"
printf '\ntest-all: every step passed\n'
