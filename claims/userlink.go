package claims

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/storage"
)

// ErrLinkedToAnotherUser: the upstream account is already linked to a different user than
// the one it was to be linked to. Nothing changed; accounts are never merged silently.
var ErrLinkedToAnotherUser = errors.New("claims: the upstream account is linked to another user")

// ErrAlreadyLinked: the upstream account is already linked to this very user.
var ErrAlreadyLinked = errors.New("claims: the upstream account is already linked to this user")

// LinkUpstream links the upstream account of a login the user completed on purpose (the
// account page's "link another sign-in method") to the existing internal user userID,
// instead of resolving or creating one. The upstream identity goes through the Map, Filter
// and Authorize steps as a login would (a user the connector's requirements turn away gets a
// *connectors.DeniedError and nothing is linked); the Link step is replaced by creating the
// link. An account already linked gets ErrAlreadyLinked (to userID) or
// ErrLinkedToAnotherUser. A verified email is recorded with the link as a login would record
// it, except one the connector marked not linkable (Apple's private relay): the user linked
// that account, which does not make its address usable to link by email.
func (n *Normalizer) LinkUpstream(ctx context.Context, connectorID string, up connectors.Upstream, userID string) (storage.Identity, error) {
	if up.Subject == "" {
		return storage.Identity{}, fmt.Errorf("claims: connector %s returned no subject", connectorID)
	}
	if userID == "" {
		return storage.Identity{}, errors.New("claims: link to no user")
	}
	if err := checkUpstream(up); err != nil {
		return storage.Identity{}, fmt.Errorf("claims: connector %s: %w", connectorID, err)
	}
	cr := n.connector(connectorID)
	id, upstreamGroups, err := n.mapIdentity(ctx, cr, up, nil)
	if err != nil {
		return storage.Identity{}, err
	}
	id.Groups = cr.filterGroups(id.Groups, nil)
	if err := cr.authorize(upstreamGroups, id, nil); err != nil {
		return storage.Identity{}, err
	}
	verified := ""
	if id.EmailVerified && id.Email != "" && !up.EmailNotLinkable {
		verified = strings.ToLower(id.Email)
	}
	owner, created, err := n.createLink(ctx, connectorID, up.Subject, userID, verified)
	if err != nil {
		return storage.Identity{}, fmt.Errorf("claims: link %s account: %w", connectorID, err)
	}
	id.Subject = owner
	switch {
	case owner != userID:
		return storage.Identity{}, ErrLinkedToAnotherUser
	case !created:
		return id, ErrAlreadyLinked
	}
	return id, nil
}

// createLink links the upstream account to userID unless it is linked already, and returns
// the user it is linked to and whether this call created the link.
func (n *Normalizer) createLink(ctx context.Context, connectorID, upstreamSubject, userID, verified string) (string, bool, error) {
	el, ok := n.Links.(storage.EmailLinkStore)
	if !ok {
		return n.Links.LinkUser(ctx, connectorID, upstreamSubject, userID, n.now())
	}
	err := el.CreateUserLink(ctx, storage.UserLink{ConnectorID: connectorID, UpstreamSubject: upstreamSubject, UserID: userID,
		Email: verified, CreatedAt: n.now()})
	if err == nil {
		return userID, true, nil
	}
	if !errors.Is(err, storage.ErrAlreadyExists) {
		return "", false, err
	}
	l, err := n.Links.GetUserLink(ctx, connectorID, upstreamSubject)
	if err != nil {
		return "", false, err
	}
	return l.UserID, false, nil
}
