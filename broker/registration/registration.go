// Package registration owns Dynamic Client Registration (RFC 7591) at POST /register and
// client management (RFC 7592) at /register/{client_id}: off unless registration.enabled.
// A registration needs an initial access token issued through the admin API (stored
// hashed, used atomically); the metadata passes the registration policy and the same client
// rules as the config file and the admin API (clients.Validate); a software statement
// signed by a configured key overrides the request's metadata. The registered client is a
// stored client (storage.ClientStore) with a generated ID and secret (hashed at rest) and a
// registration access token (hashed at rest) that authenticates its management requests.
package registration

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/audit"
	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/broker/route"
	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Deps is what the endpoints need.
type Deps struct {
	// Issuer is the issuer URL; registration_client_uri is under it.
	Issuer string
	// Policy is the registration block of the config.
	Policy config.Registration
	// Statements checks software statements.
	Statements *Statements
	// Clients is the client registry (a configured client's ID is never registered).
	Clients *clients.Registry
	Store   storage.ClientStore
	Tokens  storage.RegistrationStore
	// ConnectorIDs are the configured connectors (for the client rules).
	ConnectorIDs []string
	Audit        audit.Recorder
	Logger       *slog.Logger
	Now          func() time.Time
}

// Handler serves the registration endpoints.
type Handler struct {
	Deps
}

// New builds the handler.
func New(d Deps) *Handler {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Audit == nil {
		d.Audit = audit.Nop{}
	}
	return &Handler{Deps: d}
}

// Mount registers the endpoints as API routes (JSON, CORS for allowed origins).
func (h *Handler) Mount(m *route.Mux) {
	m.API("POST /register", h.register)
	m.API("GET /register/{client_id}", h.read)
	m.API("PUT /register/{client_id}", h.update)
	m.API("DELETE /register/{client_id}", h.remove)
}

// Response is a client information response (RFC 7591 3.2.1, RFC 7592 3).
type Response struct {
	ClientID              string `json:"client_id"`
	ClientSecret          string `json:"client_secret,omitempty"`
	ClientIDIssuedAt      int64  `json:"client_id_issued_at"`
	ClientSecretExpiresAt *int64 `json:"client_secret_expires_at,omitempty"`
	RegistrationToken     string `json:"registration_access_token,omitempty"`
	RegistrationClientURI string `json:"registration_client_uri"`
	Metadata
}

// register is POST /register (RFC 7591 3): the initial access token is checked, the
// metadata validated, then the token's use is counted atomically and the client stored.
func (h *Handler) register(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	iat := bearerToken(r)
	if iat == "" { // RFC 6750 3.1: no credentials, a bare challenge
		oauth2err.WriteBearer(w, nil)
		return
	}
	hash := clients.HashSecret(iat)
	if _, err := h.Tokens.GetInitialAccessToken(ctx, hash); err != nil {
		h.fail(w, r, "", tokenErr(err, "the initial access token is unknown"))
		return
	}
	m, err := h.readMetadata(r)
	if err != nil {
		h.fail(w, r, "", err)
		return
	}
	id := randomHex(16)
	sc, err := toClient(&h.Policy, m, id, h.ConnectorIDs)
	if err != nil {
		h.fail(w, r, "", err)
		return
	}
	if _, err := h.Tokens.UseInitialAccessToken(ctx, hash, h.Now()); err != nil {
		h.fail(w, r, "", tokenErr(err, "the initial access token is used up or expired"))
		return
	}
	secret, regToken := h.credentials(&sc, "")
	now := h.Now().UTC().Truncate(time.Millisecond)
	sc.CreatedAt, sc.UpdatedAt, sc.Version = now, now, 1
	err = h.Store.CreateClient(ctx, sc)
	h.record(ctx, "registration.client.create", sc.ID, err)
	if err != nil {
		h.fail(w, r, sc.ID, oauth2err.Server(err))
		return
	}
	h.answer(w, http.StatusCreated, sc, secret, regToken)
}

// credentials generates the client secret (for a client that authenticates with one and
// has no secret yet: keepHash is the hash of the one it has) and a new registration access
// token, and keeps their hashes in sc.
func (h *Handler) credentials(sc *storage.Client, keepHash string) (secret, regToken string) {
	sc.SecretHash = ""
	switch {
	case sc.Public || sc.JWKS != "" || sc.JWKSURI != "":
	case keepHash != "":
		sc.SecretHash = keepHash
	default:
		secret = randomToken()
		sc.SecretHash = clients.HashSecret(secret)
	}
	regToken = randomToken()
	sc.RegistrationTokenHash = clients.HashSecret(regToken)
	return secret, regToken
}

// readMetadata reads the bounded body, lays a software statement over it, and parses it.
func (h *Handler) readMetadata(r *http.Request) (Metadata, error) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return Metadata{}, &oauth2err.Error{Code: oauth2err.InvalidRequest, Description: "the request must be application/json"}
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody+1))
	if err != nil {
		return Metadata{}, metadataErr("", "the request body is unreadable or longer than %d bytes", maxBody)
	}
	obj, err := parseObject(body)
	if err != nil {
		return Metadata{}, err
	}
	if err := h.Statements.Apply(r.Context(), obj); err != nil {
		return Metadata{}, err
	}
	return metadataFrom(obj)
}

// answer writes a client information response.
func (h *Handler) answer(w http.ResponseWriter, status int, sc storage.Client, secret, regToken string) {
	resp := Response{
		ClientID: sc.ID, ClientSecret: secret, ClientIDIssuedAt: sc.CreatedAt.Unix(), RegistrationToken: regToken,
		RegistrationClientURI: strings.TrimSuffix(h.Issuer, "/") + "/register/" + sc.ID, Metadata: metadataOf(sc),
	}
	if sc.SecretHash != "" {
		zero := int64(0) // secrets do not expire
		resp.ClientSecretExpiresAt = &zero
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(resp) //nolint:errcheck // the client went away; nothing to do
}

// fail logs and writes an error: token errors as an RFC 6750 challenge, the others as JSON.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, clientID string, err error) {
	e := oauth2err.As(err)
	if e.Code == oauth2err.ServerError {
		h.Logger.ErrorContext(r.Context(), "client registration failed", "client_id", clientID, "err", e)
	} else {
		h.Logger.InfoContext(r.Context(), "client registration refused", "client_id", clientID, "err", e)
	}
	if e.Code == oauth2err.InvalidToken {
		oauth2err.WriteBearer(w, e)
		return
	}
	oauth2err.WriteJSON(w, r, e)
}

// tokenErr maps a storage error of a token lookup: unknown or spent is invalid_token, the
// rest is a server error.
func tokenErr(err error, description string) error {
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrReused) {
		return &oauth2err.Error{Code: oauth2err.InvalidToken, Description: description}
	}
	return oauth2err.Server(err)
}

// record audits a registration act; the target is the client.
func (h *Handler) record(ctx context.Context, what, clientID string, err error) {
	outcome := audit.OutcomeSuccess
	if err != nil {
		outcome = "error"
	}
	h.Audit.Record(ctx, audit.Event{Type: what, Outcome: outcome, ClientID: clientID})
}

// bearerToken is the token of an Authorization: Bearer header, or "".
func bearerToken(r *http.Request) string {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// sameHash compares a presented token with a stored hash in constant time.
func sameHash(token, storedHash string) bool {
	if storedHash == "" || token == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(clients.HashSecret(token)), []byte(storedHash)) == 1
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

// randomToken is a secret: two rand.Text strings (2 x 128 bits, base32).
func randomToken() string {
	return rand.Text() + rand.Text()
}
