// Package assembly builds a whole Gatehouse from a config.Config: storage, local users,
// connectors (decoded and opened through the registry cmd/gatehouse passes in), claims, signing
// keys, sessions, clients, MFA, the SAML IdP, templates and the broker, plus the background
// loops (key refresh, garbage collection). `gatehouse serve` and the test harness
// (broker/brokertest) both build through Build, so the tests exercise the wiring serve uses.
package assembly
