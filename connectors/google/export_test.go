package google

// SetIssuer points the connector at a fake Google (tests only).
func (c *Config) SetIssuer(issuer string) { c.issuer = issuer }
