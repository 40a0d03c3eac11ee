package broker

import (
	"errors"
	"fmt"

	"github.com/gatehouse-id/gatehouse/broker/authflow"
	"github.com/gatehouse-id/gatehouse/broker/forwardauth"
	"github.com/gatehouse-id/gatehouse/storage"
)

// buildForwardAuth builds the identity-aware proxy endpoint when apps are protected, and
// registers it as the responder of forward-auth logins.
func (s *Server) buildForwardAuth(flow *authflow.Flow) error {
	if s.ForwardAuth == nil {
		return nil
	}
	blobs := s.blobs()
	if blobs == nil {
		return errors.New("broker: forward auth needs a storage backend with blobs")
	}
	fwd, err := forwardauth.New(forwardauth.Deps{
		Issuer: s.Issuer, Settings: *s.ForwardAuth, Blobs: blobs, Sessions: s.Sessions, Authz: s.Claims,
		MFANeeded: s.MFA.needed, Signer: s.Minter, Flow: flow, Pages: s.pages, TrustedProxies: s.TrustedProxies,
		Audit: s.Audit, Logger: s.Logger, Now: s.Now,
	})
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	for _, app := range s.ForwardAuth.Apps {
		if s.Clients.Get(forwardauth.ClientID(app.ID)) == nil {
			return fmt.Errorf("broker: protected app %s is not in the client registry", app.ID)
		}
	}
	s.fwd = fwd
	flow.SetResponder(storage.ProtocolForwardAuth, fwd)
	return nil
}
