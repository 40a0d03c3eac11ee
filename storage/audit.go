package storage

import (
	"context"
	"time"
)

// AuditEvent is one security-relevant act (package audit names the types and outcomes). It
// never holds a secret: no password, token, code, cookie or key, not even hashed.
type AuditEvent struct {
	// ID is random and unique.
	ID   string
	Time time.Time
	// Type is what happened ("login", "token.issued", ...; audit.Login etc.).
	Type string
	// Outcome is how it ended: "success", or why not ("bad_credentials", "denied", ...).
	Outcome string
	// User is the internal subject, or the username typed when no subject is known.
	User        string
	ConnectorID string
	ClientID    string
	IP          string
	RequestID   string
	// Detail holds the type's own facts (grant_type, method, scope), never a secret.
	Detail map[string]string
}

// AuditFilter selects audit events: every field that is set must match.
type AuditFilter struct {
	User  string
	Since time.Time // events at or after
	Limit int       // 0: no limit (the newest Limit when set)
}

// AuditStore keeps the audit trail. It is optional; the SQLite and PostgreSQL backends
// implement it (storagetest.RunAudit).
type AuditStore interface {
	// AppendAuditEvent stores e; an ID already stored is ErrAlreadyExists.
	AppendAuditEvent(ctx context.Context, e AuditEvent) error
	// ListAuditEvents returns the events f selects, oldest first (with Limit: the newest
	// Limit of them, still oldest first).
	ListAuditEvents(ctx context.Context, f AuditFilter) ([]AuditEvent, error)
	// DeleteAuditEventsBefore deletes events older than t (retention) and returns how many.
	DeleteAuditEventsBefore(ctx context.Context, t time.Time) (int64, error)
}
