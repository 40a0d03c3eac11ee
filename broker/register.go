package broker

import (
	"errors"

	"github.com/gatehouse-id/gatehouse/broker/registration"
	"github.com/gatehouse-id/gatehouse/storage"
)

// buildRegistration builds Dynamic Client Registration (RFC 7591/7592) when
// Deps.Registration turns it on; the storage must keep clients and initial access tokens.
func (s *Server) buildRegistration() error {
	if s.Registration == nil || !s.Registration.Enabled {
		return nil
	}
	cs, ok := s.Storage.(storage.ClientStore)
	rs, ok2 := s.Storage.(storage.RegistrationStore)
	if !ok || !ok2 {
		return errors.New("broker: registration.enabled needs a storage backend that keeps clients and initial access tokens")
	}
	st, err := registration.NewStatements(s.Registration.SoftwareStatement, s.Now)
	if err != nil {
		return err
	}
	s.registration = registration.New(registration.Deps{
		Issuer: s.Issuer, Policy: *s.Registration, Statements: st, Clients: s.Clients, Store: cs, Tokens: rs,
		Audit: s.Audit, Logger: s.Logger, Now: s.Now,
	})
	return nil
}
