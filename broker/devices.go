package broker

import (
	"fmt"

	"github.com/gatehouse-id/gatehouse/broker/authflow"
	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/device"
	"github.com/gatehouse-id/gatehouse/storage"
)

// buildDevice builds the device authorization grant's endpoints and responder (RFC 8628)
// when storage keeps device codes, blobs and attempt budgets (SQLite and PostgreSQL do).
func (s *Server) buildDevice(flow *authflow.Flow) error {
	ds, ok := s.Storage.(storage.DeviceStore)
	rl, ok2 := s.Storage.(storage.RateLimitStore)
	if !ok || !ok2 || s.blobs() == nil {
		return nil
	}
	d, err := device.New(device.Deps{
		Issuer: s.Issuer, Clients: s.Clients, KnownScope: s.Claims.KnownScope, Devices: ds, Blobs: s.blobs(),
		RateLimits: rl, Assertions: s.assertions(), Sessions: s.Sessions, Flow: flow, Pages: s.pages, TrustedProxies: s.TrustedProxies,
		Logger: s.Logger, Now: s.Now,
	})
	if err != nil {
		return fmt.Errorf("broker: device: %w", err)
	}
	s.device = d
	flow.SetResponder(storage.ProtocolDevice, d)
	return nil
}

// assertions is the private_key_jwt verifier every client-authenticating endpoint shares.
func (s *Server) assertions() *clients.AssertionVerifier {
	if s.assertionVerifier == nil {
		s.assertionVerifier = &clients.AssertionVerifier{Clients: s.Clients, Issuer: s.Issuer, Replay: s.blobs(), Now: s.Now}
	}
	return s.assertionVerifier
}

// devices returns the storage's DeviceStore, or nil.
func (s *Server) devices() storage.DeviceStore {
	d, _ := s.Storage.(storage.DeviceStore)
	return d
}
