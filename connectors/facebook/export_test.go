package facebook

// SetBase points the connector at a fake Facebook (web: the login dialog; graph: the token
// endpoint and the Graph API). Tests only.
func (c *Config) SetBase(web, graph string) { c.web, c.graph = web, graph }
