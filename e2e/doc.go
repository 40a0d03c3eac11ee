// Package e2e holds Gatehouse's end-to-end tests against real peers: the gatehouse binary is
// built and started as a subprocess, then driven by an unmodified strict openid-client v6
// relying party (Node.js) and by headless Debian Chromium through playwright-core.
//
// The tests are behind the "peers" build tag because they need those peers installed:
//
//	bash scripts/install-peers.sh
//	go test -race -tags peers -count=1 ./e2e/...
//
// A missing peer fails the run (it is never skipped). The Node.js side lives in e2e/node.
package e2e
