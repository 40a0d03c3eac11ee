package google

// SetIssuer points the connector at a fake Google (tests only).
func (c *Config) SetIssuer(issuer string) { c.issuer = issuer }

// SetDirectory points the Directory API calls at a fake (tests only).
func (c *Config) SetDirectory(base string) { c.directory = base }
