package config

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
)

// samlIdP checks saml_idp and service_providers. Files are not opened here (no I/O).
func (v *validator) samlIdP(c *Config, connectorIDs map[string]bool) {
	idp := c.SAMLIdP
	if (idp.Key == "") != (idp.Cert == "") {
		v.addf("saml_idp", "key and cert go together: set both (PEM files), or neither to have Gatehouse generate and store a key")
	}
	if idp.AssertionLifetime < 0 {
		v.addf("saml_idp.assertion_lifetime", "must not be negative")
	}
	first := map[string]int{}
	entities := map[string]int{}
	for i, sp := range c.ServiceProviders {
		p := fmt.Sprintf("service_providers[%d]", i)
		switch {
		case sp.ID == "":
			v.addf(p+".id", "is required (a short URL-safe name such as wiki)")
		case !connectorIDOK(sp.ID):
			v.addf(p+".id", "%q may contain only lowercase letters, digits, '-' and '_'", sp.ID)
		default:
			if j, dup := first[sp.ID]; dup {
				v.addf(p+".id", "duplicate service provider id %q (also service_providers[%d])", sp.ID, j)
			} else {
				first[sp.ID] = i
			}
		}
		sources := 0
		if sp.MetadataURL != "" {
			sources++
			if u, err := url.Parse(sp.MetadataURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				v.addf(p+".metadata_url", "%q is not an http(s) URL", sp.MetadataURL)
			} else if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
				v.addf(p+".metadata_url", "%q uses http on a non-loopback host: metadata carries the keys that are trusted, use https://", sp.MetadataURL)
			}
			if sp.EntityID == "" {
				v.addf(p+".entity_id", "is required with metadata_url (the entity the fetched metadata must describe; "+
					"metadata for another entity is refused, so one SP cannot answer for another)")
			}
		}
		if sp.MetadataFile != "" {
			sources++
		}
		if sp.ACSURL != "" {
			sources++
			v.samlURL(p+".acs_url", sp.ACSURL)
			if sp.EntityID == "" {
				v.addf(p+".entity_id", "is required with acs_url (the SP's entity ID, the Issuer of its requests)")
			}
		}
		switch {
		case sources == 0:
			v.addf(p, "needs metadata_url, metadata_file, or entity_id with acs_url")
		case sources > 1:
			v.addf(p, "set only one of metadata_url, metadata_file, or entity_id with acs_url")
		}
		if sp.ACSURL == "" {
			if sp.SLOURL != "" {
				v.addf(p+".slo_url", "is only used with entity_id and acs_url; with metadata, the metadata names the SLO service")
			}
			if sp.Cert != "" {
				v.addf(p+".cert", "is only used with entity_id and acs_url; with metadata, the metadata carries the certificates")
			}
		}
		if sp.SLOURL != "" {
			v.samlURL(p+".slo_url", sp.SLOURL)
		}
		if sp.EntityID != "" {
			if j, dup := entities[sp.EntityID]; dup {
				v.addf(p+".entity_id", "duplicate entity ID %q (also service_providers[%d])", sp.EntityID, j)
			} else {
				entities[sp.EntityID] = i
			}
		}
		switch sp.NameIDFormat {
		case "", "persistent", "emailAddress", "transient":
		default:
			v.addf(p+".name_id_format", "must be one of persistent, emailAddress, transient, got %q", sp.NameIDFormat)
		}
		for _, name := range slices.Sorted(maps.Keys(sp.Attributes)) {
			claim := sp.Attributes[name]
			if strings.TrimSpace(name) == "" {
				v.addf(p+".attributes", "an attribute name must not be empty")
			}
			if !claimNameRe.MatchString(claim) && claim != "sub" {
				v.addf(p+".attributes."+name, "%q is not a claim name (e.g. email, name, groups, preferred_username)", claim)
			}
		}
		if sp.SignResponse != nil && sp.SignAssertion != nil && !*sp.SignResponse && !*sp.SignAssertion {
			v.addf(p, "sign_response and sign_assertion are both false: an unsigned assertion would be accepted by no careful SP; keep at least one")
		}
		if sp.EncryptAssertion && sp.ACSURL != "" && sp.Cert == "" {
			v.addf(p+".cert", "is required with encrypt_assertion when the SP has no metadata (the assertion is encrypted to it)")
		}
		v.requirement(p+".require", sp.Require)
		for j, id := range sp.AllowedConnectors {
			if !connectorIDs[id] {
				v.addf(fmt.Sprintf("%s.allowed_connectors[%d]", p, j), "%q is not a configured connector id%s", id, knownList(connectorIDs))
			}
		}
	}
	for i, cl := range c.Clients {
		if strings.HasPrefix(cl.ID, "saml:") {
			v.addf(fmt.Sprintf("clients[%d].id", i), "%q: client IDs starting with saml: are reserved for service_providers", cl.ID)
		}
	}
}

// samlURL checks an SP endpoint: absolute http(s) with a host, no fragment.
func (v *validator) samlURL(path, s string) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" {
		v.addf(path, "%q is not an absolute http(s) URL without a fragment", s)
	}
}
