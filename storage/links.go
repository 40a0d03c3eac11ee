package storage

import (
	"context"
	"fmt"
	"slices"
)

// EmailLinkStore is an optional extension of LinkStore for account linking by verified email
// (the claims pipeline's link_verified_email and deny_unknown policies). A backend that
// implements it records UserLink.Email and returns it from GetUserLink. Callers test for it
// with a type assertion; without it, only the create policy is available.
type EmailLinkStore interface {
	// CreateUserLink stores a new link; ErrAlreadyExists if the upstream account is already
	// linked. Email must be empty or a verified, lowercased address.
	CreateUserLink(ctx context.Context, l UserLink) error
	// FindUserByVerifiedEmail returns the user ID whose links recorded this verified email
	// (compared lowercased). ErrNotFound when none does; ErrConflict when links of more than
	// one user carry it (the caller must not guess).
	FindUserByVerifiedEmail(ctx context.Context, email string) (userID string, err error)
	// SetUserLinkEmail replaces the recorded verified email of an existing link ("" clears it),
	// so an address an upstream account no longer has verified stops matching. A missing
	// link is not an error.
	SetUserLinkEmail(ctx context.Context, connectorID, upstreamSubject, email string) error
}

// LinkManager lets a signed-in user see and remove the upstream accounts linked to them (the
// account page's sign-in methods, broker/linking). It is optional; the SQLite and PostgreSQL
// backends implement it (storagetest.RunLinkManager).
type LinkManager interface {
	// ListUserLinks returns the links of the internal user userID, oldest first (ties by
	// connector ID, then upstream subject); none is an empty result, not an error.
	ListUserLinks(ctx context.Context, userID string) ([]UserLink, error)
	// DeleteUserLink deletes the link of the upstream account (connectorID, upstreamSubject)
	// if it belongs to userID and at least one other link of userID to a connector listed in
	// keep remains after it. ErrNotFound: no such link, or it belongs to another user;
	// ErrConflict: it is the user's last link among keep (nothing is deleted). The check
	// and the deletion are one atomic step: concurrent deletions of a user's links never
	// leave the user without one.
	DeleteUserLink(ctx context.Context, userID, connectorID, upstreamSubject string, keep []string) error
}

// CheckLinkRemoval is the rule of LinkManager.DeleteUserLink over a user's links (as read
// inside the backend's transaction): ErrNotFound when (connectorID, upstreamSubject) is not
// among them, ErrConflict when no other link to a connector in keep remains. Backends share
// it so the rule is one.
func CheckLinkRemoval(links []UserLink, connectorID, upstreamSubject string, keep []string) error {
	found, others := false, 0
	for _, l := range links {
		if l.ConnectorID == connectorID && l.UpstreamSubject == upstreamSubject {
			found = true
			continue
		}
		if slices.Contains(keep, l.ConnectorID) {
			others++
		}
	}
	switch {
	case !found:
		return ErrNotFound
	case others == 0:
		return fmt.Errorf("the last sign-in method of a user stays: %w", ErrConflict)
	}
	return nil
}

// ProtocolLink is a login the signed-in user completes on the account page to link that
// connector's account to themselves (broker/linking): it ends by recording the link to the
// current user, never by signing anyone in.
const ProtocolLink Protocol = "link"
