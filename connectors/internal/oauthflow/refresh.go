package oauthflow

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse-id/gatehouse/connectors"
)

// RefreshIdentity is the refresh of an API-backed connector (GitHub, GitLab, plain OAuth2):
// decode the token stash, refresh the upstream token when it has expired, and read the user
// again with identity. A token the upstream refuses, a user who no longer qualifies
// (*connectors.DeniedError) and a token that now belongs to another user all become
// connectors.ErrUpstreamRevoked; provider names the upstream in those messages.
func RefreshIdentity(ctx context.Context, f *Flow, now time.Time, provider string, prev connectors.Upstream,
	identity func(context.Context, TokenStash) (connectors.Upstream, error)) (connectors.Upstream, error) {
	var ts TokenStash
	if err := DecodeStash(prev.Stash, &ts); err != nil {
		return connectors.Upstream{}, err
	}
	prevTS := ts
	ts, err := ts.Current(ctx, f, now)
	if err != nil {
		return connectors.Upstream{}, err
	}
	up, err := identity(ctx, ts)
	var denied *connectors.DeniedError
	switch {
	case IsUnauthorized(err):
		return connectors.Upstream{}, fmt.Errorf("%w: %s refused the token (authorization revoked?)", connectors.ErrUpstreamRevoked, provider)
	case errors.As(err, &denied):
		return connectors.Upstream{}, fmt.Errorf("%w: %s", connectors.ErrUpstreamRevoked, denied.Reason)
	case err != nil && ts != prevTS:
		return connectors.Upstream{}, keepRotated(err, ts)
	case err != nil:
		return connectors.Upstream{}, err
	}
	if prev.Subject != "" && up.Subject != prev.Subject {
		return connectors.Upstream{}, fmt.Errorf("%w: the token now belongs to another %s user", connectors.ErrUpstreamRevoked, provider)
	}
	return up, nil
}

// keepRotated is a refresh failure after the upstream token was refreshed: the upstream may
// have rotated its refresh token (the old one no longer works), so the failure carries the
// new stash for the broker to store (connectors.UpstreamError.Stash).
func keepRotated(err error, ts TokenStash) error {
	stash, encErr := EncodeStash(ts)
	if encErr != nil {
		return errors.Join(err, encErr)
	}
	ue := &connectors.UpstreamError{Temporary: true, Err: err}
	if prev := (*connectors.UpstreamError)(nil); errors.As(err, &prev) {
		ue = &connectors.UpstreamError{Temporary: prev.Temporary, Err: prev.Err}
	}
	ue.Stash = stash
	return ue
}

// FinishIdentity is the Finish of an API-backed connector (GitHub, GitLab, Gitea, Bitbucket):
// redeem the code with f, then read the user with identity for the request's scopes.
func FinishIdentity(ctx context.Context, f *Flow, req connectors.FinishRequest, r *http.Request,
	identity func(context.Context, connectors.Scopes, TokenStash) (connectors.Upstream, error)) (connectors.Upstream, error) {
	tok, err := f.Finish(ctx, req, r)
	if err != nil {
		return connectors.Upstream{}, err
	}
	return identity(ctx, req.Scopes, NewTokenStash(tok))
}

// Clock returns now, or time.Now when it is nil (connectors.Deps.Now unset).
func Clock(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}
