package microsoft

// SetEndpoints points the connector at a fake identity platform and Graph (tests only).
func (c *Config) SetEndpoints(authority, graph string) { c.authority, c.graph = authority, graph }
