package config

import (
	"fmt"
	"slices"
	"strings"
)

// AdminScope is the scope a client_credentials access token needs to call the admin API. Only
// the clients named in admin.clients may have it in allowed_scopes.
const AdminScope = "gatehouse:admin"

// admin checks admin.http, admin.pprof and admin.clients: an admin client is a configured
// confidential client with client_credentials and the admin scope, and no other client may
// have the admin scope.
func (v *validator) admin(c *Config) {
	if c.Admin.HTTP != "" {
		v.listenAddr("admin.http", c.Admin.HTTP)
	} else {
		if c.Admin.PProf {
			v.addf("admin.pprof", "needs admin.http: profiles are served only on the admin listener")
		}
		if len(c.Admin.Clients) > 0 {
			v.addf("admin.clients", "needs admin.http: the admin API is served only on the admin listener")
		}
		if c.Admin.TLSCert != "" || c.Admin.TLSKey != "" {
			v.addf("admin.tls_cert", "needs admin.http")
		}
	}
	if (c.Admin.TLSCert == "") != (c.Admin.TLSKey == "") {
		v.addf("admin.tls_key", "admin.tls_cert and admin.tls_key go together")
	}
	if c.Admin.ClientCA != "" {
		switch {
		case c.Admin.TLSCert == "":
			v.addf("admin.client_ca", "needs admin.tls_cert: client certificates are asked for over https only")
		case len(c.Admin.Clients) == 0:
			v.addf("admin.client_ca", "needs admin.clients: a certificate authenticates the admin client named by its common name")
		}
	}
	byID := map[string]Client{}
	for _, cl := range c.Clients {
		byID[cl.ID] = cl
	}
	for i, id := range c.Admin.Clients {
		p := fmt.Sprintf("admin.clients[%d]", i)
		cl, ok := byID[id]
		switch {
		case !ok:
			v.addf(p, "%q is not a configured client id", id)
		case cl.Public:
			v.addf(p, "%q is a public client; an admin client must authenticate", id)
		case !cl.allowsGrant("client_credentials") || !slices.Contains(cl.AllowedScopes, AdminScope):
			v.addf(p, "client %q needs grant_types [client_credentials] and allowed_scopes [%s]", id, AdminScope)
		}
	}
	for i, cl := range c.Clients {
		if j := slices.Index(cl.AllowedScopes, AdminScope); j >= 0 && !slices.Contains(c.Admin.Clients, cl.ID) {
			v.addf(fmt.Sprintf("clients[%d].allowed_scopes[%d]", i, j), "%s is granted only to the clients named in admin.clients", AdminScope)
		}
	}
}

// ValidateClient checks one client with the rules of the clients: section (redirect URIs,
// grant types, scopes, connectors, keys, logout URIs, resources), as the admin API and
// Dynamic Client Registration do before they store a client.
// connectorIDs are the configured connectors. The problems' paths are relative to the client
// ("redirect_uris[0]").
func ValidateClient(c Client, connectorIDs []string) *Errors {
	v := &validator{errs: &Errors{}}
	ids := map[string]bool{}
	for _, id := range connectorIDs {
		ids[id] = true
	}
	v.clients([]Client{c}, ids)
	v.tokenExchange(&Config{Clients: []Client{c}}) // resources; token_exchange policies name no connector here
	for i, sc := range c.AllowedScopes {
		if sc == AdminScope {
			v.addf(fmt.Sprintf("clients[0].allowed_scopes[%d]", i), "%s is granted only to the clients named in admin.clients", AdminScope)
		}
	}
	if len(v.errs.Problems) == 0 {
		return nil
	}
	for _, p := range v.errs.Problems {
		p.Path = strings.TrimPrefix(strings.TrimPrefix(p.Path, "clients[0]"), ".")
	}
	return v.errs
}

// ValidateServiceProvider checks one SAML service provider by the rules of
// service_providers in a file (the admin API validates the SPs it stores with it; files are
// not opened). Problem paths are relative to the SP ("entity_id", "attributes.mail"; "" for
// the SP as a whole). nil when it is valid.
func ValidateServiceProvider(sp ServiceProvider, connectorIDs []string) *Errors {
	v := &validator{errs: &Errors{}}
	ids := map[string]bool{}
	for _, id := range connectorIDs {
		ids[id] = true
	}
	v.samlIdP(&Config{ServiceProviders: []ServiceProvider{sp}}, ids)
	if len(v.errs.Problems) == 0 {
		return nil
	}
	for _, p := range v.errs.Problems {
		p.Path = strings.TrimPrefix(strings.TrimPrefix(p.Path, "service_providers[0]"), ".")
	}
	return v.errs
}
