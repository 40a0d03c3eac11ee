// Package device owns the OAuth 2.0 device authorization grant's browser and device sides
// (RFC 8628): the device authorization endpoint (POST /device/code), the verification page
// where the user enters the user code (GET|POST /device, with verification_uri_complete),
// which hands a device request to the protocol-neutral login (broker/authflow) like any
// other, and the Responder that ends such a flow by approving or denying the device code in
// storage instead of redirecting. The device's polling at the token endpoint is in
// broker/grants (device.go).
package device

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/broker/opaque"
	"github.com/gatehouse-id/gatehouse/broker/pages"
	"github.com/gatehouse-id/gatehouse/broker/route"
	"github.com/gatehouse-id/gatehouse/internal/logctx"
	"github.com/gatehouse-id/gatehouse/internal/ratelimit"
	"github.com/gatehouse-id/gatehouse/session"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Alphabet is the user code alphabet: 20 consonants, no vowels (no words) and nothing that
// reads like a digit (RFC 8628 6.1). Eight characters give 20^8 (about 2^34.6) codes.
const Alphabet = "BCDFGHJKLMNPQRSTVWXZ"

// userCodeLen is the user code's length without its separator.
const userCodeLen = 8

// Defaults for Deps.
const (
	DefaultLifetime = 10 * time.Minute
	DefaultInterval = 5 * time.Second
	// entryLimit failed code entries per client IP per entryWindow.
	entryLimit  = 10
	entryWindow = 15 * time.Minute
)

// Starter begins a login for a request (authflow.Flow.Start).
type Starter interface {
	Start(w http.ResponseWriter, r *http.Request, ar storage.AuthRequest, hintSubject string)
}

// Deps is what the device handler needs.
type Deps struct {
	Issuer  string
	Clients *clients.Registry
	// KnownScope reports whether a scope may be requested.
	KnownScope func(string) bool
	Devices    storage.DeviceStore
	// Blobs remembers which device code a login in progress is for (keyed by auth request).
	Blobs      storage.BlobStore
	RateLimits storage.RateLimitStore
	// Assertions authenticates private_key_jwt clients (as at the token endpoint).
	Assertions *clients.AssertionVerifier
	Sessions   *session.Manager
	Flow       Starter
	Pages      *pages.Renderer
	// TrustedProxies name the client IP for the entry rate limit.
	TrustedProxies []netip.Prefix
	// Lifetime of a device code (default DefaultLifetime); Interval between polls (default
	// DefaultInterval).
	Lifetime, Interval time.Duration
	Logger             *slog.Logger
	Now                func() time.Time
}

// Handler serves the device endpoints and ends device flows (authflow.Responder).
type Handler struct {
	Deps
	limiter *ratelimit.Limiter
}

// New builds the handler.
func New(d Deps) (*Handler, error) {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Lifetime == 0 {
		d.Lifetime = DefaultLifetime
	}
	if d.Interval == 0 {
		d.Interval = DefaultInterval
	}
	lim, err := ratelimit.New(d.RateLimits, d.Now, entryWindow)
	if err != nil {
		return nil, err
	}
	return &Handler{Deps: d, limiter: lim}, nil
}

// Mount registers the device authorization endpoint (an API route) and the verification
// page (a browser route: cross-origin protection and a CSRF token on its form).
func (h *Handler) Mount(m *route.Mux) {
	m.API("POST /device/code", h.serveCode)
	m.Browser("GET /device", h.servePage)
	m.Browser("POST /device", h.serveSubmit)
}

// NewUserCode returns a random user code: userCodeLen characters of Alphabet, drawn without
// modulo bias.
func NewUserCode() string {
	var b strings.Builder
	buf := make([]byte, 1)
	for b.Len() < userCodeLen {
		if _, err := rand.Read(buf); err != nil {
			panic(err) // crypto/rand does not fail on supported platforms
		}
		if v := int(buf[0]); v < 256-256%len(Alphabet) {
			b.WriteByte(Alphabet[v%len(Alphabet)])
		}
	}
	return b.String()
}

