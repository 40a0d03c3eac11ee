// Package testpeer starts real peers shared by tests in several packages: today npm
// oidc-provider (an OpenID Certified upstream provider), run from
// connectors/oidc/testdata/peer/provider.mjs on 127.0.0.1. The code is behind the "peers"
// build tag (the peers must be installed: scripts/install-peers.sh); without it the package is
// empty. NewSoftHSM (tags peers and pkcs11) initializes a private SoftHSM2 token. It is test
// support, never imported by production code.
package testpeer
