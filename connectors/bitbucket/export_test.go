package bitbucket

// SetEndpoints points the connector at a fake Bitbucket (tests only).
func (c *Config) SetEndpoints(web, api string) { c.web, c.api = web, api }
