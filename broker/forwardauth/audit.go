package forwardauth

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/audit"
)

// auditWindow is how long a refusal with the same facts is recorded once: a page behind a
// denied path loads many assets, and every one is asked about.
const auditWindow = time.Minute

// maxAuditField bounds a value taken from the request (host, path) in an audit event.
const maxAuditField = 256

// refused records a refusal (audit.ForwardAuthRefused), once per auditWindow for the same
// outcome, user, client and details in this process.
func (h *Handler) refused(ctx context.Context, e audit.Event) {
	e.Type = audit.ForwardAuthRefused
	for k, v := range e.Detail {
		e.Detail[k] = clip(v)
	}
	var key strings.Builder
	for _, v := range []string{e.Outcome, e.User, e.ClientID, e.Detail["host"], e.Detail["path"], e.Detail["reason"], e.Detail["return_host"]} {
		key.WriteString(v)
		key.WriteByte(0)
	}
	if !h.auditSeen.first(key.String(), h.Now()) {
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
