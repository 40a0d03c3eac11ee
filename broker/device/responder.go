package device

import (
	"errors"
	"net/http"

	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Finish approves the device code of a completed login (authflow has consumed the auth
// request): the user's identity and authentication go to the device code, where the
// device's next poll takes them.
func (h *Handler) Finish(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest) {
	d := storage.DeviceCode{Status: storage.DeviceApproved, Identity: ar.Identity, Auth: ar.Auth, SessionID: ar.SessionID}
	if !h.decide(w, r, ar, d) {
		return
	}
	h.Logger.InfoContext(r.Context(), "device approved", "client_id", ar.ClientID, "sub", ar.Identity.Subject)
	h.done(w, r, http.StatusOK, "Device connected", "You can close this window and go back to your device.")
}

// Fail ends a device login that failed. A refusal (access_denied) denies the device code, so
// that the device stops polling; other failures leave it pending, to be tried again.
func (h *Handler) Fail(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, err *oauth2err.Error) {
	if err.Code == oauth2err.AccessDenied {
		if h.decide(w, r, ar, storage.DeviceCode{Status: storage.DeviceDenied}) {
			h.done(w, r, http.StatusOK, "Access denied", "The device was not given access. You can close this window.")
		}
		return
	}
	if err.Code == oauth2err.ServerError {
		h.Pages.Internal(w, r, "device login", err)
		return
	}
	h.Pages.ErrorArgs(w, r, http.StatusBadRequest, "fwd.failed", "go.device_failed", "go.device_reenter",
		map[string]any{"Detail": err.Description})
}

// Deny denies the device code of a user a policy refuses.
func (h *Handler) Deny(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, reason string) {
	if h.decide(w, r, ar, storage.DeviceCode{Status: storage.DeviceDenied}) {
		h.done(w, r, http.StatusForbidden, "Access denied", reason)
	}
}

// decide records the decision on the login's device code, once; false when a page was
// rendered instead.
func (h *Handler) decide(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, d storage.DeviceCode) bool {
	ctx := r.Context()
	userHash, err := h.Blobs.GetBlob(ctx, requestKey(ar.ID), h.Now().UTC())
	if err == nil {
		err = h.Devices.DecideDeviceCode(ctx, string(userHash), d, h.Now().UTC())
	}
	switch {
	case errors.Is(err, storage.ErrNotFound):
		h.Pages.Error(w, r, http.StatusBadRequest, "Code expired", "The device code has expired or was already used.",
			"Start again on your device to get a new code.")
		return false
	case err != nil:
		h.Pages.Internal(w, r, "decide device code", err)
		return false
	}
	if err := h.Blobs.DeleteBlob(ctx, requestKey(ar.ID)); err != nil {
		h.Logger.WarnContext(ctx, "delete device request", "err", err)
	}
	return true
}

func (h *Handler) done(w http.ResponseWriter, r *http.Request, status int, heading, msg string) {
	h.Pages.Render(w, r, status, "device_done.html", pageData{Page: h.Pages.Page(heading), Heading: heading, Message: msg})
}
