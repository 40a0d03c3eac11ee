package admin

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"connectrpc.com/connect"

	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/internal/logctx"
)

type actorKey struct{}

// Actor returns the client ID of the authenticated caller ("" outside the admin API).
func Actor(ctx context.Context) string {
	a, _ := ctx.Value(actorKey{}).(string) //nolint:errcheck // a missing actor is ""
	return a
}

// authenticate lets a request through only with a client certificate verified by
// admin.client_ca naming an admin client, or a bearer token that is a live Gatehouse
// client_credentials access token carrying config.AdminScope, issued to one of the admin
// clients. Without a token the answer is unauthenticated; with another token,
// permission_denied. The body is bounded before any handler reads it.
func (s *Server) authenticate(next http.Handler) http.Handler {
	ew := connect.NewErrorWriter()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, MaxRequestBytes)
		actor, err := s.caller(r)
		if err != nil {
			s.d.Logger.InfoContext(r.Context(), "admin API: caller refused", "err", err)
			if werr := ew.Write(w, r, err); werr != nil {
				s.d.Logger.DebugContext(r.Context(), "admin API: error not written", "err", werr)
			}
			return
		}
		logctx.Add(r.Context(), "client_id", actor)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), actorKey{}, actor)))
	})
}

// caller returns the authenticated admin client's ID, or a connect error. A client
// certificate verified by admin.client_ca (the listener verifies it; only then are there
// verified chains) names the client by its subject common name; otherwise the bearer token
// does.
func (s *Server) caller(r *http.Request) (string, error) {
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		cn := r.TLS.VerifiedChains[0][0].Subject.CommonName
		if !slices.Contains(s.d.AdminClients, cn) {
			return "", connect.NewError(connect.CodePermissionDenied, errors.New("the client certificate's common name "+strconv.Quote(cn)+" is not in admin.clients"))
		}
		return cn, nil
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", connect.NewError(connect.CodeUnauthenticated, errors.New("a bearer token is required (a client_credentials access token with scope "+config.AdminScope+")"))
	}
	scheme, raw, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(raw) == "" {
		return "", connect.NewError(connect.CodeUnauthenticated, errors.New("the Authorization header is not a bearer token"))
	}
	at, _, err := s.d.Verifier.Verify(r.Context(), strings.TrimSpace(raw))
	if err != nil {
		if oe := oauth2err.As(err); oe.Code == oauth2err.ServerError {
			return "", connect.NewError(connect.CodeUnavailable, errors.New("the token could not be checked"))
		}
		return "", connect.NewError(connect.CodeUnauthenticated, errors.New("the access token is invalid, expired or revoked"))
	}
	switch {
	case at.GrantID != "" || at.Subject != at.ClientID:
		return "", connect.NewError(connect.CodePermissionDenied, errors.New("the token was issued to a user; the admin API takes client_credentials tokens"))
	case !slices.Contains(at.Scopes, config.AdminScope):
		return "", connect.NewError(connect.CodePermissionDenied, errors.New("the token lacks scope "+config.AdminScope))
	case !slices.Contains(s.d.AdminClients, at.ClientID):
		return "", connect.NewError(connect.CodePermissionDenied, errors.New("client "+at.ClientID+" is not in admin.clients"))
	}
	return at.ClientID, nil
}
