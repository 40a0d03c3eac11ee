package device

import (
	"errors"
	"net/http"

	"github.com/gatehouse-id/gatehouse/broker/opaque"
	"github.com/gatehouse-id/gatehouse/broker/pages"
	"github.com/gatehouse-id/gatehouse/internal/httpx"
	"github.com/gatehouse-id/gatehouse/session"
	"github.com/gatehouse-id/gatehouse/storage"
)

// requestKey is the blob that names the device code of a login in progress.
func requestKey(authRequestID string) string { return "device-request:" + authRequestID }

// csrfPurpose binds the code entry form to the browser's flow cookie.
const csrfPurpose = "device-entry"

// pageData is what device.html and device_done.html show.
type pageData struct {
	pages.Page
	Action, CSRF string
	UserCode     string
	Message      string
	Heading      string
}

// servePage shows the code entry form, prefilled from verification_uri_complete.
func (h *Handler) servePage(w http.ResponseWriter, r *http.Request) {
	flow, err := h.Sessions.Flow(w, r)
	if err != nil {
		h.Pages.Internal(w, r, "flow cookie", err)
		return
	}
	code := r.URL.Query().Get("user_code")
	if len(code) > 16 {
		code = ""
	}
	h.renderEntry(w, r, http.StatusOK, flow, code, "")
}

func (h *Handler) renderEntry(w http.ResponseWriter, r *http.Request, status int, flow, code, msg string) {
	h.Pages.Render(w, r, status, "device.html", pageData{Page: h.Pages.Page("Connect a device"), Action: h.Pages.Rel("/device"),
		CSRF: session.CSRFToken(flow, csrfPurpose), UserCode: code, Message: msg})
}

// serveSubmit takes an entered user code: CSRF, the entry rate limit (one attempt is spent
// before the lookup and refunded when the code is right), then the login of a device
// request through authflow, with consent asked (the user confirms what the device gets).
func (h *Handler) serveSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		h.Pages.Error(w, r, http.StatusBadRequest, "Request refused", "The form could not be read.", "Go back and try again.")
		return
	}
	flow := h.Sessions.FlowSecret(r)
	if !session.CheckCSRF(flow, csrfPurpose, r.PostFormValue("csrf")) {
		h.Pages.Error(w, r, http.StatusForbidden, "Request refused", "The form has expired or did not come from this site.", "Open the device page again and re-enter the code.")
		return
	}
	entered := r.PostFormValue("user_code")
	ip := httpx.ClientIP(r, h.TrustedProxies)
	attempt, ok, err := h.limiter.Reserve(r.Context(), storage.RateLimit{Key: "device-entry-ip:" + ip, Max: entryLimit})
	if err != nil {
		h.Pages.Internal(w, r, "reserve a code entry", err)
		return
	}
	if !ok {
		h.Logger.WarnContext(r.Context(), "device code entry rate limited", "ip", ip)
		h.renderEntry(w, r, http.StatusTooManyRequests, flow, "", "Too many wrong codes. Wait a few minutes and try again.")
		return
	}
	now := h.Now().UTC()
	code, valid := NormalizeUserCode(entered)
	var d storage.DeviceCode
	if valid {
		d, err = h.Devices.GetDeviceCodeByUser(r.Context(), opaque.Hash(code), now)
	}
	switch {
	case !valid || errors.Is(err, storage.ErrNotFound) || (err == nil && d.Status != storage.DevicePending):
		h.Logger.InfoContext(r.Context(), "device code entry refused", "ip", ip)
		h.renderEntry(w, r, http.StatusBadRequest, flow, "", "That code is not valid or has expired. Check the code on your device.")
		return
	case err != nil:
		h.Pages.Internal(w, r, "read device code", err)
		return
	}
	if err := h.limiter.Refund(r.Context(), attempt); err != nil {
		h.Logger.WarnContext(r.Context(), "refund code entry", "err", err)
	}
	ar := storage.AuthRequest{ID: opaque.ID(), Protocol: storage.ProtocolDevice, ClientID: d.ClientID, Scopes: d.Scopes,
		Prompt: []string{"consent"}, MaxAge: -1}
	if err := h.Blobs.PutBlob(r.Context(), storage.Blob{Key: requestKey(ar.ID), Value: []byte(d.UserHash), Expiry: d.Expiry}); err != nil {
		h.Pages.Internal(w, r, "remember the device request", err)
		return
	}
	h.Logger.InfoContext(r.Context(), "device code entered", "client_id", d.ClientID)
	h.Flow.Start(w, r, ar, "")
}
