package config

import "time"

// DPoP configures the checks of DPoP proofs (RFC 9449), which bind access and refresh
// tokens to a client's key (docs/clients.md, "DPoP").
type DPoP struct {
	// ProofMaxAge is how old a proof's iat may be (default 60s, at most 10m); a proof's jti
	// is remembered (in storage, for every replica) that long.
	ProofMaxAge Duration `yaml:"proof_max_age"`
	// ProofMaxSkew is how far in the future a proof's iat may be (default 5s, at most 1m).
	ProofMaxSkew Duration `yaml:"proof_max_skew"`
	// Nonce makes the token endpoint require a server nonce in every proof (RFC 9449 8):
	// a proof without the current one is answered use_dpop_nonce with a DPoP-Nonce header.
	// Nonces change every proof_max_age and stay valid one period more. Default false.
	Nonce bool `yaml:"nonce"`
}

// Defaults of the dpop block.
const (
	DefaultDPoPProofMaxAge  = 60 * time.Second
	DefaultDPoPProofMaxSkew = 5 * time.Second
)

// applyDPoPDefaults fills the unset dpop lifetimes.
func (c *Config) applyDPoPDefaults() {
	setDefault(&c.DPoP.ProofMaxAge, DefaultDPoPProofMaxAge)
	setDefault(&c.DPoP.ProofMaxSkew, DefaultDPoPProofMaxSkew)
}

// dpop checks the dpop block's bounds.
func (v *validator) dpop(d *DPoP) {
	if d.ProofMaxAge.D() < time.Second || d.ProofMaxAge.D() > 10*time.Minute {
		v.addf("dpop.proof_max_age", "must be between 1s and 10m, got %s", d.ProofMaxAge)
	}
	if d.ProofMaxSkew.D() < 0 || d.ProofMaxSkew.D() > time.Minute {
		v.addf("dpop.proof_max_skew", "must be between 0s and 1m, got %s", d.ProofMaxSkew)
	}
}
