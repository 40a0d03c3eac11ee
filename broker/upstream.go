package broker

import (
	"errors"

	"github.com/gatehouse-id/gatehouse/broker/logout"
	"github.com/gatehouse-id/gatehouse/broker/upstreamlogout"
)

// buildUpstreamLogout builds upstream logout (broker/upstreamlogout) when a connector is
// configured with logout: upstream: storage must find sessions by upstream session and keep
// single-use records, or the broker refuses to start.
func (s *Server) buildUpstreamLogout(ender *logout.Ender) error {
	wanted := false
	for _, sl := range s.conns.All() {
		wanted = wanted || sl.UpstreamLogout
	}
	if !wanted {
		return nil
	}
	st, ok := s.Storage.(upstreamlogout.Sessions)
	if !ok {
		return errors.New("broker: logout: upstream needs a storage backend that finds sessions by upstream session (sqlite, postgres)")
	}
	s.upstream = &upstreamlogout.Handler{Issuer: s.Issuer, Connectors: s.conns, Store: st, Ender: ender,
		NoteEnded: s.Sessions.NoteEnded, Pages: s.pages, Logger: s.Logger, Now: s.Now}
	s.logout.Upstream = s.upstream
	return nil
}
