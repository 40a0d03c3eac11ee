package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/storage"
)

// defaultAdmin is the user the default configuration generates.
const defaultAdmin = "admin"

// configUsernames is the set of usernames the configuration lists.
func configUsernames(users []config.User) map[string]bool {
	keep := make(map[string]bool, len(users))
	for _, u := range users {
		keep[u.Username] = true
	}
	return keep
}

// removeStaleUsers deletes every stored user that came from the configuration and that the
// configuration (keep) no longer lists, with the internal user each local connector linked it
// to: sessions, grants (and so their tokens), consents, links and MFA enrolment. Users created
// otherwise are left alone. The user's data goes first, the user last, so a failure halfway is
// finished at the next start.
func removeStaleUsers(ctx context.Context, store storage.Storage, keep map[string]bool, localConnectors []string, rec audit.Recorder, logger *slog.Logger) error {
	list := store.ListLocalUsers
	if cl, ok := store.(storage.ConfigUserLister); ok {
		list = cl.ListConfigLocalUsers // an index of the few configured users, not every user
	}
	users, err := list(ctx)
	if err != nil {
		return fmt.Errorf("list local users: %w", err)
	}
	remover, _ := store.(storage.UserRemover)
	for _, u := range users {
		if !u.FromConfig || keep[u.Username] {
			continue
		}
		if remover == nil {
			return fmt.Errorf("user %s left the configuration, but the storage backend cannot remove users (storage.UserRemover)", u.Username)
		}
		for _, cid := range localConnectors {
			link, err := store.GetUserLink(ctx, cid, u.Username)
			if errors.Is(err, storage.ErrNotFound) {
				continue
			}
			if err != nil {
				return fmt.Errorf("remove user %s: %w", u.Username, err)
			}
			if err := remover.DeleteUserData(ctx, link.UserID); err != nil {
				return fmt.Errorf("remove user %s: %w", u.Username, err)
			}
		}
		if err := store.DeleteLocalUser(ctx, u.Username); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("remove user %s: %w", u.Username, err)
		}
		logger.Warn("user removed: no longer in the configuration; its sessions, tokens and consents are deleted", "username", u.Username)
		rec.Record(ctx, audit.Event{Type: audit.UserRemoved, Outcome: audit.OutcomeSuccess, User: u.Username, Detail: map[string]string{"by": "config"}})
	}
	return nil
}
