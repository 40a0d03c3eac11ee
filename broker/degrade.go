package broker

import (
	"context"
	"net/http"

	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
)

// degrade turns a server_error caused by an unreachable storage backend into a 503
// temporarily_unavailable, so clients and load balancers know to retry elsewhere or later.
func (s *Server) degrade(ctx context.Context, err error) error {
	e := oauth2err.As(err)
	if e.Code != oauth2err.ServerError || !s.pages.StorageDown(ctx) {
		return err
	}
	return &oauth2err.Error{Code: oauth2err.TemporarilyUnavailable,
		Description: "the authorization server cannot reach its database; try again shortly",
		Status:      http.StatusServiceUnavailable}
}
