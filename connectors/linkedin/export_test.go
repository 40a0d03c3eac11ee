package linkedin

// SetIssuer points the connector at a fake LinkedIn (tests only).
func (c *Config) SetIssuer(issuer string) { c.issuer = issuer }
