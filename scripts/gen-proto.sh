#!/usr/bin/env bash
# gen-proto.sh generates the Go code of the admin API's protobufs (api/gatehouse/admin/v1/*.proto
# -> *.pb.go and adminv1connect/*.connect.go, committed). With --check it generates into a
# scratch copy and fails if the committed code differs (scripts/test-all.sh runs that).
#
# The generators are built from the Go module proxy into bin/: buf (pure Go, pinned in the
# tools/protogen module, out of Gatehouse's go.mod) and the protoc plugins at the versions
# Gatehouse's go.mod requires (google.golang.org/protobuf, connectrpc.com/connect), so the code
# matches the runtime it compiles against. The Go build cache makes a warm run take seconds.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
BIN="$ROOT/bin"
mkdir -p "$BIN"

modversion() { go list -m -f '{{.Version}}' "$1"; }

go build -C tools/protogen -o "$BIN/buf" github.com/bufbuild/buf/cmd/buf
GOBIN="$BIN" go install "google.golang.org/protobuf/cmd/protoc-gen-go@$(modversion google.golang.org/protobuf)"
GOBIN="$BIN" go install "connectrpc.com/connect/cmd/protoc-gen-connect-go@$(modversion connectrpc.com/connect)"
export PATH="$BIN:$PATH"

if [[ "${1:-}" != "--check" ]]; then
	(cd api && buf lint && buf generate)
	exit 0
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cp -R api "$scratch/api"
find "$scratch/api" \( -name '*.pb.go' -o -name '*.connect.go' \) -delete
(cd "$scratch/api" && buf lint && buf generate)
if ! diff -r -u api "$scratch/api"; then
	echo "gen-proto: the generated code in api/ is out of date; run scripts/gen-proto.sh and commit" >&2
	exit 1
fi
echo "gen-proto: generated code is up to date"
