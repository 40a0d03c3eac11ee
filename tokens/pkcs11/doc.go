// Package pkcs11 keeps Gatehouse's token signing keys in a PKCS#11 token (an HSM, or
// SoftHSM2 in tests) through github.com/ThalesGroup/crypto11: keys are generated in the
// token (sensitive, not extractable), found again by their CKA_ID (the kid) on every
// replica, sign through crypto.Signer, and are destroyed in the token when they expire. The
// key set itself (kids, public JWKs, times) stays in storage, so rotation is coordinated
// across replicas as for keys in storage (tokens.KeyManager).
//
// The backend needs cgo and is built only with -tags pkcs11; without the tag Open says so,
// and config validation refuses signing.backend: pkcs11 (the default build stays pure Go).
package pkcs11
