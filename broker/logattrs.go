package broker

import (
	"context"

	"github.com/gatehouse-id/gatehouse/internal/logctx"
	"github.com/gatehouse-id/gatehouse/storage"
)

// logFlow attaches what an operator needs to every later log line of the request: the auth
// request's client and, once known, its connector and username. Never secrets.
func logFlow(ctx context.Context, ar storage.AuthRequest) {
	logctx.Add(ctx, "client_id", ar.ClientID)
	if ar.Auth.ConnectorID != "" {
		logctx.Add(ctx, "connector", ar.Auth.ConnectorID)
	}
	if ar.Identity.PreferredUsername != "" {
		logctx.Add(ctx, "username", ar.Identity.PreferredUsername)
	}
}
