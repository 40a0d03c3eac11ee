package apple

// SetEndpoints points the connector at a fake Apple (tests only).
func (c *Config) SetEndpoints(authURL, tokenURL, keysURL, issuer string) {
	c.authURL, c.tokenURL, c.keysURL, c.issuer = authURL, tokenURL, keysURL, issuer
}
