package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

var _ storage.AuditStore = (*Store)(nil)

const (
	qInsertAudit = `INSERT INTO audit_events (id, at, type, outcome, user_id, connector_id, client_id, ip, request_id, detail)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qListAudit         = `SELECT id, at, type, outcome, user_id, connector_id, client_id, ip, request_id, detail FROM audit_events`
	qDeleteAuditBefore = `DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE at < ?1 LIMIT ?2)`
)

// AppendAuditEvent stores an audit event.
func (s *Store) AppendAuditEvent(ctx context.Context, e storage.AuditEvent) error {
	detail, err := json.Marshal(e.Detail)
	if err != nil {
		return fmt.Errorf("sqlite: append audit event: %w", err)
	}
	_, err = s.exec(ctx, qInsertAudit, e.ID, ms(e.Time), e.Type, e.Outcome, e.User, e.ConnectorID,
		e.ClientID, e.IP, e.RequestID, string(detail))
	return insertErr("append audit event", err)
}

// ListAuditEvents returns the selected events, oldest first.
func (s *Store) ListAuditEvents(ctx context.Context, f storage.AuditFilter) ([]storage.AuditEvent, error) {
	var where []string
	var args []any
	if f.User != "" {
		where, args = append(where, "user_id = ?"), append(args, f.User)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "at >= ?"), append(args, ms(f.Since))
	}
	q := qListAudit
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY at DESC, id DESC"
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	start := time.Now()
	rows, err := s.reader.QueryContext(ctx, q, args...)
	s.observer.Done(ctx, qListAudit, start)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list audit events: %w", err)
	}
	defer rows.Close()
	var out []storage.AuditEvent
	for rows.Next() {
		var e storage.AuditEvent
		var at int64
		var detail string
		if err := rows.Scan(&e.ID, &at, &e.Type, &e.Outcome, &e.User, &e.ConnectorID, &e.ClientID, &e.IP, &e.RequestID, &detail); err != nil {
			return nil, fmt.Errorf("sqlite: list audit events: %w", err)
		}
		e.Time = fromMs(at)
		if err := json.Unmarshal([]byte(detail), &e.Detail); err != nil {
			return nil, fmt.Errorf("sqlite: audit event %s: detail: %w", e.ID, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list audit events: %w", err)
	}
	slices.Reverse(out)
	return out, nil
}

// DeleteAuditEventsBefore deletes the events older than t.
func (s *Store) DeleteAuditEventsBefore(ctx context.Context, t time.Time) (int64, error) {
	var n int64
	if err := s.deleteInBatches(ctx, gcStep{[]string{qDeleteAuditBefore}, []*int64{&n}}, ms(t)); err != nil {
		return n, fmt.Errorf("sqlite: delete audit events: %w", err)
	}
	return n, nil
}
