package grants

import (
	"net/http"
	"slices"

	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/storage"
)

// grantAudience is the aud of an access token of grant g (authorization_code, refresh_token;
// RFC 8707 2.2): the resource parameters of the token request, each among the resources of
// the authorization request (else invalid_target: a token request narrows, never widens);
// none sent: all of the grant's resources; a grant without resources: the client (nil).
func grantAudience(r *http.Request, g storage.Grant) ([]string, error) {
	req := r.PostForm["resource"]
	if err := checkResources(req); err != nil {
		return nil, err
	}
	for _, x := range req {
		if !slices.Contains(g.Resources, x) {
			return nil, oauth2err.New(oauth2err.InvalidTarget, "resource "+truncate(x)+" was not part of the authorization")
		}
	}
	if len(req) > 0 {
		return dedupe(req), nil
	}
	return g.Resources, nil
}
