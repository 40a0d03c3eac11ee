package config

import (
	"fmt"
	"time"

	"gopkg.in/yaml.v3"
)

// UnmarshalYAML reads a duration written as "90s", "1h" or "720h". Parse and DecodeStrict
// handle Duration themselves (with variable expansion); this method serves plain yaml.v3.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: expected a duration such as 90s, 30m or 720h", n.Line)
	}
	if n.ShortTag() == "!!null" {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: invalid duration %q: %w", n.Line, n.Value, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration in time.Duration's notation, e.g. "1h0m0s".
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// String returns the duration in time.Duration's notation.
func (d Duration) String() string { return time.Duration(d).String() }
