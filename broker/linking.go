package broker

import (
	"context"
	"fmt"

	"github.com/gatehouse-id/gatehouse/broker/authflow"
	"github.com/gatehouse-id/gatehouse/broker/linking"
	"github.com/gatehouse-id/gatehouse/mfa"
	"github.com/gatehouse-id/gatehouse/storage"
)

// buildLinking builds the account page's sign-in methods (broker/linking) when the client
// registry has its pseudo-client (internal/assembly adds it), and registers it as the
// responder of link flows. Storage must list and delete links and keep single-use blobs.
func (s *Server) buildLinking(flow *authflow.Flow) error {
	if s.Clients.Get(linking.ClientID) == nil {
		return nil
	}
	lm, ok := s.Storage.(storage.LinkManager)
	bindings, ok2 := s.Storage.(linking.Bindings)
	if !ok || !ok2 {
		return fmt.Errorf("broker: linking logins from the account page needs a storage backend with storage.LinkManager and blobs it can take (%T)", s.Storage)
	}
	d := linking.Deps{
		Sessions: s.Sessions, Links: lm, Bindings: bindings, Grants: s.Storage, Claims: s.Claims, Flow: flow,
		Connectors: s.conns, Pages: s.pages, Audit: s.Audit, Logger: s.Logger, Now: s.Now,
	}
	if s.MFA != nil {
		svc := s.MFA.Service
		// Like the account page's factors: a user with second factors changes their
		// sign-in methods only from a session that used one.
		d.Locked = func(ctx context.Context, sess storage.Session) (bool, error) {
			st, err := svc.Status(ctx, mfa.UserOf(sess.Identity).ID)
			return st.Enrolled() && !mfa.Satisfied(sess.Auth), err
		}
	}
	h, err := linking.New(d)
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	s.linking = h
	flow.SetResponder(storage.ProtocolLink, h)
	return nil
}
