package config

// OAuth2 holds authorization server settings for every client (oauth2:).
type OAuth2 struct {
	// RequirePushedAuthorizationRequests: every authorization request must be pushed to
	// /par first (RFC 9126 6), as if each client set require_pushed_authorization_requests.
	RequirePushedAuthorizationRequests bool `yaml:"require_pushed_authorization_requests"`
}
