package account

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/connectors"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/internal/ratelimit"
	"github.com/gatehouse-id/gatehouse/storage"
)

// passwordChanger returns the session's connector when its users may change their password
// here.
func (h *Handler) passwordChanger(sess storage.Session) (connectors.PasswordChanger, bool) {
	if h.Passwords == nil || h.Holdings == nil || sess.Auth.UpstreamSubject == "" {
		return nil, false
	}
	slot, ok := h.Connectors.Get(sess.Auth.ConnectorID)
	if !ok || !slot.Up() {
		return nil, false
	}
	pc, ok := slot.Conn.(connectors.PasswordChanger)
	return pc, ok
}

// passwordless reports whether the session's account has no password to change (its
// connector says so: PasswordHolder, as for a passkey-only local account), so the page shows
// a line instead of the form and refuses the change.
func (h *Handler) passwordless(ctx context.Context, sess storage.Session, pc connectors.PasswordChanger) (bool, error) {
	ph, ok := pc.(PasswordHolder)
	if !ok {
		return false, nil
	}
	has, err := ph.HasPassword(ctx, sess.Auth.UpstreamSubject)
	if err != nil {
		return false, fmt.Errorf("account has a password: %w", err)
	}
	return !has, nil
}

// passwordBudgetKeys are the attempt budgets a password change draws on: the login's, for
// the client IP and the account (the same keys as broker/authflow's password login).
func passwordBudgetKeys(connectorID, username, ip string) []storage.RateLimit {
	return []storage.RateLimit{
		{Key: "login:ip:" + ip, Max: passwordMaxFailures},
		{Key: "login:user:" + connectorID + ":" + strings.ToLower(strings.TrimSpace(username)), Max: passwordMaxFailures},
	}
}

// passwordMaxFailures is the login's budget of failed attempts per IP and per account.
const passwordMaxFailures = 10

// changePassword checks the current password through the connector and stores the new one
// (typed twice). A wrong current password keeps its reserved attempt; a success ends the
// user's other sessions and revokes the user's grants not issued in this session (refresh
// tokens included).
func (h *Handler) changePassword(w http.ResponseWriter, r *http.Request, sess storage.Session, flow string) {
	ctx := r.Context()
	pc, ok := h.passwordChanger(sess)
	if !ok {
		h.render(w, r, view{status: http.StatusBadRequest, sess: sess, flow: flow, msg: "account.password_unavailable"})
		return
	}
	if none, err := h.passwordless(ctx, sess, pc); err != nil || none {
		if err != nil {
			h.Pages.Internal(w, r, "change password", err)
			return
		}
		h.Logger.InfoContext(ctx, "password change refused: the account has no password", "sub", sess.Identity.Subject)
		h.render(w, r, view{status: http.StatusConflict, sess: sess, flow: flow, msg: "account.password_none_refused"})
		return
	}
	current, next := r.PostFormValue("current"), r.PostFormValue("new")
	again := func(status int, msg string) {
		h.render(w, r, view{status: status, sess: sess, flow: flow, msg: msg, passwordError: true})
	}
	if next != r.PostFormValue("confirm") {
		again(http.StatusBadRequest, "account.password_mismatch")
		return
	}
	sub, connID := sess.Identity.Subject, sess.Auth.ConnectorID
	keys := passwordBudgetKeys(connID, sess.Auth.UpstreamSubject, httpx.ClientIP(r, h.TrustedProxies))
	attempt, ok, err := h.Passwords.Reserve(ctx, keys...)
	if err != nil {
		h.Pages.Internal(w, r, "password rate limit", err)
		return
	}
	event := audit.Event{Type: audit.PasswordChanged, User: sub, ConnectorID: connID}
	if !ok {
		event.Outcome = audit.OutcomeRateLimited
		h.Audit.Record(ctx, event)
		w.Header().Set("Retry-After", strconv.Itoa(int(h.Passwords.Window().Seconds())))
		again(http.StatusTooManyRequests, "login.too_many")
		return
	}
	err = pc.ChangePassword(ctx, sess.Auth.UpstreamSubject, current, next)
	var policy *connectors.PasswordPolicyError
	switch {
	case errors.Is(err, connectors.ErrBadCredentials):
		h.Logger.InfoContext(ctx, "password change: wrong current password", "sub", sub)
		event.Outcome = audit.OutcomeBadCredentials
		h.Audit.Record(ctx, event)
		again(http.StatusUnauthorized, "account.password_wrong")
		return
	case errors.As(err, &policy):
		h.refund(ctx, attempt)
		again(http.StatusBadRequest, policy.Reason)
		return
	case err != nil:
		h.refund(ctx, attempt)
		h.Pages.Internal(w, r, "change password", err)
		return
	}
	h.refund(ctx, attempt)
	if err := h.Passwords.Reset(ctx, keys[1].Key); err != nil {
		h.Logger.WarnContext(ctx, "password rate limit: reset", "err", err)
	}
	n, err := h.endOthers(ctx, sess)
	event.Outcome, event.Detail = audit.OutcomeSuccess, map[string]string{"sessions_ended": strconv.Itoa(n)}
	h.Audit.Record(ctx, event)
	if err != nil {
		h.Pages.Internal(w, r, "password changed; end the other sessions", err)
		return
	}
	h.Logger.InfoContext(ctx, "password changed by the user", "sub", sub, "sessions_ended", n)
	http.Redirect(w, r, h.Pages.Rel("/account?done=password"), http.StatusSeeOther)
}

// endOthers ends every live session of the user but this one, and revokes every grant of
// the user not issued in this session (offline ones too: tokens a thief got with the old
// password stop working). It reports how many sessions ended.
func (h *Handler) endOthers(ctx context.Context, sess storage.Session) (int, error) {
	list, err := h.Holdings.ListUserSessions(ctx, sess.Identity.Subject)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range list {
		if s.ID == sess.ID {
			continue
		}
		if err := h.endOther(ctx, s); err != nil {
			return n, err
		}
		n++
	}
	grants, err := h.Holdings.ListGrants(ctx, sess.Identity.Subject)
	if err != nil {
		return n, err
	}
	now := h.Now().UTC()
	for _, g := range grants {
		if g.Revoked || g.SessionID == sess.ID {
			continue
		}
		if err := h.Holdings.RevokeGrant(ctx, g.ID, now); err != nil {
			return n, err
		}
	}
	return n, nil
}

// refund gives a reserved password attempt back (the password was right, or never checked);
// a failure is logged (the attempt then expires with its window).
func (h *Handler) refund(ctx context.Context, a ratelimit.Attempt) {
	if err := h.Passwords.Refund(ctx, a); err != nil {
		h.Logger.WarnContext(ctx, "password rate limit: refund", "err", err)
	}
}
