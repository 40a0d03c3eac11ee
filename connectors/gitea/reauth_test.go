package gitea_test

import (
	"testing"

	"github.com/gatehouse-id/gatehouse/connectors/gitea"
	"github.com/gatehouse-id/gatehouse/connectors/internal/fakeoauth"
)

// Attack (issue 12.3): with prompt=login or max_age the client was told the user had just
// signed in, though Gitea (plain OAuth 2.0, no auth_time) was never asked and cannot say when
// the user authenticated. A demanded re-authentication is login_required (ErrLoginRequired),
// before the user is sent to Gitea and again if a callback arrives anyway.
func TestReauthCannotBeProven(t *testing.T) {
	fakeoauth.CheckReauthRefused(t, open(t, newFake(t), gitea.Config{}), callback)
}
