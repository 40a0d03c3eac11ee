package broker

import (
	"github.com/gatehouse-id/gatehouse/broker/authreq"
	"github.com/gatehouse-id/gatehouse/broker/par"
	"github.com/gatehouse-id/gatehouse/storage"
)

// buildPAR builds the request object verifier and, when storage can take blobs once
// (storage.BlobTaker; SQLite and PostgreSQL can), the pushed authorization request endpoint
// (RFC 9126) and the store /authorize takes pushed requests from.
func (s *Server) buildPAR() (*authreq.RequestObjects, *authreq.Pushed) {
	objects := &authreq.RequestObjects{Issuer: s.Issuer, Now: s.Now}
	taker, ok := s.Storage.(storage.BlobTaker)
	if !ok || s.blobs() == nil {
		return objects, nil
	}
	pushed := &authreq.Pushed{Blobs: s.blobs(), Taker: taker, Now: s.Now}
	s.par = par.New(par.Deps{
		Clients: s.Clients, Assertions: s.assertions(), KnownScope: s.Claims.KnownScope,
		RequestObjects: objects, Pushed: pushed, DPoP: s.proofs, Issuer: s.Issuer, Logger: s.Logger, Now: s.Now,
	})
	return objects, pushed
}
