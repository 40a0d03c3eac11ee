package dpop_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-id/gatehouse/broker/dpop"
	"github.com/gatehouse-id/gatehouse/broker/dpop/dpoptest"
	"github.com/gatehouse-id/gatehouse/broker/oauth2err"
	"github.com/gatehouse-id/gatehouse/storage/sqlite"
)

const tokenURL = "https://id.example.test/gh/token"

func newValidator(t *testing.T, now time.Time) *dpop.Validator {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return &dpop.Validator{Replay: st, MaxAge: dpop.DefaultMaxAge, MaxFuture: dpop.DefaultMaxFuture, Now: func() time.Time { return now }}
}

// rawJWS builds a compact JWS from a header and payload with the given signature bytes.
func rawJWS(header, payload string, sig []byte) string {
	e := base64.RawURLEncoding.EncodeToString
	return e([]byte(header)) + "." + e([]byte(payload)) + "." + e(sig)
}

// TestCheck runs every rule of RFC 9449 4.3 against one proof each.
func TestCheck(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	k := dpoptest.NewKey()
	ecPriv := k.Private.(*ecdsa.PrivateKey)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	weakRSA, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hs := func() string {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")},
			(&jose.SignerOptions{}).WithType("dpop+jwt").WithHeader("jwk", jose.JSONWebKey{Key: []byte("0123456789abcdef0123456789abcdef")}))
		if err != nil {
			t.Fatal(err)
		}
		jws, err := s.Sign([]byte(`{"jti":"a","htm":"POST","htu":"` + tokenURL + `","iat":` + itoa(now.Unix()) + `}`))
		if err != nil {
			t.Fatal(err)
		}
		out, _ := jws.CompactSerialize()
		return out
	}()
	none := rawJWS(`{"typ":"dpop+jwt","alg":"none","jwk":{"kty":"EC","crv":"P-256","x":"`+
		base64.RawURLEncoding.EncodeToString(ecPriv.X.FillBytes(make([]byte, 32)))+`","y":"`+
		base64.RawURLEncoding.EncodeToString(ecPriv.Y.FillBytes(make([]byte, 32)))+`"}}`,
		`{"jti":"a","htm":"POST","htu":"`+tokenURL+`","iat":`+itoa(now.Unix())+`}`, nil)
	good := func(o dpoptest.Options) string { return k.Proof("POST", tokenURL, o) }
	tests := []struct {
		name  string
		proof string
		req   dpop.Request
		want  error // nil: accepted
	}{
		{"valid ES256", good(dpoptest.Options{IssuedAt: now}), dpop.Request{}, nil},
		{"valid RS256", (&dpoptest.Key{Private: rsaKey, Alg: jose.RS256}).Proof("POST", tokenURL, dpoptest.Options{IssuedAt: now}), dpop.Request{}, nil},
		{"valid PS256", (&dpoptest.Key{Private: rsaKey, Alg: jose.PS256}).Proof("POST", tokenURL, dpoptest.Options{IssuedAt: now}), dpop.Request{}, nil},
		{"valid EdDSA", (&dpoptest.Key{Private: edKey, Alg: jose.EdDSA}).Proof("POST", tokenURL, dpoptest.Options{IssuedAt: now}), dpop.Request{}, nil},
		{"htu normalized: case, default port, no query", k.Proof("POST", "HTTPS://ID.example.test:443/gh/%74oken?x=1#f", dpoptest.Options{IssuedAt: now}), dpop.Request{}, nil},
		{"htu of another endpoint", k.Proof("POST", "https://id.example.test/gh/userinfo", dpoptest.Options{IssuedAt: now}), dpop.Request{}, dpop.ErrInvalidProof},
		{"htu of another host", k.Proof("POST", "https://evil.example.test/gh/token", dpoptest.Options{IssuedAt: now}), dpop.Request{}, dpop.ErrInvalidProof},
		{"htu http instead of https", k.Proof("POST", "http://id.example.test/gh/token", dpoptest.Options{IssuedAt: now}), dpop.Request{}, dpop.ErrInvalidProof},
		{"htu relative", k.Proof("POST", "/gh/token", dpoptest.Options{IssuedAt: now}), dpop.Request{}, dpop.ErrInvalidProof},
		{"htm of another method", k.Proof("GET", tokenURL, dpoptest.Options{IssuedAt: now}), dpop.Request{}, dpop.ErrInvalidProof},
		{"htm lowercase", k.Proof("post", tokenURL, dpoptest.Options{IssuedAt: now}), dpop.Request{}, dpop.ErrInvalidProof},
		{"stale iat", good(dpoptest.Options{IssuedAt: now.Add(-61 * time.Second)}), dpop.Request{}, dpop.ErrInvalidProof},
		{"iat at the edge of the past window", good(dpoptest.Options{IssuedAt: now.Add(-60 * time.Second)}), dpop.Request{}, nil},
		{"iat in the future", good(dpoptest.Options{IssuedAt: now.Add(6 * time.Second)}), dpop.Request{}, dpop.ErrInvalidProof},
		{"iat within the future skew", good(dpoptest.Options{IssuedAt: now.Add(5 * time.Second)}), dpop.Request{}, nil},
		{"typ JWT", good(dpoptest.Options{IssuedAt: now, Typ: "JWT"}), dpop.Request{}, dpop.ErrInvalidProof},
		{"symmetric alg HS256", hs, dpop.Request{}, dpop.ErrInvalidProof},
		{"alg none", none, dpop.Request{}, dpop.ErrInvalidProof},
		{"private key in jwk", good(dpoptest.Options{IssuedAt: now, JWK: &jose.JSONWebKey{Key: ecPriv}}), dpop.Request{}, dpop.ErrInvalidProof},
		{"jwk is another key", good(dpoptest.Options{IssuedAt: now, JWK: &jose.JSONWebKey{Key: &p384.PublicKey}}), dpop.Request{}, dpop.ErrInvalidProof},
		{"jwk RSA for ES256", good(dpoptest.Options{IssuedAt: now, JWK: &jose.JSONWebKey{Key: &rsaKey.PublicKey}}), dpop.Request{}, dpop.ErrInvalidProof},
		{"RSA under 2048 bits", (&dpoptest.Key{Private: weakRSA, Alg: jose.RS256}).Proof("POST", tokenURL, dpoptest.Options{IssuedAt: now}), dpop.Request{}, dpop.ErrInvalidProof},
		{"no jwk", rawJWS(`{"typ":"dpop+jwt","alg":"ES256"}`, `{}`, make([]byte, 64)), dpop.Request{}, dpop.ErrInvalidProof},
		{"no jti", good(dpoptest.Options{IssuedAt: now, Claims: map[string]any{"jti": nil}}), dpop.Request{}, dpop.ErrInvalidProof},
		{"jti too long", good(dpoptest.Options{IssuedAt: now, JTI: strings.Repeat("j", 257)}), dpop.Request{}, dpop.ErrInvalidProof},
		{"no iat", good(dpoptest.Options{IssuedAt: now, Claims: map[string]any{"iat": nil}}), dpop.Request{}, dpop.ErrInvalidProof},
		{"iat a string", good(dpoptest.Options{IssuedAt: now, Claims: map[string]any{"iat": "now"}}), dpop.Request{}, dpop.ErrInvalidProof},
		{"ath at the token endpoint", good(dpoptest.Options{IssuedAt: now, AccessToken: "at"}), dpop.Request{}, dpop.ErrInvalidProof},
		{"ath matches", good(dpoptest.Options{IssuedAt: now, AccessToken: "at"}), dpop.Request{AccessToken: "at"}, nil},
		{"ath of another token", good(dpoptest.Options{IssuedAt: now, AccessToken: "other"}), dpop.Request{AccessToken: "at"}, dpop.ErrInvalidProof},
		{"ath missing at a resource", good(dpoptest.Options{IssuedAt: now}), dpop.Request{AccessToken: "at"}, dpop.ErrInvalidProof},
		{"signature tampered", func() string { p := good(dpoptest.Options{IssuedAt: now}); return p[:len(p)-4] + "AAAA" }(), dpop.Request{}, dpop.ErrInvalidProof},
		{"not a JWS", "abc", dpop.Request{}, dpop.ErrInvalidProof},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := newValidator(t, now)
			req := tc.req
			req.Method, req.URL = "POST", tokenURL
			p, err := v.Check(context.Background(), tc.proof, req)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				if p.JKT == "" {
					t.Fatal("no thumbprint")
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Check = %v, want %v", err, tc.want)
			}
			if e := dpop.OAuthError(err); e.Code != oauth2err.InvalidDPoPProof {
				t.Fatalf("OAuthError code %q", e.Code)
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestThumbprint checks jkt against RFC 7638 3 computed by hand: SHA-256 of the required
// members in lexicographic order, no whitespace.
func TestThumbprint(t *testing.T) {
	k := dpoptest.NewKey()
	pub := k.Private.(*ecdsa.PrivateKey)
	b64 := base64.RawURLEncoding.EncodeToString
	canon := `{"crv":"P-256","kty":"EC","x":"` + b64(pub.X.FillBytes(make([]byte, 32))) + `","y":"` + b64(pub.Y.FillBytes(make([]byte, 32))) + `"}`
	sum := sha256.Sum256([]byte(canon))
	p, err := dpop.Parse(k.Proof("POST", tokenURL, dpoptest.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	if want := b64(sum[:]); p.JKT != want || k.JKT() != want {
		t.Fatalf("jkt %q (helper %q), want %q", p.JKT, k.JKT(), want)
	}
}

// TestReplay: a proof is accepted once; of many goroutines presenting it at once exactly one
// passes.
func TestReplay(t *testing.T) {
	now := time.Now()
	v := newValidator(t, now)
	k := dpoptest.NewKey()
	proof := k.Proof("POST", tokenURL, dpoptest.Options{IssuedAt: now})
	var ok, replayed atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			_, err := v.Check(context.Background(), proof, dpop.Request{Method: "POST", URL: tokenURL})
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, dpop.ErrInvalidProof):
				replayed.Add(1)
			default:
				t.Errorf("Check: %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 || replayed.Load() != 15 {
		t.Fatalf("accepted %d, refused %d; want 1 and 15", ok.Load(), replayed.Load())
	}
	// The same jti under another key is another proof.
	other := dpoptest.NewKey().Proof("POST", tokenURL, dpoptest.Options{IssuedAt: now, JTI: "same"})
	if _, err := v.Check(context.Background(), other, dpop.Request{Method: "POST", URL: tokenURL}); err != nil {
		t.Fatalf("other key, own jti: %v", err)
	}
}

// TestNonce: with nonces on, a proof without one, with a made-up one, or with one two
// periods old is refused with use_dpop_nonce; the current and the previous slot's pass.
func TestNonce(t *testing.T) {
	now := time.Now()
	v := newValidator(t, now)
	v.Nonces = dpop.NewNonces(v.Replay, time.Minute)
	ctx := context.Background()
	cur, err := v.Nonces.Issue(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	prev, _ := v.Nonces.Issue(ctx, now.Add(-time.Minute))
	old, _ := v.Nonces.Issue(ctx, now.Add(-2*time.Minute))
	next, _ := v.Nonces.Issue(ctx, now.Add(time.Minute))
	k := dpoptest.NewKey()
	for _, tc := range []struct {
		name, nonce string
		ok          bool
	}{
		{"none", "", false}, {"made up", "bm9uY2U", false}, {"two periods old", old, false},
		{"from the future", next, false}, {"current", cur, true}, {"previous", prev, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Check(ctx, k.Proof("POST", tokenURL, dpoptest.Options{IssuedAt: now, Nonce: tc.nonce}),
				dpop.Request{Method: "POST", URL: tokenURL, RequireNonce: true})
			if tc.ok != (err == nil) {
				t.Fatalf("Check: %v, want ok=%v", err, tc.ok)
			}
			if !tc.ok && dpop.OAuthError(err).Code != oauth2err.UseDPoPNonce {
				t.Fatalf("code %q, want use_dpop_nonce", dpop.OAuthError(err).Code)
			}
		})
	}
}

// TestNormalizeURL covers RFC 3986 syntax- and scheme-based normalization.
func TestNormalizeURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://A.example/x", "https://a.example/x"},
		{"https://a.example:443/x", "https://a.example/x"},
		{"http://a.example:80/x", "http://a.example/x"},
		{"https://a.example:8443/x", "https://a.example:8443/x"},
		{"https://a.example", "https://a.example/"},
		{"https://a.example/%7euser/%2f", "https://a.example/~user/%2F"},
		{"https://a.example/x?q=1#f", "https://a.example/x"},
		{"ftp://a.example/x", ""},
		{"https://u:p@a.example/x", ""},
		{"/x", ""},
		{"https://a.example/%zz", ""},
	} {
		got, ok := dpop.NormalizeURL(tc.in)
		if !ok {
			got = ""
		}
		if got != tc.want {
			t.Errorf("NormalizeURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestHeader: one DPoP header, bounded.
func TestHeader(t *testing.T) {
	for _, tc := range []struct {
		name string
		vals []string
		ok   bool
	}{
		{"none", nil, true}, {"one", []string{"a.b.c"}, true}, {"two", []string{"a.b.c", "a.b.c"}, false},
		{"too large", []string{strings.Repeat("a", dpop.MaxProofSize+1)}, false}, {"empty", []string{""}, false},
	} {
		r := httptest.NewRequest("POST", tokenURL, nil)
		for _, v := range tc.vals {
			r.Header.Add("DPoP", v)
		}
		if _, err := dpop.Header(r); (err == nil) != tc.ok {
			t.Errorf("%s: Header = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

// FuzzParse: the proof parser never panics, and whatever it accepts has a thumbprint and the
// required claims.
func FuzzParse(f *testing.F) {
	k := dpoptest.NewKey()
	f.Add(k.Proof("POST", tokenURL, dpoptest.Options{}))
	f.Add(k.Proof("GET", "https://a.example/userinfo", dpoptest.Options{AccessToken: "x", Nonce: "n"}))
	f.Add("e30.e30.")
	f.Add(rawJWS(`{"typ":"dpop+jwt","alg":"none"}`, `{}`, nil))
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := dpop.Parse(raw)
		if err != nil {
			if !errors.Is(err, dpop.ErrInvalidProof) {
				t.Fatalf("error not wrapping ErrInvalidProof: %v", err)
			}
			return
		}
		if p.JKT == "" || p.JTI == "" || p.Method == "" || p.URL == "" {
			t.Fatalf("accepted a proof without jkt or claims: %+v", p)
		}
	})
}

// FuzzNormalizeURL: normalization is idempotent.
func FuzzNormalizeURL(f *testing.F) {
	f.Add("https://A.example:443/%7e/x?y#z")
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := dpop.NormalizeURL(s)
		if !ok {
			return
		}
		if n2, ok := dpop.NormalizeURL(n); !ok || n2 != n {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", s, n, n2, ok)
		}
	})
}

// BenchmarkParse is the CPU cost of checking a proof by itself (ES256 verification).
func BenchmarkParse(b *testing.B) {
	proof := dpoptest.NewKey().Proof("POST", tokenURL, dpoptest.Options{})
	m := startCPU(b)
	for b.Loop() {
		if _, err := dpop.Parse(proof); err != nil {
			b.Fatal(err)
		}
	}
	m.report(b)
}

// BenchmarkCheck adds the request checks and the jti record in storage (SQLite).
func BenchmarkCheck(b *testing.B) {
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "db"), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	v := &dpop.Validator{Replay: st, MaxAge: dpop.DefaultMaxAge, MaxFuture: dpop.DefaultMaxFuture, Now: time.Now}
	k := dpoptest.NewKey()
	proofs := make([]string, b.N)
	for i := range proofs {
		proofs[i] = k.Proof("POST", tokenURL, dpoptest.Options{})
	}
	b.ResetTimer()
	m := startCPU(b)
	for i := range b.N {
		if _, err := v.Check(context.Background(), proofs[i], dpop.Request{Method: "POST", URL: tokenURL}); err != nil {
			b.Fatal(err)
		}
	}
	m.report(b)
}
