package forwardauth

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/audit"
)

// auditWindow is how long the same refusal is recorded once: a page behind a denied path
// loads many assets, and every one is asked about.
const auditWindow = time.Minute

// maxAuditField bounds a value taken from the request (host, path) in an audit event.
const maxAuditField = 256

// refused records a refusal (audit.ForwardAuthRefused), once per auditWindow in this
// process for the same outcome, user, client and reason. The host, path and return URL are
// left out of that key on purpose: they come from the request, and whoever varies them must
// not be able to write one event per request (the first one's are recorded).
func (h *Handler) refused(ctx context.Context, e audit.Event) {
	e.Type = audit.ForwardAuthRefused
	for k, v := range e.Detail {
		e.Detail[k] = clip(v)
	}
	key := strings.Join([]string{e.Outcome, e.User, e.ClientID, e.Detail["reason"]}, "\x00")
	if !h.auditSeen.first(key, h.Now()) {
		return
	}
	h.Audit.Record(ctx, e)
}

// clip bounds a value for an audit event.
func clip(v string) string {
	if len(v) <= maxAuditField {
		return v
	}
	return strings.ToValidUTF8(v[:maxAuditField], "") + "..."
}

// returnHost is the host of a refused return URL, for the audit trail ("" when it has none).
func returnHost(rd string) string {
	u, err := url.Parse(rd)
	if err != nil {
		return ""
	}
	return u.Host
}

// recentEvents remembers when each refusal was last recorded; bounded (emptied when full).
type recentEvents struct {
	mu sync.Mutex
	m  map[string]time.Time
}

// first reports whether key was not recorded in the auditWindow before now, and notes it.
func (r *recentEvents) first(key string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if last, ok := r.m[key]; ok && now.Sub(last) < auditWindow && !now.Before(last) {
		return false
	}
	if r.m == nil || len(r.m) >= maxCachedRecords {
		r.m = map[string]time.Time{}
	}
	r.m[key] = now
	return true
}
