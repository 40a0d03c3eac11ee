package admin

import (
	"context"
	"errors"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/gatehouse-id/gatehouse/api/gatehouse/admin/v1"
	"github.com/gatehouse-id/gatehouse/storage"
)

// KeyRotator lists and rotates the signing keys (tokens.KeyManager).
type KeyRotator interface {
	Keys(ctx context.Context) ([]storage.SigningKey, error)
	RotateNow(ctx context.Context) (storage.SigningKey, error)
}

// keyService implements adminv1connect.KeyServiceHandler.
type keyService struct{ s *Server }

// ListKeys returns every stored key's public facts.
func (ks *keyService) ListKeys(ctx context.Context, _ *connect.Request[adminv1.ListKeysRequest]) (*connect.Response[adminv1.ListKeysResponse], error) {
	keys, err := ks.s.d.Keys.Keys(ctx)
	if err != nil {
		return nil, ks.s.internal(ctx, "list keys", err)
	}
	now := ks.s.d.Now()
	out := &adminv1.ListKeysResponse{}
	for _, k := range keys {
		out.Keys = append(out.Keys, keyToProto(k, now))
	}
	return connect.NewResponse(out), nil
}

// RotateKey schedules a rotation now.
func (ks *keyService) RotateKey(ctx context.Context, _ *connect.Request[adminv1.RotateKeyRequest]) (*connect.Response[adminv1.RotateKeyResponse], error) {
	k, err := ks.s.d.Keys.RotateNow(ctx)
	ks.s.record(ctx, "key.rotate", k.ID, err)
	if err != nil {
		return nil, ks.s.internal(ctx, "rotate key", err)
	}
	return connect.NewResponse(&adminv1.RotateKeyResponse{Key: keyToProto(k, ks.s.d.Now())}), nil
}

func keyToProto(k storage.SigningKey, now time.Time) *adminv1.SigningKey {
	state := "signing"
	switch {
	case !k.RetiredAt.IsZero() && !now.Before(k.RetiredAt):
		state = "retired"
	case now.Before(k.ActiveFrom):
		state = "next"
	}
	ts := func(t time.Time) *timestamppb.Timestamp {
		if t.IsZero() {
			return nil
		}
		return timestamppb.New(t)
	}
	return &adminv1.SigningKey{Id: k.ID, Algorithm: k.Algorithm, State: state, CreateTime: ts(k.CreatedAt),
		ActiveTime: ts(k.ActiveFrom), RetireTime: ts(k.RetiredAt), ExpireTime: ts(k.ExpiresAt)}
}

// connectorService implements adminv1connect.ConnectorServiceHandler.
type connectorService struct{ s *Server }

// ListConnectors returns the configured connectors with their status.
func (cs *connectorService) ListConnectors(context.Context, *connect.Request[adminv1.ListConnectorsRequest]) (*connect.Response[adminv1.ListConnectorsResponse], error) {
	out := &adminv1.ListConnectorsResponse{}
	for _, sl := range cs.s.d.Connectors {
		c := &adminv1.Connector{Id: sl.Info.ID, Type: sl.Info.Type, Name: sl.Info.Name, Status: "up"}
		if !sl.Up() {
			c.Status = "failed"
			if sl.Err != nil {
				c.Error = sl.Err.Error()
			}
		}
		out.Connectors = append(out.Connectors, c)
	}
	return connect.NewResponse(out), nil
}

// auditService implements adminv1connect.AuditServiceHandler.
type auditService struct{ s *Server }

// Bounds of one ListAuditEvents answer.
const (
	defaultAuditLimit = 100
	maxAuditLimit     = 1000
)

// ListAuditEvents returns the newest events the request selects, oldest first.
func (as *auditService) ListAuditEvents(ctx context.Context, req *connect.Request[adminv1.ListAuditEventsRequest]) (*connect.Response[adminv1.ListAuditEventsResponse], error) {
	limit := int(req.Msg.GetLimit())
	switch {
	case limit < 0 || limit > maxAuditLimit:
		return nil, invalidArg("limit", "must be 0 to %d", maxAuditLimit)
	case limit == 0:
		limit = defaultAuditLimit
	}
	f := storage.AuditFilter{User: req.Msg.GetUser(), Limit: limit}
	if req.Msg.GetSince() != nil {
		f.Since = req.Msg.GetSince().AsTime()
	}
	if as.s.d.AuditStore == nil {
		return nil, connect.NewError(connect.CodeUnimplemented, errors.New("the storage backend keeps no audit trail"))
	}
	events, err := as.s.d.AuditStore.ListAuditEvents(ctx, f)
	if err != nil {
		return nil, as.s.internal(ctx, "list audit events", err)
	}
	out := &adminv1.ListAuditEventsResponse{}
	for _, e := range events {
		out.Events = append(out.Events, &adminv1.AuditEvent{Id: e.ID, Time: timestamppb.New(e.Time), Type: e.Type, Outcome: e.Outcome,
			User: e.User, ConnectorId: e.ConnectorID, ClientId: e.ClientID, Ip: e.IP, RequestId: e.RequestID, Detail: e.Detail})
	}
	return connect.NewResponse(out), nil
}
