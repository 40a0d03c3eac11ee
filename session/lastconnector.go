package session

import (
	"net/http"
	"time"
)

// The last-used connector cookie: the ID of the connector this browser last chose on the
// chooser, so that it can be offered first. It names a connector, never a secret.
const (
	lastConnectorCookie       = "gh_last_connector"
	secureLastConnectorCookie = "__Host-gh_last_connector"
	lastConnectorMaxAge       = 180 * 24 * time.Hour
	maxConnectorIDLen         = 64
)

func (m *Manager) lastConnectorName() string {
	if m.Secure {
		return secureLastConnectorCookie
	}
	return lastConnectorCookie
}

// SetLastConnector remembers id as the connector this browser chose (SameSite=Lax,
// HttpOnly, 180 days). An ID that is not a plain connector ID is not stored.
func (m *Manager) SetLastConnector(w http.ResponseWriter, id string) {
	if !plainID(id) {
		return
	}
	http.SetCookie(w, &http.Cookie{Name: m.lastConnectorName(), Value: id, Path: m.path(), HttpOnly: true, Secure: m.Secure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(lastConnectorMaxAge / time.Second)})
}

// LastConnector returns the connector ID this browser chose last, or "" (no cookie, or a
// value that is not a plain connector ID).
func (m *Manager) LastConnector(r *http.Request) string {
	c, err := r.Cookie(m.lastConnectorName())
	if err != nil || !plainID(c.Value) {
		return ""
	}
	return c.Value
}

// plainID reports whether s has the shape of a connector ID (config: lowercase letters,
// digits, '-' and '_').
func plainID(s string) bool {
	if s == "" || len(s) > maxConnectorIDLen {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
		default:
			return false
		}
	}
	return true
}
