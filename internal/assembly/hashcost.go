package assembly

import (
	"fmt"

	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/connectors/local"
)

// CheapHashWarnings names the configured users whose bcrypt hash is cheaper than the local
// connectors' cost: until such a user logs in (and the hash is redone at the configured
// cost), a wrong password for them answers faster than for an unknown user, which tells an
// attacker the username exists. Each warning starts with file:line and the key path.
func CheapHashWarnings(cfg *config.Config, decoded []DecodedConnector) []string {
	want := 0
	for _, d := range decoded {
		if lc, ok := d.Config.(*local.Config); ok {
			want = max(want, lc.EffectiveCost())
		}
	}
	if want == 0 {
		return nil // no local connector: the users are not used
	}
	var out []string
	for i, u := range cfg.Users {
		got, err := bcrypt.Cost([]byte(u.PasswordHash))
		if err != nil || got >= want {
			continue
		}
		path := fmt.Sprintf("users[%d].password_hash", i)
		file, line := cfg.Position(path)
		out = append(out, fmt.Sprintf("%s:%d: %s: warning: bcrypt cost %d is below the local connector's cost %d: "+
			"until %q logs in (the hash is then redone), a wrong password for this user answers faster than for an unknown user; "+
			"make a new hash with `gatehouse hash-password -cost %d`", file, line, path, got, want, u.Username, want))
	}
	return out
}

// localCost is the highest bcrypt cost of the local connectors (0: none is configured), the
// cost of passwords set through the admin API.
func localCost(decoded []DecodedConnector) int {
	cost := 0
	for _, d := range decoded {
		if lc, ok := d.Config.(*local.Config); ok {
			cost = max(cost, lc.EffectiveCost())
		}
	}
	return cost
}
