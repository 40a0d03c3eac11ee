package oauth2err

import (
	"encoding/json"
	"net/http"
	"strings"
)

// Error codes of DPoP (RFC 9449 12.2).
const (
	// InvalidDPoPProof: the DPoP proof is missing where required, malformed or invalid.
	InvalidDPoPProof Code = "invalid_dpop_proof"
	// UseDPoPNonce: the proof must carry the server nonce sent in the DPoP-Nonce header.
	UseDPoPNonce Code = "use_dpop_nonce"
)

// WriteDPoP writes an error for a DPoP-protected resource (RFC 9449 7.1): a 401 with a
// `DPoP` challenge listing the accepted proof algorithms, and the error code unless err is
// nil or has an empty Code (no credentials at all). A server_error gets no challenge code.
func WriteDPoP(w http.ResponseWriter, err error, algs []string) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	challenge := `DPoP algs="` + strings.Join(algs, " ") + `"`
	var e *Error
	if err != nil {
		e = As(err)
	}
	if e == nil || e.Code == "" {
		h.Set("WWW-Authenticate", challenge)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	status := e.HTTPStatus()
	if e.Code != ServerError {
		challenge += `, error="` + string(e.Code) + `"`
		if d := quoteSafe(e.Description); d != "" {
			challenge += `, error_description="` + d + `"`
		}
		if e.Code == InvalidDPoPProof || e.Code == UseDPoPNonce {
			status = http.StatusUnauthorized
		}
	}
	h.Set("WWW-Authenticate", challenge)
	h.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body{Error: e.Code, Description: e.Description}) //nolint:errcheck // the client went away; nothing to do
}
