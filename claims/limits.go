package claims

import (
	"fmt"

	"github.com/gatehouse-id/gatehouse/connectors"
)

// Limits on what an upstream identity may carry into the pipeline. They are generous: a real
// directory stays far below them, and an upstream that exceeds one is refused with a clear
// reason rather than truncated (dropping groups silently could change what a user may do).
const (
	// MaxUpstreamGroups bounds the groups of one upstream identity.
	MaxUpstreamGroups = 10_000
	// MaxUpstreamAttrs bounds the attribute (claim) names of one upstream identity.
	MaxUpstreamAttrs = 1_000
	// MaxUpstreamAttrValues bounds the values of one attribute.
	MaxUpstreamAttrValues = 10_000
	// MaxUpstreamValueBytes bounds one value: the subject, username, email, name, a group
	// name, an attribute name or value, an amr or acr.
	MaxUpstreamValueBytes = 64 << 10
)

// checkUpstream refuses an upstream identity past the limits above with a
// *connectors.DeniedError whose reason names the limit.
func checkUpstream(up connectors.Upstream) error {
	deny := func(format string, args ...any) error {
		return &connectors.DeniedError{Reason: "the identity provider sent " + fmt.Sprintf(format, args...) +
			"; Gatehouse refuses the sign-in rather than drop some"}
	}
	if len(up.Groups) > MaxUpstreamGroups {
		return deny("%d groups, more than the limit of %d", len(up.Groups), MaxUpstreamGroups)
	}
	if len(up.Attrs) > MaxUpstreamAttrs {
		return deny("%d attributes, more than the limit of %d", len(up.Attrs), MaxUpstreamAttrs)
	}
	long := func(what string) error {
		return deny("a %s of more than %d bytes", what, MaxUpstreamValueBytes)
	}
	for what, v := range map[string]string{"subject": up.Subject, "username": up.Username, "email": up.Email, "name": up.Name, "acr": up.ACR} {
		if len(v) > MaxUpstreamValueBytes {
			return long(what)
		}
	}
	for what, vs := range map[string][]string{"group name": up.Groups, "amr value": up.AMR} {
		for _, v := range vs {
			if len(v) > MaxUpstreamValueBytes {
				return long(what)
			}
		}
	}
	for k, vs := range up.Attrs {
		if len(vs) > MaxUpstreamAttrValues {
			return deny("%d values of one attribute, more than the limit of %d", len(vs), MaxUpstreamAttrValues)
		}
		if len(k) > MaxUpstreamValueBytes {
			return long("attribute name")
		}
		for _, v := range vs {
			if len(v) > MaxUpstreamValueBytes {
				return long("attribute value")
			}
		}
	}
	return nil
}
