package userinfo

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
)

func TestBearerToken(t *testing.T) {
	const form = "application/x-www-form-urlencoded"
	tests := []struct {
		name, method, auth, contentType, body string
		want                                  string
		status                                int // of the refusal; 0 when accepted
	}{
		{"header", http.MethodGet, "Bearer tok", "", "", "tok", 0},
		{"scheme is case-insensitive", http.MethodGet, "bearer tok", "", "", "tok", 0},
		{"form body", http.MethodPost, "", form, "access_token=tok", "tok", 0},
		{"query ignored on GET", http.MethodGet, "", "", "", "", http.StatusUnauthorized},
		{"nothing", http.MethodPost, "", form, "", "", http.StatusUnauthorized},
		{"basic scheme", http.MethodGet, "Basic dXNlcjpwdw==", "", "", "", http.StatusBadRequest},
		{"empty bearer", http.MethodGet, "Bearer  ", "", "", "", http.StatusBadRequest},
		{"header and body", http.MethodPost, "Bearer a", form, "access_token=b", "", http.StatusBadRequest},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, "/userinfo?access_token=q", strings.NewReader(tt.body))
		if tt.auth != "" {
			r.Header.Set("Authorization", tt.auth)
		}
		if tt.contentType != "" {
			r.Header.Set("Content-Type", tt.contentType)
		}
		got, err := BearerToken(httptest.NewRecorder(), r)
		switch {
		case tt.status == 0 && (err != nil || got != tt.want):
			t.Errorf("%s: %q, %v; want %q", tt.name, got, err, tt.want)
		case tt.status != 0 && (err == nil || oauth2err.As(err).HTTPStatus() != tt.status):
			t.Errorf("%s: %q, %v; want a %d refusal", tt.name, got, err, tt.status)
		}
	}
}
