package samlidp

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// Single-logout bookkeeping, in the BlobStore (shared by replicas):
//
//	saml-participant/{session}/{sp}  an SP that got an assertion in a session (participant)
//	saml-session-index/{index}       the session a SessionIndex belongs to
//	saml-logout/{state}              an IdP-initiated logout in progress (fanOutState)

// participant records that an SP got an assertion in an SSO session (for single logout).
type participant struct {
	SP           string `json:"sp"`
	NameID       string `json:"name_id"`
	NameIDFormat string `json:"name_id_format"`
	SessionIndex string `json:"session_index"`
}

func participantKey(sessionID, spID string) string {
	return "saml-participant/" + sessionID + "/" + spID
}

func sessionIndexKey(idx string) string { return "saml-session-index/" + idx }

func fanOutKey(stateID string) string { return "saml-logout/" + stateID }

// recordParticipant remembers the SP's NameID in the session, until the session's absolute
// expiry, so that single logout can reach it. Without a BlobStore single logout still ends
// the Gatehouse session, but cannot notify the other SPs.
func (h *Handler) recordParticipant(ctx context.Context, sessionID string, p participant) {
	if h.Blobs == nil || sessionID == "" {
		return
	}
	expiry := h.Now().Add(24 * time.Hour)
	if sess, err := h.SessionRecords.GetSession(ctx, sessionID); err == nil {
		expiry = sess.AbsoluteExpiry
	}
	b, _ := json.Marshal(p) //nolint:errcheck // a plain struct of strings: cannot fail
	if err := h.Blobs.PutBlob(ctx, storage.Blob{Key: participantKey(sessionID, p.SP), Value: b, Expiry: expiry}); err != nil {
		h.Logger.WarnContext(ctx, "record saml participant", "err", err)
		return
	}
	if err := h.Blobs.PutBlob(ctx, storage.Blob{Key: sessionIndexKey(p.SessionIndex), Value: []byte(sessionID), Expiry: expiry}); err != nil {
		h.Logger.WarnContext(ctx, "record saml session index", "err", err)
	}
	if _, err := h.Blobs.DeleteExpiredBlobs(ctx, h.Now()); err != nil {
		h.Logger.WarnContext(ctx, "delete expired blobs", "err", err)
	}
}

// participant loads an SP's participation in a session.
func (h *Handler) participant(ctx context.Context, sessionID, spID string) (participant, bool) {
	var p participant
	if h.Blobs == nil {
		return p, false
	}
	b, err := h.Blobs.GetBlob(ctx, participantKey(sessionID, spID), h.Now())
	if err != nil || json.Unmarshal(b, &p) != nil {
		return p, false
	}
	return p, true
}

// sessionOfIndex returns the session a SessionIndex was issued in.
func (h *Handler) sessionOfIndex(ctx context.Context, idx string) (string, bool) {
	if h.Blobs == nil {
		return "", false
	}
	sid, err := h.Blobs.GetBlob(ctx, sessionIndexKey(idx), h.Now())
	if err != nil {
		return "", false
	}
	return string(sid), true
}

// deleteBlob deletes bookkeeping that expires on its own anyway; a failure is logged.
func (h *Handler) deleteBlob(ctx context.Context, key string) {
	if err := h.Blobs.DeleteBlob(ctx, key); err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.Logger.WarnContext(ctx, "delete saml bookkeeping; it expires on its own", "key", key, "err", err)
	}
}

// takeParticipants drops a session's SAML participant records and returns them, but for
// the SP except (the one that asked for the logout; "" for none).
func (h *Handler) takeParticipants(ctx context.Context, sessionID, except string) []participant {
	if h.Blobs == nil || sessionID == "" {
		return nil
	}
	ids, err := h.IdP.serviceProviderIDs(ctx)
	if err != nil { // the configured SPs are still told
		h.Logger.ErrorContext(ctx, "saml logout: list the stored service providers; they are not told", "err", err)
	}
	var ps []participant
	for _, id := range ids {
		if p, ok := h.participant(ctx, sessionID, id); ok {
			h.deleteBlob(ctx, sessionIndexKey(p.SessionIndex))
			if id != except {
				ps = append(ps, p)
			}
		}
		h.deleteBlob(ctx, participantKey(sessionID, id))
	}
	return ps
}
