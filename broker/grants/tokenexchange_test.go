package grants

import (
	"net/url"
	"testing"

	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/config"
)

func TestParseExchange(t *testing.T) {
	const at = clients.TokenTypeAccessToken
	tests := []struct {
		name string
		form string
		code oauth2err.Code // "" when accepted
	}{
		{"minimal", "subject_token=a&subject_token_type=" + at, ""},
		{"everything", "subject_token=a&subject_token_type=" + at + "&actor_token=b&actor_token_type=" + clients.TokenTypeIDToken +
			"&audience=x&audience=y&resource=https://r.example/&resource=urn:r&scope=a+b+a&requested_token_type=" + at, ""},
		{"no subject token", "subject_token_type=" + at, oauth2err.InvalidRequest},
		{"no subject type", "subject_token=a", oauth2err.InvalidRequest},
		{"unknown subject type", "subject_token=a&subject_token_type=urn:ietf:params:oauth:token-type:jwt", oauth2err.InvalidRequest},
		{"actor without type", "subject_token=a&subject_token_type=" + at + "&actor_token=b", oauth2err.InvalidRequest},
		{"actor type without actor", "subject_token=a&subject_token_type=" + at + "&actor_token_type=" + at, oauth2err.InvalidRequest},
		{"unknown actor type", "subject_token=a&subject_token_type=" + at + "&actor_token=b&actor_token_type=x", oauth2err.InvalidRequest},
		{"refresh token requested", "subject_token=a&subject_token_type=" + at + "&requested_token_type=urn:ietf:params:oauth:token-type:refresh_token", oauth2err.InvalidRequest},
		{"empty audience", "subject_token=a&subject_token_type=" + at + "&audience=", oauth2err.InvalidRequest},
		{"relative resource", "subject_token=a&subject_token_type=" + at + "&resource=/api", oauth2err.InvalidTarget},
		{"resource with fragment", "subject_token=a&subject_token_type=" + at + "&resource=https://r.example/%23f", oauth2err.InvalidTarget},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			form, err := url.ParseQuery(tc.form)
			if err != nil {
				t.Fatal(err)
			}
			req, err := parseExchange(form)
			if got := oauth2err.As(err).Code; err != nil && got != tc.code || err == nil && tc.code != "" {
				t.Fatalf("err %v, want code %q", err, tc.code)
			}
			if tc.name == "everything" && (len(req.Audiences) != 2 || len(req.Resources) != 2 || len(req.Scopes) != 2) {
				t.Errorf("request %+v", req)
			}
		})
	}
}

// FuzzParseExchange: the token exchange parser reads untrusted form input; it never panics,
// refuses with invalid_request or invalid_target only, and what it accepts is well formed.
func FuzzParseExchange(f *testing.F) {
	f.Add("subject_token=a&subject_token_type=urn:ietf:params:oauth:token-type:access_token")
	f.Add("subject_token=a&subject_token_type=urn:ietf:params:oauth:token-type:id_token&actor_token=b&actor_token_type=urn:ietf:params:oauth:token-type:access_token&resource=https://r/&audience=x&scope=a")
	f.Add("subject_token=&resource=%23&audience=")
	f.Add("requested_token_type=x&subject_token=a&subject_token_type=urn:ietf:params:oauth:token-type:access_token")
	f.Fuzz(func(t *testing.T, raw string) {
		form, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		req, err := parseExchange(form)
		if err != nil {
			if c := oauth2err.As(err).Code; c != oauth2err.InvalidRequest && c != oauth2err.InvalidTarget {
				t.Fatalf("refused with %q: %v", c, err)
			}
			return
		}
		if req.SubjectToken == "" || !knownTokenType(req.SubjectTokenType) || (req.ActorToken == "") != (req.ActorTokenType == "") ||
			(req.ActorToken != "" && !knownTokenType(req.ActorTokenType)) {
			t.Fatalf("accepted a malformed request %+v", req)
		}
		for _, r := range req.Resources {
			if config.CheckResourceURI(r) != nil {
				t.Fatalf("accepted resource %q", r)
			}
		}
		for _, a := range req.Audiences {
			if a == "" {
				t.Fatal("accepted an empty audience")
			}
		}
	})
}
