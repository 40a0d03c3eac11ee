package web

import (
	"embed"
	"html/template"
	"path"
	"slices"
	"strings"
)

// Provider button icons: monochrome 24x24 glyphs (fill="currentColor", aria-hidden), drawn
// for Gatehouse, embedded and inlined into the chooser.
//
//go:embed icons/*.svg
var icons embed.FS

// typeIcon is the icon of each connector type that has its own.
var typeIcon = map[string]string{
	"apple": "apple", "bitbucket": "bitbucket", "discord": "discord", "facebook": "facebook", "gitea": "gitea",
	"github": "github", "gitlab": "gitlab", "google": "google", "linkedin": "linkedin", "microsoft": "microsoft",
	"slack": "slack", "saml": "building", "ldap": "building", "oidc": "shield", "oauth2": "shield",
	"authproxy": "shield", "local": "key",
}

// typeName is the display name of each connector type whose brand users know.
var typeName = map[string]string{
	"apple": "Apple", "bitbucket": "Bitbucket", "discord": "Discord", "facebook": "Facebook", "gitea": "Gitea",
	"github": "GitHub", "gitlab": "GitLab", "google": "Google", "linkedin": "LinkedIn", "microsoft": "Microsoft",
	"slack": "Slack",
}

// IconNames lists the built-in icons (the values connectors[].icon accepts).
func IconNames() []string {
	entries, err := icons.ReadDir("icons")
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e.Name(), ".svg"))
	}
	slices.Sort(out)
	return out
}

// Icon returns the inline SVG of a built-in icon.
func Icon(name string) (template.HTML, bool) {
	if name == "" || strings.ContainsAny(name, "/.") {
		return "", false
	}
	b, err := icons.ReadFile(path.Join("icons", name+".svg"))
	if err != nil {
		return "", false
	}
	return template.HTML(strings.TrimSpace(string(b))), true //nolint:gosec // our own embedded SVG files, never user input
}

// IconFor returns the icon of a connector: override (connectors[].icon) when set, else its
// type's icon, else the generic key.
func IconFor(connectorType, override string) template.HTML {
	name := override
	if name == "" {
		name = typeIcon[connectorType]
	}
	if svg, ok := Icon(name); ok {
		return svg
	}
	svg, _ := Icon("key")
	return svg
}

// ProviderName returns the display name of a connector type users know by its brand
// ("GitHub"), or "" for the others.
func ProviderName(connectorType string) string { return typeName[connectorType] }
