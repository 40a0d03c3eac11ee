package authreq

import (
	"net/url"
	"strconv"

	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/config"
)

// maxResources bounds the resource parameters of one request.
const maxResources = 10

// parseResources reads the resource indicators (RFC 8707 2): each an absolute URI without a
// fragment, allowed for the client (its resources); else invalid_target.
func parseResources(req *Request, form url.Values, client *clients.Client) error {
	rs := form["resource"]
	if len(rs) > maxResources {
		return oauth2err.New(oauth2err.InvalidTarget, "too many resource parameters")
	}
	for _, r := range rs {
		if len(r) > maxParamLen {
			return oauth2err.New(oauth2err.InvalidRequest, "parameter resource is too long")
		}
		if err := config.CheckResourceURI(r); err != nil {
			return oauth2err.New(oauth2err.InvalidTarget, "resource "+strconv.Quote(truncate(r))+" is not an absolute URI without a fragment")
		}
		if !client.AllowsResource(r) {
			return oauth2err.New(oauth2err.InvalidTarget, "resource "+strconv.Quote(truncate(r))+" is not allowed for this client")
		}
	}
	req.Resources = dedupe(rs)
	return nil
}
