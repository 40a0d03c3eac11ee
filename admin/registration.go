package admin

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/gatehouse-id/gatehouse/api/gatehouse/admin/v1"
	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Bounds of an initial access token's lifetime.
const (
	defaultIATTTL = time.Hour
	maxIATTTL     = 30 * 24 * time.Hour
)

// CreateInitialAccessToken issues a token for the registration endpoint: 256 random bits,
// stored as its SHA-256 only, good for max_uses registrations until it expires.
func (cs *clientService) CreateInitialAccessToken(ctx context.Context, req *connect.Request[adminv1.CreateInitialAccessTokenRequest]) (*connect.Response[adminv1.CreateInitialAccessTokenResponse], error) {
	rs, err := cs.registrations()
	if err != nil {
		return nil, err
	}
	ttl := time.Duration(req.Msg.GetTtlSeconds()) * time.Second
	switch {
	case req.Msg.GetTtlSeconds() == 0:
		ttl = defaultIATTTL
	case req.Msg.GetTtlSeconds() < 0 || ttl > maxIATTTL:
		return nil, invalidArg("ttl_seconds", "must be between 1 and %d", int64(maxIATTTL/time.Second))
	}
	uses := int(req.Msg.GetMaxUses())
	if uses == 0 {
		uses = 1
	}
	if limit := cs.s.d.MaxClientsPerToken; uses < 0 || uses > limit {
		return nil, invalidArg("max_uses", "must be between 1 and %d (registration.max_clients_per_token)", limit)
	}
	token := newSecret()
	now := cs.s.d.Now().UTC().Truncate(time.Millisecond)
	t := storage.InitialAccessToken{
		ID: newTokenID(), TokenHash: clients.HashSecret(token), MaxUses: uses, CreatedBy: Actor(ctx),
		CreatedAt: now, ExpiresAt: now.Add(ttl),
	}
	err = rs.CreateInitialAccessToken(ctx, t)
	cs.s.record(ctx, "registration_token.create", t.ID, err)
	if err != nil {
		return nil, cs.s.internal(ctx, "create initial access token", err)
	}
	return connect.NewResponse(&adminv1.CreateInitialAccessTokenResponse{InitialAccessToken: iatToProto(t), Token: token}), nil
}

// ListInitialAccessTokens lists the stored initial access tokens (not the tokens).
func (cs *clientService) ListInitialAccessTokens(ctx context.Context, _ *connect.Request[adminv1.ListInitialAccessTokensRequest]) (*connect.Response[adminv1.ListInitialAccessTokensResponse], error) {
	rs, err := cs.registrations()
	if err != nil {
		return nil, err
	}
	list, err := rs.ListInitialAccessTokens(ctx)
	if err != nil {
		return nil, cs.s.internal(ctx, "list initial access tokens", err)
	}
	out := &adminv1.ListInitialAccessTokensResponse{}
	for _, t := range list {
		out.InitialAccessTokens = append(out.InitialAccessTokens, iatToProto(t))
	}
	return connect.NewResponse(out), nil
}

// DeleteInitialAccessToken revokes an initial access token.
func (cs *clientService) DeleteInitialAccessToken(ctx context.Context, req *connect.Request[adminv1.DeleteInitialAccessTokenRequest]) (*connect.Response[adminv1.DeleteInitialAccessTokenResponse], error) {
	rs, err := cs.registrations()
	if err != nil {
		return nil, err
	}
	id := req.Msg.GetId()
	if id == "" {
		return nil, invalidArg("id", "is required")
	}
	err = rs.DeleteInitialAccessToken(ctx, id)
	cs.s.record(ctx, "registration_token.delete", id, err)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, connect.NewError(connect.CodeNotFound, errors.New("id: no such initial access token"))
	}
	if err != nil {
		return nil, cs.s.internal(ctx, "delete initial access token", err)
	}
	return connect.NewResponse(&adminv1.DeleteInitialAccessTokenResponse{}), nil
}

// registrations is the store of initial access tokens, when registration is enabled.
func (cs *clientService) registrations() (storage.RegistrationStore, error) {
	if cs.s.d.Registrations == nil {
		return nil, connect.NewError(connect.CodeFailedPrecondition,
			fmt.Errorf("registration: Dynamic Client Registration is off (registration.enabled in the config)"))
	}
	return cs.s.d.Registrations, nil
}

func iatToProto(t storage.InitialAccessToken) *adminv1.InitialAccessToken {
	return &adminv1.InitialAccessToken{
		Id: t.ID, MaxUses: int32(min(t.MaxUses, 1<<30)), Uses: int32(min(t.Uses, 1<<30)), CreatedBy: t.CreatedBy, //nolint:gosec // bounded above
		CreateTime: timestamppb.New(t.CreatedAt), ExpireTime: timestamppb.New(t.ExpiresAt),
	}
}

// newTokenID names an initial access token: 96 random bits, base64url.
func newTokenID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}
