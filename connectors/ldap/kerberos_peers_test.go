//go:build peers

package ldap

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	goldap "github.com/go-ldap/ldap/v3"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/connectors"
)

// Kerberos desktop SSO against Samba AD's own KDC (served by the test DC on 127.0.0.1:88):
// MIT kinit (Debian krb5-user) gets alice a TGT, curl --negotiate sends the ticket for
// HTTP/<ssoHost> to the broker. curl derives the SPN from the URL's host, so the broker is
// reached as ssoHost with curl --resolve (no /etc/hosts change).

const (
	ssoHost   = "sso.corp.example.test"
	ssoSPN    = "HTTP/" + ssoHost
	ssoSvcPW  = "Http-Svc-Pass-2024!"
	krbRealmL = "corp.example.test"
)

// kerberosSetup creates the HTTP service account with its SPN (AES only), exports its
// keytab with samba-tool and writes a private krb5.conf. It returns the keytab path and a
// kinit that gets a user a TGT (and the service tickets named) in a fresh credential cache,
// returning the environment (KRB5_CONFIG, KRB5CCNAME) for curl.
func kerberosSetup(t *testing.T, s *sambaPeer) (string, func(user, pw string, spns ...string) []string) {
	t.Helper()
	kinit, err := lookPeer("kinit", "krb5-user")
	if err != nil {
		t.Fatal(err)
	}
	kvno, err := lookPeer("kvno", "krb5-user")
	if err != nil {
		t.Fatal(err)
	}
	tool, err := lookPeer("samba-tool", "samba samba-ad-provision python3-samba")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := s.admin()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	dn := adUserDN("gh-http")
	if err := sambaAdd(conn, dn, map[string][]string{
		"objectClass": {"user"}, "sAMAccountName": {"gh-http"}, "servicePrincipalName": {ssoSPN},
		"unicodePwd": {unicodePwd(ssoSvcPW)}, "userAccountControl": {"512"},
		"msDS-SupportedEncryptionTypes": {"24"}, // AES128 + AES256
	}); err != nil && !goldap.IsErrorWithCode(err, goldap.LDAPResultEntryAlreadyExists) { // -count=2: made by the first run
		t.Fatal(err)
	}
	dir := t.TempDir()
	kt := filepath.Join(dir, "http.keytab")
	if out, err := run(time.Minute, nil, tool, "domain", "exportkeytab", kt, "--principal="+ssoSPN,
		"-s", filepath.Join(s.dir, "etc", "smb.conf")); err != nil {
		t.Fatalf("exportkeytab: %v\n%s", err, out)
	}
	conf := filepath.Join(dir, "krb5.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`[libdefaults]
	default_realm = %[1]s
	dns_lookup_kdc = false
	dns_lookup_realm = false
	dns_canonicalize_hostname = false
	rdns = false
[realms]
	%[1]s = {
		kdc = 127.0.0.1:88
	}
[domain_realm]
	.%[2]s = %[1]s
	%[2]s = %[1]s
`, adRealm, krbRealmL)), 0o644); err != nil {
		t.Fatal(err)
	}
	return kt, func(user, pw string, spns ...string) []string {
		t.Helper()
		env := append(os.Environ(), "KRB5_CONFIG="+conf, "KRB5CCNAME=FILE:"+filepath.Join(t.TempDir(), "ccache"))
		cmd := exec.Command(kinit, user+"@"+adRealm)
		cmd.Env, cmd.Stdin = env, strings.NewReader(pw+"\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kinit %s: %v\n%s", user, err, out)
		}
		for _, spn := range spns { // service tickets fetched now, used later from the cache
			cmd := exec.Command(kvno, spn)
			cmd.Env = env
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("kvno %s: %v\n%s", spn, err, out)
			}
		}
		return env
	}
}

// sambaAdd adds an entry as the administrator.
func sambaAdd(conn *goldap.Conn, dn string, attrs map[string][]string) error {
	req := goldap.NewAddRequest(dn, nil)
	for k, v := range attrs {
		req.Attribute(k, v)
	}
	return conn.Add(req)
}

// curlResult is what curl saw of the last response.
type curlResult struct {
	status   int
	location string
	header   http.Header
	body     string
}

// curlGet fetches u (on 127.0.0.1) as http://ssoHost:port/... with the browser's cookies;
// negotiate adds --negotiate -u : (the ticket of the ccache in env).
func curlGet(t *testing.T, env []string, b *browser, u string, negotiate bool) curlResult {
	t.Helper()
	curl, err := lookPeer("curl", "curl")
	if err != nil {
		t.Fatal(err)
	}
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(pu.Host)
	var cookies []string
	for _, c := range b.c.Jar.Cookies(pu) {
		cookies = append(cookies, c.Name+"="+c.Value)
	}
	dir := t.TempDir()
	hdr, body := filepath.Join(dir, "headers"), filepath.Join(dir, "body")
	pu.Host = net.JoinHostPort(ssoHost, port)
	args := []string{"-sS", "--resolve", ssoHost + ":" + port + ":127.0.0.1", "-D", hdr, "-o", body}
	if len(cookies) > 0 {
		args = append(args, "-b", strings.Join(cookies, "; "))
	}
	if negotiate {
		args = append(args, "--negotiate", "-u", ":")
	}
	cmd := exec.Command(curl, append(args, pu.String())...)
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(hdr)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(body)
	// -D writes every response (the 401 challenge, then the answer to the retry): keep the last.
	blocks := strings.Split(strings.ReplaceAll(string(raw), "\r\n", "\n"), "\n\n")
	for len(blocks) > 1 && strings.TrimSpace(blocks[len(blocks)-1]) == "" {
		blocks = blocks[:len(blocks)-1]
	}
	res := curlResult{header: http.Header{}, body: string(data)}
	sc := bufio.NewScanner(strings.NewReader(blocks[len(blocks)-1]))
	for first := true; sc.Scan(); first = false {
		line := sc.Text()
		if first {
			f := strings.Fields(line)
			if len(f) >= 2 {
				res.status, _ = strconv.Atoi(f[1])
			}
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			res.header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		}
	}
	res.location = res.header.Get("Location")
	// The sign-in set the session cookies: the browser carries on with them.
	var set []*http.Cookie
	for _, sc := range res.header.Values("Set-Cookie") {
		if c, err := http.ParseSetCookie(sc); err == nil {
			set = append(set, c)
		}
	}
	pu.Host = net.JoinHostPort("127.0.0.1", port)
	b.c.Jar.SetCookies(pu, set)
	return res
}

// TestKerberosSPNEGO: a browser holding alice's Kerberos ticket (kinit against Samba AD's
// KDC, curl --negotiate) is signed in without the password form, with identity and nested
// groups read from AD; without a ticket the form comes with the Negotiate challenge; a
// ticket the keytab cannot open (a stale or wrong service key) is refused and the form is
// shown without a new challenge; an account disabled after its ticket was issued is denied.
func TestKerberosSPNEGO(t *testing.T) {
	s := needPeers(t).samba
	ktPath, kinit := kerberosSetup(t, s)
	env := kinit("alice", adAlicePW)

	openKrb := func(keytabPath string) connectors.Connector {
		cfg := sambaConfig(s)
		cfg.Kerberos = &Kerberos{Keytab: keytabPath, Realms: []string{adRealm}, ServicePrincipal: ssoSPN}
		logger, _ := testLogger(t)
		c, err := cfg.Open(context.Background(), connectors.Info{ID: "corp", Type: "ldap", Name: "Corp"}, connectors.Deps{Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	srv := newBroker(t, openKrb(ktPath))
	ctx := gooidc.ClientContext(context.Background(), srv.Client())
	provider, err := gooidc.NewProvider(ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	oc := oauth2.Config{ClientID: rpID, ClientSecret: rpSecret, Endpoint: provider.Endpoint(), RedirectURL: rpRedirect,
		Scopes: []string{gooidc.ScopeOpenID, "profile", "email", "groups"}}
	pkce := oauth2.GenerateVerifier()
	loginPage := func(issuer string) (*browser, page) {
		b := newBrowser(t, issuer)
		u := strings.Replace(oc.AuthCodeURL("st4te", gooidc.Nonce("n0nce"), oauth2.S256ChallengeOption(pkce)), srv.URL, issuer, 1)
		p := b.do(http.MethodGet, u, nil)
		return b, p
	}

	// No ticket: 401 Negotiate, the form as the body.
	b, p := loginPage(srv.URL)
	res := curlGet(t, env, b, p.url, false)
	if res.status != http.StatusUnauthorized || res.header.Get("WWW-Authenticate") != "Negotiate" || !strings.Contains(res.body, `name="password"`) {
		t.Fatalf("without a ticket: %d %q\n%s", res.status, res.header.Get("WWW-Authenticate"), res.body)
	}

	// alice's ticket: signed in without the form.
	res = curlGet(t, env, b, p.url, true)
	if res.status != http.StatusSeeOther || res.location == "" {
		t.Fatalf("with alice's ticket: %d %q\n%s", res.status, res.location, res.body)
	}
	next, _ := url.Parse(p.url)
	next, _ = next.Parse(res.location)
	p = b.do(http.MethodGet, next.String(), nil)
	if p.status == http.StatusOK && strings.Contains(p.body, `value="allow"`) {
		p = b.submit(p, url.Values{"decision": {"allow"}})
	}
	if !strings.HasPrefix(p.url, rpRedirect+"?") {
		t.Fatalf("did not return to the client: %d %s\n%s", p.status, p.url, p.body)
	}
	cb, _ := url.Parse(p.url)
	tok, err := oc.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(pkce))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&gooidc.Config{ClientID: rpID}).Verify(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	var cl idClaims
	if err := idt.Claims(&cl); err != nil {
		t.Fatal(err)
	}
	if cl.Username != "alice" || cl.Email != "alice@corp.example.test" ||
		!slices.Contains(cl.Groups, "ad-devs") || !slices.Contains(cl.Groups, "ad-all") {
		t.Errorf("claims = %+v", cl)
	}

	// Ellen got her service ticket, then was disabled in AD: the ticket is still valid for
	// hours, the directory says no.
	ellenEnv := kinit("ellen", adEllenPW, ssoSPN)
	ellen := adUserDN("Ellen Refresh")
	if err := s.setUAC(ellen, 514); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.setUAC(ellen, 512); err != nil {
			t.Error(err)
		}
	})
	b, p = loginPage(srv.URL)
	res = curlGet(t, ellenEnv, b, p.url, true)
	if res.status != http.StatusForbidden || !strings.Contains(res.body, "disabled") {
		t.Fatalf("disabled account's ticket: %d\n%s", res.status, res.body)
	}

	// A keytab with a wrong key for the SPN (a stale keytab): the real ticket is refused.
	wrong := keytab.New()
	if err := wrong.AddEntry(ssoSPN, adRealm, "not-the-service-password", time.Now(), 1, etypeID.AES256_CTS_HMAC_SHA1_96); err != nil {
		t.Fatal(err)
	}
	data, err := wrong.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	wrongPath := filepath.Join(t.TempDir(), "wrong.keytab")
	if err := os.WriteFile(wrongPath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	srv2 := newBroker(t, openKrb(wrongPath))
	b, p = loginPage(srv2.URL)
	res = curlGet(t, env, b, p.url, true)
	if res.status != http.StatusOK || res.header.Get("WWW-Authenticate") != "" || !strings.Contains(res.body, `name="password"`) ||
		!strings.Contains(res.body, "not accepted") {
		t.Fatalf("ticket for another key: %d %q\n%s", res.status, res.header.Get("WWW-Authenticate"), res.body)
	}
}
