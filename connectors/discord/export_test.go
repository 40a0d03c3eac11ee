package discord

// SetBase points the connector at a fake Discord (tests only).
func (c *Config) SetBase(base string) { c.base = base }
