package main

import (
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/ldap"
	"github.com/gatehouse-id/gatehouse/connectors/local"
	"github.com/gatehouse-id/gatehouse/connectors/saml"
)

// newRegistry lists the connector types this binary knows: one line per type.
func newRegistry(users local.UserSource) connectors.Registry {
	return connectors.Registry{
		"ldap":  func() connectors.Config { return &ldap.Config{} },
		"local": func() connectors.Config { return &local.Config{Users: users} },
		"saml":  func() connectors.Config { return &saml.Config{} },
	}
}
