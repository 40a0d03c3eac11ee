// Package schema reads a storage backend's embedded, versioned schema migrations
// (NNNN_name.sql files). Each backend applies them in its own dialect and transaction; this
// package only loads and checks them, so the rules are the same for every backend.
package schema

import (
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
)

// Migration is one numbered schema change.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

var fileName = regexp.MustCompile(`^([0-9]{4})_([a-z0-9_]+)\.sql$`)

// Load reads NNNN_name.sql files from fsys (directory dir), sorted by version. Versions must
// start at 1 and have no gaps or duplicates; any other file name is an error.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []Migration
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration file %q: name must be NNNN_name.sql", e.Name())
		}
		v, _ := strconv.Atoi(m[1]) //nolint:errcheck // the regexp matched four digits
		body, err := fs.ReadFile(fsys, dir+"/"+e.Name())
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		ms = append(ms, Migration{Version: v, Name: m[2], SQL: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migrations must be numbered 1..n without gaps or duplicates; found %04d at position %d", m.Version, i+1)
		}
	}
	return ms, nil
}

// ReadinessTables are the tables every backend's Ping reads one row of (SELECT 1 FROM t
// LIMIT 1): the stores the broker serves from, so that a table that cannot be read (damaged,
// dropped, permissions revoked) fails readiness instead of every login.
var ReadinessTables = []string{
	"signing_keys", "auth_requests", "auth_codes", "grants", "refresh_tokens",
	"sessions", "consents", "local_users", "user_links",
}
