package broker

import (
	"errors"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/dpop"
	"github.com/gatehouse-id/gatehouse/storage"
)

// DPoP bounds DPoP proofs (RFC 9449).
type DPoP struct {
	// ProofMaxAge is how old a proof's iat may be (0: dpop.DefaultMaxAge).
	ProofMaxAge time.Duration
	// ProofMaxSkew is how far in the future a proof's iat may be (0: dpop.DefaultMaxFuture).
	ProofMaxSkew time.Duration
	// Nonce makes the token endpoint require server nonces (period ProofMaxAge).
	Nonce bool
}

// dpopValidator builds the proof validator shared by the token endpoint and userinfo. Its
// replay records (and the nonce key) live in storage, shared by every replica.
func (s *Server) dpopValidator() (*dpop.Validator, error) {
	blobs, ok := s.Storage.(storage.BlobStore)
	if !ok {
		return nil, errors.New("broker: the storage backend cannot keep DPoP replay records (storage.BlobStore)")
	}
	v := &dpop.Validator{Replay: blobs, MaxAge: s.DPoP.ProofMaxAge, MaxFuture: s.DPoP.ProofMaxSkew, Now: s.Now}
	if v.MaxAge <= 0 {
		v.MaxAge = dpop.DefaultMaxAge
	}
	if v.MaxFuture <= 0 {
		v.MaxFuture = dpop.DefaultMaxFuture
	}
	if s.DPoP.Nonce {
		v.Nonces = dpop.NewNonces(blobs, v.MaxAge)
	}
	return v, nil
}
