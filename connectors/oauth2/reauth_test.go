package oauth2_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/connectors"
)

// Attack (issue 12.3): with prompt=login or max_age the client was told the user had just
// signed in, though a plain OAuth 2.0 upstream (no ID token, no auth_time) was never asked
// and cannot say when the user authenticated. A demanded re-authentication is
// login_required (ErrLoginRequired), before the redirect and again at the callback.
func TestReauthCannotBeProven(t *testing.T) {
	_, c := setup(t)
	ra := connectors.Reauth{MaxAge: time.Minute, NotBefore: time.Now().Add(-time.Minute)}
	if _, err := c.Begin(context.Background(), connectors.BeginRequest{CallbackURL: callback, State: "st", Reauth: ra}); !errors.Is(err, connectors.ErrLoginRequired) {
		t.Fatalf("Begin: err = %v, want ErrLoginRequired", err)
	}
	step, err := c.Begin(context.Background(), connectors.BeginRequest{CallbackURL: callback, State: "st"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Finish(context.Background(), connectors.FinishRequest{CallbackURL: callback, State: "st", Stash: step.Stash, Reauth: ra}, nil)
	if !errors.Is(err, connectors.ErrLoginRequired) {
		t.Fatalf("Finish: err = %v, want ErrLoginRequired", err)
	}
}
