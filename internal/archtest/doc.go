// Package archtest holds Gatehouse's structure checks and nothing else: its tests enforce the
// dependency rule of DESIGN.md (one table of forbidden edges checked against
// `go list -deps -json ./...`), a package doc comment on every package, the ban on
// catch-all package names such as util or common, and the broker redesign's rules over the
// flow packages below broker/ (authflow imports no protocol package; only the root package
// broker imports the flow packages). Run them with `go test ./internal/archtest`.
package archtest
