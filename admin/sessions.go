package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/gatehouse-id/gatehouse/api/gatehouse/admin/v1"
	"github.com/gatehouse-id/gatehouse/broker/logout"
	"github.com/gatehouse-id/gatehouse/storage"
)

// subjects returns the internal user IDs the local connectors linked username to; a storage
// failure is an internal error (never taken for "no such user").
func (s *Server) subjects(ctx context.Context, username string) ([]string, error) {
	var out []string
	for _, cid := range s.d.LocalConnectorIDs {
		link, err := s.d.Store.GetUserLink(ctx, cid, username)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, s.internal(ctx, "read user link", err)
		}
		if !slices.Contains(out, link.UserID) {
			out = append(out, link.UserID)
		}
	}
	return out, nil
}

// resolve returns the internal user IDs a UserRef names: its subject, or the subjects of its
// local username (none when the user never logged in).
func (s *Server) resolve(ctx context.Context, ref *adminv1.UserRef) ([]string, error) {
	switch {
	case ref.GetSubject() != "" && ref.GetUsername() != "":
		return nil, invalidArg("user", "name the user by subject or by username, not both")
	case ref.GetSubject() != "":
		return []string{ref.GetSubject()}, nil
	case ref.GetUsername() != "":
		return s.subjects(ctx, ref.GetUsername())
	}
	return nil, invalidArg("user", "is required (subject or username)")
}

// sessionService implements adminv1connect.SessionServiceHandler.
type sessionService struct{ s *Server }

// ListSessions returns the user's SSO sessions.
func (ss *sessionService) ListSessions(ctx context.Context, req *connect.Request[adminv1.ListSessionsRequest]) (*connect.Response[adminv1.ListSessionsResponse], error) {
	subs, err := ss.s.resolve(ctx, req.Msg.GetUser())
	if err != nil {
		return nil, err
	}
	out := &adminv1.ListSessionsResponse{}
	for _, sub := range subs {
		list, err := ss.s.d.Sessions.ListUserSessions(ctx, sub)
		if err != nil {
			return nil, ss.s.internal(ctx, "list sessions", err)
		}
		for _, sess := range list {
			exp := sess.IdleExpiry
			if !sess.AbsoluteExpiry.IsZero() && (exp.IsZero() || sess.AbsoluteExpiry.Before(exp)) {
				exp = sess.AbsoluteExpiry
			}
			out.Sessions = append(out.Sessions, &adminv1.Session{
				Id: sess.ID, Subject: sess.Identity.Subject, Username: sess.Identity.PreferredUsername,
				Connectors: []string{sess.Auth.ConnectorID}, CreateTime: timestamppb.New(sess.CreatedAt),
				LastUsedTime: timestamppb.New(sess.LastUsed), ExpireTime: timestamppb.New(exp),
			})
		}
	}
	return connect.NewResponse(out), nil
}

// RevokeSession ends a session as a logout does (logout.Ender: its grants issued without
// offline_access revoked, its pending auth requests deleted, its OIDC clients told through
// the back-channel logout queue), then deletes it.
func (ss *sessionService) RevokeSession(ctx context.Context, req *connect.Request[adminv1.RevokeSessionRequest]) (*connect.Response[adminv1.RevokeSessionResponse], error) {
	id := req.Msg.GetId()
	if id == "" {
		return nil, invalidArg("id", "is required")
	}
	defer ss.s.sessionsEnded()
	sess, err := ss.s.d.Store.GetSession(ctx, id)
	if err == nil {
		err = logout.NewEnder(ss.s.d.Store, ss.s.d.Clients, ss.s.d.Now).Ended(ctx, sess, "")
	}
	if err == nil {
		err = ss.s.d.Store.DeleteSession(ctx, id)
	}
	ss.s.record(ctx, "session.revoke", id, err)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, connect.NewError(connect.CodeNotFound, errors.New("id: no such session"))
	}
	if err != nil {
		return nil, ss.s.internal(ctx, "revoke session", err)
	}
	return connect.NewResponse(&adminv1.RevokeSessionResponse{}), nil
}

