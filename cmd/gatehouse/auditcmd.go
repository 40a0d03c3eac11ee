package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/internal/assembly"
	"github.com/gatehouse-id/gatehouse/storage"
)

const auditUsage = `Usage: gatehouse audit [--config FILE] [--user USER] [--since 1h] [--limit N] [--json]

Prints the audit trail: logins, second factors, consents, tokens issued, refreshed and
revoked, refresh-token reuse, logouts, rate-limit lockouts, and configuration users added or
removed at start. USER is a sub or a username (a local username also finds the events of
its sub). --json prints one JSON object per line.
`

// auditFilter is what the flags of `gatehouse audit` select.
type auditFilter struct {
	cfgPath, user string
	since         time.Duration
	limit         int
	json          bool
}

// parseAuditFlags parses the flags of `gatehouse audit`; a usage error has been reported.
func parseAuditFlags(ctx context.Context, args []string, stdout, stderr io.Writer) (auditFilter, error) {
	var f auditFilter
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.StringVar(&f.cfgPath, "config", "", "configuration file (YAML); none: the built-in default (SQLite in the working directory)")
	fs.StringVar(&f.user, "user", "", "only the events of this sub or username")
	fs.DurationVar(&f.since, "since", 0, "only the events of this last duration (e.g. 1h, 30m); 0: all")
	fs.IntVar(&f.limit, "limit", 1000, "at most this many events, the newest (0: all)")
	fs.BoolVar(&f.json, "json", false, "one JSON object per line")
	if err := parseFlags(ctx, fs, args, auditUsage, stdout, stderr); err != nil {
		return f, err
	}
	if fs.NArg() > 0 || f.since < 0 || f.limit < 0 {
		printUsage(stderr, fs, auditUsage)
		return f, exitError{"usage"}
	}
	return f, nil
}

// cmdAudit implements `gatehouse audit`.
func cmdAudit(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f, err := parseAuditFlags(ctx, args, stdout, stderr)
	if err != nil {
		return err
	}
	cfg, err := storageConfig(f.cfgPath, getenv, stderr, "connectors") // connector IDs: --user by an upstream name
	if err != nil {
		return err
	}
	logger := newLogger(config.Logging{Level: "warn"}, stderr)
	store, err := assembly.OpenStorage(ctx, cfg.Storage, logger)
	if err != nil {
		return fmt.Errorf("open storage: %w", err)
	}
	defer closeStore(store, stderr)
	as, ok := store.(storage.AuditStore)
	if !ok {
		return fmt.Errorf("the %s storage backend keeps no audit events", cfg.Storage.Type)
	}
	events, err := listAudit(ctx, as, store, cfg, f)
	if err != nil {
		return err
	}
	return printAudit(stdout, events, f.json)
}

// listAudit reads the selected events; a username also selects the events of the subject
// its local link names.
func listAudit(ctx context.Context, as storage.AuditStore, links storage.LinkStore, cfg *config.Config, f auditFilter) ([]storage.AuditEvent, error) {
	filter := storage.AuditFilter{User: f.user, Limit: f.limit}
	if f.since > 0 {
		filter.Since = time.Now().Add(-f.since)
	}
	users := []string{f.user}
	if f.user != "" {
		for _, c := range cfg.Connectors {
			if c.Type != "local" {
				continue
			}
			l, err := links.GetUserLink(ctx, c.ID, f.user)
			switch {
			case err == nil && !slices.Contains(users, l.UserID):
				users = append(users, l.UserID)
			case err != nil && !errors.Is(err, storage.ErrNotFound):
				return nil, fmt.Errorf("look up user %s: %w", f.user, err)
			}
		}
	}
	byID := map[string]storage.AuditEvent{}
	for _, u := range users {
		filter.User = u
		es, err := as.ListAuditEvents(ctx, filter)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			byID[e.ID] = e
		}
	}
	out := slices.SortedFunc(maps.Values(byID), func(a, b storage.AuditEvent) int { return a.Time.Compare(b.Time) })
	if f.limit > 0 && len(out) > f.limit {
		out = out[len(out)-f.limit:]
	}
	return out, nil
}

// auditJSON is the --json shape of one event.
type auditJSON struct {
	ID          string            `json:"id"`
	Time        time.Time         `json:"time"`
	Type        string            `json:"type"`
	Outcome     string            `json:"outcome,omitempty"`
	User        string            `json:"user,omitempty"`
	ConnectorID string            `json:"connector,omitempty"`
	ClientID    string            `json:"client_id,omitempty"`
	IP          string            `json:"ip,omitempty"`
	RequestID   string            `json:"request_id,omitempty"`
	Detail      map[string]string `json:"detail,omitempty"`
}

// printAudit writes the events as text lines or JSON lines.
func printAudit(w io.Writer, events []storage.AuditEvent, asJSON bool) error {
	enc := json.NewEncoder(w)
	for _, e := range events {
		if asJSON {
			if err := enc.Encode(auditJSON(e)); err != nil {
				return err
			}
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%s %-20s %-15s", e.Time.Format(time.RFC3339), e.Type, e.Outcome)
		for _, kv := range [][2]string{{"user", e.User}, {"connector", e.ConnectorID}, {"client", e.ClientID}, {"ip", e.IP}, {"request", e.RequestID}} {
			if kv[1] != "" {
				fmt.Fprintf(&b, " %s=%q", kv[0], kv[1])
			}
		}
		for _, k := range slices.Sorted(maps.Keys(e.Detail)) {
			fmt.Fprintf(&b, " %s=%q", k, e.Detail[k])
		}
		if _, err := fmt.Fprintln(w, b.String()); err != nil {
			return err
		}
	}
	return nil
}
