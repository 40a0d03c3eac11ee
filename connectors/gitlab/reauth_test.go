package gitlab_test

import (
	"testing"

	"github.com/gatehouse-id/gatehouse/connectors/gitlab"
	"github.com/gatehouse-id/gatehouse/connectors/internal/fakeoauth"
)

// Attack (issue 12.3): with prompt=login or max_age the client was told the user had just
// signed in, though GitLab (plain OAuth 2.0, no auth_time) was never asked and cannot say when
// the user authenticated. A demanded re-authentication is login_required (ErrLoginRequired),
// before the user is sent to GitLab and again if a callback arrives anyway.
func TestReauthCannotBeProven(t *testing.T) {
	fakeoauth.CheckReauthRefused(t, open(t, newFake(t), gitlab.Config{}), callback)
}
