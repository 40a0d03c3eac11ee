package config

import (
	"fmt"
	"strings"
)

// MaxDomainLen bounds a DNS name (RFC 1035 2.3.4).
const MaxDomainLen = 253

// connectorDomains checks connectors[].domains: each a lowercase DNS name, and each claimed
// by one connector only. A domain claimed twice is reported at the second claim, naming both
// connectors and the line of the first.
func (v *validator) connectorDomains(list []ConnectorBlock) {
	type claim struct {
		connector, path string
	}
	claimed := map[string]claim{}
	for i, c := range list {
		for j, d := range c.Domains {
			p := fmt.Sprintf("connectors[%d].domains[%d]", i, j)
			if !DomainOK(d) {
				v.addf(p, "%q is not a domain: lowercase letters, digits, '-' and '.', e.g. corp.example (no @, no scheme)", d)
				continue
			}
			if first, dup := claimed[d]; dup {
				if first.connector == c.ID {
					v.addf(p, "domain %q is listed twice for connector %q", d, c.ID)
					continue
				}
				v.addf(p, "domain %q is claimed by connectors %q and %q (%s): a domain routes to one connector",
					d, first.connector, c.ID, v.where(first.path))
				continue
			}
			claimed[d] = claim{connector: c.ID, path: p}
		}
	}
}

// where is "file:line" (or the key path when the line is unknown) of a key path.
func (v *validator) where(path string) string {
	if l := v.src.line(path); l > 0 && v.src.fileName() != "" {
		return fmt.Sprintf("%s:%d", v.src.fileName(), l)
	} else if l > 0 {
		return fmt.Sprintf("line %d", l)
	}
	return path
}

// DomainOK reports whether d is a lowercase DNS name of at least two labels: letters,
// digits and '-', labels of 1 to 63 characters not starting or ending with '-'.
func DomainOK(d string) bool {
	if d == "" || len(d) > MaxDomainLen {
		return false
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
				return false
			}
		}
	}
	return true
}
