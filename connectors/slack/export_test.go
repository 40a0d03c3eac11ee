package slack

// SetIssuer points the connector at a fake Slack (tests only).
func (c *Config) SetIssuer(issuer string) { c.issuer = issuer }