// NormalizeUserCode turns what a user typed into the stored form: upper case, separators
// and spaces dropped. ok is false unless exactly userCodeLen characters of Alphabet remain.
func NormalizeUserCode(in string) (string, bool) {
	if len(in) > 32 {
		return "", false
	}
	var b strings.Builder
	for _, r := range strings.ToUpper(in) {
		switch {
		case r == '-' || r == ' ' || r == '\t':
		case r < 128 && strings.ContainsRune(Alphabet, r):
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	if b.Len() != userCodeLen {
		return "", false
	}
	return b.String(), true
}

// display formats a user code for people: XXXX-XXXX.
func display(code string) string { return code[:4] + "-" + code[4:] }

// codeResponse is RFC 8628 3.2.
type codeResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// serveCode is the device authorization endpoint (RFC 8628 3.1): the client authenticates
// as at the token endpoint (a secret, private_key_jwt, or client_id alone when public).
func (h *Handler) serveCode(w http.ResponseWriter, r *http.Request) {
	c, scopes, err := h.codeRequest(w, r)
	if err != nil {
		oauth2err.WriteJSON(w, r, err)
		return
	}
	deviceCode, userCode, err := h.create(r.Context(), c.ID, scopes)
	if err != nil {
		h.Logger.ErrorContext(r.Context(), "store device code", "err", err)
		oauth2err.WriteJSON(w, r, oauth2err.Server(err))
		return
	}
	verify := strings.TrimSuffix(h.Issuer, "/") + "/device"
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "no-store")
	h.Logger.InfoContext(r.Context(), "device code issued", "client_id", c.ID, "scopes", scopes)
	_ = json.NewEncoder(w).Encode(codeResponse{ //nolint:errcheck // the client went away; nothing to do
		DeviceCode: deviceCode, UserCode: display(userCode), VerificationURI: verify,
		VerificationURIComplete: verify + "?user_code=" + display(userCode),
		ExpiresIn:               int64(h.Lifetime / time.Second), Interval: int64(h.Interval / time.Second),
	})
}

// create stores a new device code with a fresh user code; a user code that is taken (by a
// live code, or an expired one not yet collected) is drawn again, a few times.
func (h *Handler) create(ctx context.Context, clientID string, scopes []string) (deviceCode, userCode string, err error) {
	now := h.Now().UTC()
	for range 4 {
		deviceCode, userCode = opaque.Token(), NewUserCode()
		d := storage.DeviceCode{DeviceHash: opaque.Hash(deviceCode), UserHash: opaque.Hash(userCode), ClientID: clientID,
			Scopes: scopes, Interval: h.Interval, CreatedAt: now, Expiry: now.Add(h.Lifetime)}
		if err = h.Devices.CreateDeviceCode(ctx, d); !errors.Is(err, storage.ErrAlreadyExists) {
			return deviceCode, userCode, err
		}
	}
	return "", "", err
}

// codeRequest parses and checks a device authorization request: the client, its grant
// types and the scopes.
func (h *Handler) codeRequest(w http.ResponseWriter, r *http.Request) (*clients.Client, []string, error) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return nil, nil, oauth2err.New(oauth2err.InvalidRequest, "malformed form body")
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			return nil, nil, oauth2err.New(oauth2err.InvalidRequest, "parameter "+k+" is repeated")
		}
	}
	cr, err := clients.ReadCredentials(r)
	if err != nil {
		return nil, nil, oauth2err.New(oauth2err.InvalidRequest, err.Error())
	}
	var c *clients.Client
	if cr.Method == clients.AuthPrivateKeyJWT && h.Assertions != nil {
		if c, err = h.Assertions.Verify(r.Context(), cr); err != nil {
			h.Logger.InfoContext(r.Context(), "client authentication failed", "client_id", cr.ID, "method", cr.Method, "err", err)
			return nil, nil, clients.AssertionError(err)
		}
	} else if c, err = h.Clients.AuthenticateContext(r.Context(), cr); err != nil {
		return nil, nil, oauth2err.Server(err)
	} else if c == nil {
		h.Logger.InfoContext(r.Context(), "client authentication failed", "client_id", cr.ID, "method", cr.Method)
		return nil, nil, oauth2err.New(oauth2err.InvalidClient, "client authentication failed")
	}
	logctx.Add(r.Context(), "client_id", c.ID)
	if !c.AllowsGrant(clients.GrantDeviceCode) {
		return nil, nil, oauth2err.New(oauth2err.UnauthorizedClient, "the client may not use the device authorization grant")
	}
	var scopes []string
	for _, s := range strings.Fields(r.PostFormValue("scope")) {
		if !h.KnownScope(s) {
			return nil, nil, oauth2err.New(oauth2err.InvalidScope, "unknown scope")
		}
		if !containsString(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	if len(scopes) == 0 {
		return nil, nil, oauth2err.New(oauth2err.InvalidScope, "scope is missing")
	}
	return c, scopes, nil
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