// RevokeUserSessions signs the user out everywhere (sessions and every grant), telling every
// app of those sessions through the back-channel logout queue.
func (ss *sessionService) RevokeUserSessions(ctx context.Context, req *connect.Request[adminv1.RevokeUserSessionsRequest]) (*connect.Response[adminv1.RevokeUserSessionsResponse], error) {
	subs, err := ss.s.resolve(ctx, req.Msg.GetUser())
	if err != nil {
		return nil, err
	}
	defer ss.s.sessionsEnded()
	res := &adminv1.RevokeUserSessionsResponse{}
	ender := logout.NewEnder(ss.s.d.Store, ss.s.d.Clients, ss.s.d.Now)
	for _, sub := range subs {
		// Every app of every session is told (back-channel logout queue) before the sessions
		// and grants go in one transaction.
		list, err := ss.s.d.Sessions.ListUserSessions(ctx, sub)
		for i := 0; err == nil && i < len(list); i++ {
			err = ender.Notify(ctx, list[i].ID)
		}
		if err != nil {
			ss.s.record(ctx, "session.revoke_user", sub, err)
			return nil, ss.s.internal(ctx, "revoke user sessions: tell their apps", err)
		}
		n, g, err := ss.s.d.Sessions.RevokeUserSessions(ctx, sub, ss.s.d.Now().UTC())
		ss.s.record(ctx, "session.revoke_user", sub, err)
		if err != nil {
			return nil, ss.s.internal(ctx, "revoke user sessions", err)
		}
		res.SessionsEnded, res.GrantsRevoked = res.SessionsEnded+n, res.GrantsRevoked+g
	}
	return connect.NewResponse(res), nil
}

// consentService implements adminv1connect.ConsentServiceHandler.
type consentService struct{ s *Server }

// ListConsents returns the user's consents.
func (cs *consentService) ListConsents(ctx context.Context, req *connect.Request[adminv1.ListConsentsRequest]) (*connect.Response[adminv1.ListConsentsResponse], error) {
	subs, err := cs.s.resolve(ctx, req.Msg.GetUser())
	if err != nil {
		return nil, err
	}
	out := &adminv1.ListConsentsResponse{}
	for _, sub := range subs {
		list, err := cs.s.d.Sessions.ListUserConsents(ctx, sub)
		if err != nil {
			return nil, cs.s.internal(ctx, "list consents", err)
		}
		for _, c := range list {
			out.Consents = append(out.Consents, &adminv1.Consent{Subject: c.Subject, ClientId: c.ClientID, Scopes: c.Scopes,
				CreateTime: timestamppb.New(c.CreatedAt), UpdateTime: timestamppb.New(c.UpdatedAt)})
		}
	}
	return connect.NewResponse(out), nil
}

// RevokeConsent revokes the client's grants of the user, then deletes the consent (the next
// login to the client asks again).
func (cs *consentService) RevokeConsent(ctx context.Context, req *connect.Request[adminv1.RevokeConsentRequest]) (*connect.Response[adminv1.RevokeConsentResponse], error) {
	subs, err := cs.s.resolve(ctx, req.Msg.GetUser())
	if err != nil {
		return nil, err
	}
	clientID := req.Msg.GetClientId()
	if clientID == "" {
		return nil, invalidArg("client_id", "is required")
	}
	res := &adminv1.RevokeConsentResponse{}
	found := false
	for _, sub := range subs {
		n, err := cs.revoke(ctx, sub, clientID)
		cs.s.record(ctx, "consent.revoke", sub+" "+clientID, err)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, cs.s.internal(ctx, "revoke consent", err)
		}
		found, res.GrantsRevoked = true, res.GrantsRevoked+n
	}
	if !found {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("client_id: the user has no consent for %q", clip(clientID)))
	}
	return connect.NewResponse(res), nil
}

// revoke revokes sub's live grants of clientID and deletes the consent (ErrNotFound when
// there is none).
func (cs *consentService) revoke(ctx context.Context, sub, clientID string) (int64, error) {
	if _, err := cs.s.d.Store.GetConsent(ctx, sub, clientID); err != nil {
		return 0, err
	}
	grants, err := cs.s.d.Store.ListGrants(ctx, sub)
	if err != nil {
		return 0, err
	}
	var n int64
	now := cs.s.d.Now().UTC()
	for _, g := range grants {
		if g.ClientID == clientID && !g.Revoked {
			if err := cs.s.d.Store.RevokeGrant(ctx, g.ID, now); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, cs.s.d.Store.DeleteConsent(ctx, sub, clientID)
}
