package main

import (
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/connectors/apple"
	"github.com/gatehouse-id/gatehouse/connectors/authproxy"
	"github.com/gatehouse-id/gatehouse/connectors/bitbucket"
	"github.com/gatehouse-id/gatehouse/connectors/discord"
	"github.com/gatehouse-id/gatehouse/connectors/facebook"
	"github.com/gatehouse-id/gatehouse/connectors/gitea"
	"github.com/gatehouse-id/gatehouse/connectors/github"
	"github.com/gatehouse-id/gatehouse/connectors/gitlab"
	"github.com/gatehouse-id/gatehouse/connectors/google"
	"github.com/gatehouse-id/gatehouse/connectors/ldap"
	"github.com/gatehouse-id/gatehouse/connectors/linkedin"
	"github.com/gatehouse-id/gatehouse/connectors/local"
	"github.com/gatehouse-id/gatehouse/connectors/microsoft"
	"github.com/gatehouse-id/gatehouse/connectors/oauth2"
	"github.com/gatehouse-id/gatehouse/connectors/oidc"
	"github.com/gatehouse-id/gatehouse/connectors/saml"
	"github.com/gatehouse-id/gatehouse/connectors/slack"
)

// newRegistry lists the connector types this binary knows: one line per type.
func newRegistry(users local.UserSource) connectors.Registry {
	return connectors.Registry{
		"apple":     func() connectors.Config { return &apple.Config{} },
		"authproxy": func() connectors.Config { return &authproxy.Config{} },
		"bitbucket": func() connectors.Config { return &bitbucket.Config{} },
		"discord":   func() connectors.Config { return &discord.Config{} },
		"facebook":  func() connectors.Config { return &facebook.Config{} },
		"gitea":     func() connectors.Config { return &gitea.Config{} },
		"github":    func() connectors.Config { return &github.Config{} },
		"gitlab":    func() connectors.Config { return &gitlab.Config{} },
		"google":    func() connectors.Config { return &google.Config{} },
		"ldap":      func() connectors.Config { return &ldap.Config{} },
		"linkedin":  func() connectors.Config { return &linkedin.Config{} },
		"local":     func() connectors.Config { return &local.Config{Users: users} },
		"microsoft": func() connectors.Config { return &microsoft.Config{} },
		"oauth2":    func() connectors.Config { return &oauth2.Config{} },
		"oidc":      func() connectors.Config { return &oidc.Config{} },
		"saml":      func() connectors.Config { return &saml.Config{} },
		"slack":     func() connectors.Config { return &slack.Config{} },
	}
}
