package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/internal/assembly"
	"github.com/gatehouse-id/gatehouse/storage"
)

const mfaUsage = `Usage: gatehouse mfa reset --config FILE --user USERNAME-or-SUB

Deletes every second factor (authenticator apps, security keys, passkeys) and recovery code of
one user, so they enrol again at their next sign-in. USER is the user's sub (the ID in their
tokens) or the name they enrolled under (username or email); for a local user it may also be
the local username.
`

// cmdMFA implements `gatehouse mfa reset`.
func cmdMFA(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if handled, err := subcommandHelp("mfa", args, []string{"reset"}, stdout, stderr); handled {
		return err
	}
	flags := flag.NewFlagSet("mfa reset", flag.ContinueOnError)
	cfgPath := flags.String("config", "", "configuration file (YAML); none: the built-in default (SQLite in the working directory)")
	user := flags.String("user", "", "the user's sub, or the name they enrolled under")
	if err := parseFlags(ctx, flags, args[1:], mfaUsage, stdout, stderr); err != nil {
		return err
	}
	if flags.NArg() > 0 || strings.TrimSpace(*user) == "" {
		printUsage(stderr, flags, mfaUsage)
		return exitError{"usage"}
	}
	cfg, err := storageConfig(*cfgPath, getenv, stderr, "connectors") // connector IDs: a user named by an upstream name
	if err != nil {
		return err
	}
	logger := newLogger(config.Logging{Level: "warn"}, stderr)
	keys, err := loadKeyring(cfg, *cfgPath == "", false, logger)
	if err != nil {
		return err
	}
	store, err := assembly.OpenSealedStorage(ctx, cfg.Storage, sealer(keys), logger)
	if err != nil {
		return fmt.Errorf("open storage: %w", err)
	}
	defer closeStore(store, stderr)
	ms, ok := store.(storage.MFAStore)
	as, hasAudit := store.(storage.AuditStore)
	if !ok || !hasAudit {
		return fmt.Errorf("the %s storage backend does not support second factors and an audit trail", cfg.Storage.Type)
	}
	e, err := findMFAUser(ctx, ms, store, cfg, *user)
	if err != nil {
		fmt.Fprintln(stderr, "gatehouse mfa reset:", err)
		return exitError{"not found"}
	}
	fs, err := ms.ListMFAFactors(ctx, e.UserID)
	if err != nil {
		return err
	}
	if err := ms.DeleteMFAEnrolment(ctx, e.UserID); err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	(&audit.Trail{Store: as, Logger: logger}).Record(ctx, audit.Event{Type: audit.MFAReset, Outcome: audit.OutcomeSuccess, User: e.UserID, Detail: map[string]string{"by": "operator"}})
	fmt.Fprintf(stdout, "Reset second factors of %s (sub %s): %d factor(s) and the recovery codes deleted.\n", e.Username, e.UserID, len(fs))
	fmt.Fprintln(stdout, "The user enrols again at their next sign-in where a second factor is required.")
	return nil
}

// findMFAUser resolves a sub or a name to one enrolment.
func findMFAUser(ctx context.Context, ms storage.MFAStore, links storage.LinkStore, cfg *config.Config, user string) (storage.MFAEnrolment, error) {
	e, err := ms.GetMFAEnrolment(ctx, user)
	if err == nil {
		return e, nil
	}
	if !errors.Is(err, storage.ErrNotFound) {
		return e, err
	}
	found, err := ms.FindMFAEnrolments(ctx, user)
	if err != nil {
		return e, err
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
	default:
		var subs []string
		for _, f := range found {
			subs = append(subs, f.UserID)
		}
		return e, fmt.Errorf("%d users enrolled as %q; pass one sub with --user: %s", len(found), user, strings.Join(subs, ", "))
	}
	for _, c := range cfg.Connectors {
		l, err := links.GetUserLink(ctx, c.ID, user)
		if err != nil {
			continue
		}
		if e, err := ms.GetMFAEnrolment(ctx, l.UserID); err == nil {
			return e, nil
		}
	}
	return e, fmt.Errorf("no user with second factors matches %q (tried it as a sub, an enrolled name and an upstream user name)", user)
}
