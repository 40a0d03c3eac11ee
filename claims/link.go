package claims

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/storage"
)

// notProvisioned is the reason deny_unknown gives.
const notProvisioned = "your account is not provisioned here"

// link runs the Link step and returns the internal user ID. An email the connector marked not
// linkable (connectors.Upstream.EmailNotLinkable: Apple's private relay) is never used to link,
// and no linking email is recorded for it.
func (n *Normalizer) link(ctx context.Context, cr *connectorRules, upstreamSubject string, id storage.Identity, notLinkable bool, st *TraceStep) (string, error) {
	newID := n.newID
	if newID == nil {
		newID = NewUserID
	}
	now := n.now()
	verified := ""
	if id.EmailVerified && id.Email != "" && !notLinkable {
		verified = strings.ToLower(id.Email)
	}
	if notLinkable && id.Email != "" {
		st.notef("email %s is the connector's private address: never linked by email", id.Email)
	}
	el, hasEmail := n.Links.(storage.EmailLinkStore)
	if !hasEmail {
		if cr.link != LinkCreate {
			return "", fmt.Errorf("claims: connector %s: link policy %s needs a storage backend with storage.EmailLinkStore", cr.id, cr.link)
		}
		uid, err := newID()
		if err != nil {
			return "", err
		}
		got, created, err := n.Links.LinkUser(ctx, cr.id, upstreamSubject, uid, now)
		if err != nil {
			return "", fmt.Errorf("claims: link %s account: %w", cr.id, err)
		}
		if created {
			st.notef("new upstream account: created user %s (policy create)", got)
		} else {
			st.notef("existing link: user %s", got)
		}
		return got, nil
	}

	l, err := n.Links.GetUserLink(ctx, cr.id, upstreamSubject)
	switch {
	case err == nil:
		if l.Email != verified {
			if err := el.SetUserLinkEmail(ctx, cr.id, upstreamSubject, verified); err != nil {
				return "", fmt.Errorf("claims: update %s link email: %w", cr.id, err)
			}
		}
		st.notef("existing link: user %s", l.UserID)
		return l.UserID, nil
	case !errors.Is(err, storage.ErrNotFound):
		return "", fmt.Errorf("claims: look up %s link: %w", cr.id, err)
	}

	var uid string
	switch cr.link {
	case LinkVerifiedEmail, LinkDenyUnknown:
		if verified != "" {
			found, err := el.FindUserByVerifiedEmail(ctx, verified)
			switch {
			case err == nil:
				uid = found
				st.notef("new upstream account: linked to user %s by verified email %s (policy %s)", uid, verified, cr.link)
			case errors.Is(err, storage.ErrConflict):
				st.notef("verified email %s belongs to several users; not linking", verified)
			case !errors.Is(err, storage.ErrNotFound):
				return "", fmt.Errorf("claims: find user by email: %w", err)
			}
		} else {
			st.notef("no verified email: never linked by email")
		}
		if uid == "" && cr.link == LinkDenyUnknown {
			st.notef("denied: no existing user to link to (policy deny_unknown)")
			return "", &connectors.DeniedError{Reason: notProvisioned}
		}
	}
	if uid == "" {
		if uid, err = newID(); err != nil {
			return "", err
		}
		st.notef("new upstream account: created user %s (policy %s)", uid, cr.link)
	}
	err = el.CreateUserLink(ctx, storage.UserLink{ConnectorID: cr.id, UpstreamSubject: upstreamSubject, UserID: uid, Email: verified, CreatedAt: now})
	if errors.Is(err, storage.ErrAlreadyExists) {
		// Another login of the same account won the race: use its link.
		l, err := n.Links.GetUserLink(ctx, cr.id, upstreamSubject)
		if err != nil {
			return "", fmt.Errorf("claims: look up %s link: %w", cr.id, err)
		}
		return l.UserID, nil
	}
	if err != nil {
		return "", fmt.Errorf("claims: link %s account: %w", cr.id, err)
	}
	return uid, nil
}

// dryLinks is an in-memory LinkStore and EmailLinkStore for dry runs (check-config, explain).
// Its user IDs are predictable (dry-run-user-1, ...) so golden outputs are stable.
type dryLinks struct {
	mu    sync.Mutex
	links map[[2]string]storage.UserLink
	n     int
}

func newDryLinks() *dryLinks { return &dryLinks{links: map[[2]string]storage.UserLink{}} }

func (m *dryLinks) nextID() (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n++
	return fmt.Sprintf("dry-run-user-%d", m.n), nil
}

func (m *dryLinks) LinkUser(_ context.Context, connectorID, upstreamSubject, newUserID string, now time.Time) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := [2]string{connectorID, upstreamSubject}
	if l, ok := m.links[k]; ok {
		return l.UserID, false, nil
	}
	m.links[k] = storage.UserLink{ConnectorID: connectorID, UpstreamSubject: upstreamSubject, UserID: newUserID, CreatedAt: now}
	return newUserID, true, nil
}

func (m *dryLinks) GetUserLink(_ context.Context, connectorID, upstreamSubject string) (storage.UserLink, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.links[[2]string{connectorID, upstreamSubject}]
	if !ok {
		return storage.UserLink{}, storage.ErrNotFound
	}
	return l, nil
}

func (m *dryLinks) CreateUserLink(_ context.Context, l storage.UserLink) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := [2]string{l.ConnectorID, l.UpstreamSubject}
	if _, ok := m.links[k]; ok {
		return storage.ErrAlreadyExists
	}
	l.Email = strings.ToLower(l.Email)
	m.links[k] = l
	return nil
}

func (m *dryLinks) FindUserByVerifiedEmail(_ context.Context, email string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	email = strings.ToLower(email)
	found := ""
	for _, l := range m.links {
		if email == "" || l.Email != email || l.UserID == found {
			continue
		}
		if found != "" {
			return "", storage.ErrConflict
		}
		found = l.UserID
	}
	if found == "" {
		return "", storage.ErrNotFound
	}
	return found, nil
}

func (m *dryLinks) SetUserLinkEmail(_ context.Context, connectorID, upstreamSubject, email string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := [2]string{connectorID, upstreamSubject}
	if l, ok := m.links[k]; ok {
		l.Email = strings.ToLower(email)
		m.links[k] = l
	}
	return nil
}
