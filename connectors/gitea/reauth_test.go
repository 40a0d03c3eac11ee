package gitea_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/gitea"
)

// Attack (issue 12.3): with prompt=login or max_age the client was told the user had just
// signed in, though Gitea (plain OAuth 2.0, no auth_time) was never asked and cannot say when
// the user authenticated. A demanded re-authentication is login_required (ErrLoginRequired),
// before the user is sent to Gitea and again if a callback arrives anyway.
func TestReauthCannotBeProven(t *testing.T) {
	f := newFake(t)
	c := open(t, f, gitea.Config{})
	ra := connectors.Reauth{Force: true, NotBefore: time.Now()}
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
