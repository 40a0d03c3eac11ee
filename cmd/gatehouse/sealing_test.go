package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/broker/samlidp"
	"github.com/gatehouse-id/gatehouse/internal/assembly"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/sqlite"
	"github.com/gatehouse-id/gatehouse/tokens"
)

// needles are the secrets a scripted run created, in every form they could be stored in.
type needles map[string][]byte

func (n needles) add(name string, v []byte) {
	n[name] = v
	n[name+" (base64)"] = []byte(base64.StdEncoding.EncodeToString(v))
	n[name+" (base64url)"] = []byte(base64.RawURLEncoding.EncodeToString(v))
	n[name+" (hex)"] = []byte(hex.EncodeToString(v))
}

// scriptSecrets creates a secret of every kind through the code that makes them: a signing
// key (tokens.KeyManager), the SAML IdP key (samlidp.LoadOrGenerateKey), a connector's key
// (the blob its KeyStore writes), an upstream refresh token in a grant and a session, a redirect
// connector's stash (PKCE verifier, nonce) in an auth request, a TOTP secret.
func scriptSecrets(t *testing.T, store storage.Storage, tag string, n needles) {
	t.Helper()
	ctx := t.Context()
	now := time.Now().UTC()
	km := tokens.NewKeyManager(store, tokens.KeyOptions{Algorithm: "RS256", RotationPeriod: 24 * time.Hour, MaxTokenLifetime: time.Hour})
	if err := km.Init(ctx); err != nil {
		t.Fatal(err)
	}
	keys, err := store.ListSigningKeys(ctx)
	if err != nil || len(keys) == 0 {
		t.Fatalf("ListSigningKeys = %v, %v", keys, err)
	}
	for _, k := range keys {
		var jwk struct{ D, P, Q string }
		if err := json.Unmarshal(k.PrivateJWK, &jwk); err != nil || jwk.D == "" {
			t.Fatalf("private JWK of %s: %v", k.ID, err)
		}
		d, _ := base64.RawURLEncoding.DecodeString(jwk.D) //nolint:errcheck // checked by its length below
		if len(d) < 64 {
			t.Fatalf("private exponent of %s: %d bytes", k.ID, len(d))
		}
		n.add("signing key "+k.ID+" d", d)
	}
	idpKey, _, err := samlidp.LoadOrGenerateKey(ctx, store.(storage.BlobStore), "https://idp.example.com", now)
	if err != nil {
		t.Fatal(err)
	}
	n.add("SAML IdP key (PKCS#1 DER)", x509.MarshalPKCS1PrivateKey(idpKey))
	n.add("SAML IdP key d", idpKey.D.Bytes())
	pkcs8, err := x509.MarshalPKCS8PrivateKey(idpKey)
	if err != nil {
		t.Fatal(err)
	}
	n.add("SAML IdP key (PKCS#8 DER)", pkcs8)

	spKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	spDER := x509.MarshalPKCS1PrivateKey(spKey)
	spPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: spDER})
	// What a connector's KeyStore (internal/assembly connectorKeys) writes for its SP key.
	if _, err := store.(storage.BlobStore).PutBlobIfAbsent(ctx, storage.Blob{Key: "connector-key:saml-" + tag + "/sp-key", Value: spPEM}, now); err != nil {
		t.Fatal(err)
	}
	n.add("SAML SP key "+tag+" (DER)", spDER)
	n["SAML SP key "+tag+" (PEM line)"] = bytes.Split(spPEM, []byte("\n"))[1]

	upstream := randomBytes(t, 24)
	n.add("upstream refresh token "+tag, upstream)
	data, err := json.Marshal(map[string]string{"refresh_token": base64.RawURLEncoding.EncodeToString(upstream)})
	if err != nil {
		t.Fatal(err)
	}
	auth := storage.Authentication{ConnectorID: "oidc", AuthTime: now, ConnectorData: data}
	id := storage.Identity{Subject: "alice-" + tag}
	if err := store.CreateGrant(ctx, storage.Grant{ID: "grant-" + tag, ClientID: "app", Identity: id, Auth: auth, CreatedAt: now,
		AbsoluteExpiry: now.Add(time.Hour)}, &storage.RefreshToken{Hash: "rt-" + tag, GrantID: "grant-" + tag, CreatedAt: now,
		IdleExpiry: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := store.CreateSession(ctx, storage.Session{ID: "sess-" + tag, Identity: id, Auth: auth, CreatedAt: now,
		LastUsed: now, IdleExpiry: now.Add(time.Hour), AbsoluteExpiry: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}

	// What a redirect connector stashes at Begin (connectors/oidc: upstream state, PKCE
	// verifier, nonce), kept in the auth request until its callback.
	verifier, nonce := randomBytes(t, 32), randomBytes(t, 16)
	n.add("upstream PKCE verifier "+tag, verifier)
	n.add("upstream nonce "+tag, nonce)
	stash, err := json.Marshal(map[string]string{"verifier": base64.RawURLEncoding.EncodeToString(verifier),
		"nonce": base64.RawURLEncoding.EncodeToString(nonce)})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateAuthRequest(ctx, storage.AuthRequest{ID: "req-" + tag, ClientID: "app", MaxAge: -1,
		ConnectorID: "oidc", ConnectorState: stash, CreatedAt: now, Expiry: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}

	totp := randomBytes(t, 20)
	n.add("TOTP secret "+tag, totp)
	n["TOTP secret "+tag+" (base32)"] = []byte(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(totp))
	ms := store.(storage.MFAStore)
	if _, err := ms.PutMFAEnrolment(ctx, storage.MFAEnrolment{UserID: "alice-" + tag, Username: "alice", WebAuthnID: randomBytes(t, 16),
		CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := ms.CreateMFAFactor(ctx, storage.MFAFactor{ID: "totp-" + tag, UserID: "alice-" + tag, Type: storage.MFATypeTOTP,
		Name: "phone", Secret: totp, CreatedAt: now, LastUsedAt: now}); err != nil {
		t.Fatal(err)
	}
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// grepFiles fails for every needle found in any of the files that exist.
func grepFiles(t *testing.T, n needles, files ...string) {
	t.Helper()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for name, v := range n {
			if bytes.Contains(b, v) {
				t.Errorf("%s holds the %s in clear", filepath.Base(f), name)
			}
		}
	}
}

// TestNoSecretInDatabaseOrBackup is issue 23's proof: a database written in clear by an
// older Gatehouse is sealed at the first start with secrets.keys (every existing row
// migrated), secrets created afterwards are sealed as they are written, and neither the
// database file nor a `gatehouse backup` of it holds any private key, upstream token or TOTP
// secret. Then restore refuses the backup without its seal key and accepts it with it.
func TestNoSecretInDatabaseOrBackup(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	db := filepath.Join(dir, "gh.db")
	n := needles{}

	old, err := sqlite.Open(ctx, db, nil) // an older Gatehouse: nothing sealed
	if err != nil {
		t.Fatal(err)
	}
	scriptSecrets(t, old, "before", n)
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	keyFile := filepath.Join(dir, "seal-k1")
	if _, errs, err := runCmd("secrets", "new-key", keyFile); err != nil {
		t.Fatalf("secrets new-key: %v\n%s", err, errs)
	}
	base := "issuer: http://127.0.0.1:5556\nstorage: {type: sqlite, config: {file: " + db + "}}\n" +
		"connectors: [{type: local, id: local, name: Local}]\n"
	cfgPath := filepath.Join(dir, "gh.yaml")
	if err := os.WriteFile(cfgPath, []byte(base+"secrets: {keys: [{id: k1, file: "+keyFile+"}]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(cfgPath, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	keys, err := loadKeyring(cfg, false, true, logger)
	if err != nil || keys == nil {
		t.Fatalf("loadKeyring = %v, %v", keys, err)
	}
	store, err := assembly.OpenSealedStorage(ctx, cfg.Storage, sealer(keys), logger)
	if err != nil {
		t.Fatal(err)
	}
	if err := sealAtStart(ctx, store, logger); err != nil { // what serve does before serving
		t.Fatal(err)
	}
	scriptSecrets(t, store, "after", n)
	backup := filepath.Join(dir, "backup.db")
	if out, errs, err := runCmd("backup", "--config", cfgPath, "--to", backup); err != nil || strings.Contains(errs, "not sealed") {
		t.Fatalf("backup: %v\n%s%s", err, out, errs)
	}
	if fi, err := os.Stat(backup); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode = %v, %v; want 0600", fi.Mode(), err)
	}
	grepFiles(t, n, db, db+"-wal", backup) // while the server runs
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	grepFiles(t, n, db, db+"-wal", backup)

	// The secrets are all there: a sealing handle reads them back.
	again, err := assembly.OpenSealedStorage(ctx, cfg.Storage, sealer(keys), logger)
	if err != nil {
		t.Fatal(err)
	}
	g, err := again.GetGrant(ctx, "grant-before")
	if err != nil || !bytes.Contains(g.Auth.ConnectorData, []byte("refresh_token")) {
		t.Errorf("GetGrant after sealing = %q, %v", g.Auth.ConnectorData, err)
	}
	closeStore(again, io.Discard)

	// restore checks the seal keys before replacing anything.
	otherKey := filepath.Join(dir, "seal-k9")
	if _, _, err := runCmd("secrets", "new-key", otherKey); err != nil {
		t.Fatal(err)
	}
	wrongCfg := filepath.Join(dir, "wrong.yaml")
	if err := os.WriteFile(wrongCfg, []byte(base+"secrets: {keys: [{id: k9, file: "+otherKey+"}]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	_, errs, err := runCmd("restore", "--config", wrongCfg, "--from", backup)
	if err == nil || !strings.Contains(errs+err.Error(), `seal key(s) k1`) {
		t.Errorf("restore without the backup's seal key = %v\n%s", err, errs)
	}
	if now, _ := os.ReadFile(db); !bytes.Equal(now, before) { //nolint:errcheck // compared below
		t.Error("a refused restore changed the database")
	}
	if out, errs, err := runCmd("restore", "--config", cfgPath, "--from", backup); err != nil || !strings.Contains(out, "before-restore") {
		t.Fatalf("restore = %v\n%s%s", err, out, errs)
	}
	restored, err := assembly.OpenSealedStorage(ctx, cfg.Storage, sealer(keys), logger)
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore(restored, io.Discard)
	if g, err := restored.GetGrant(ctx, "grant-after"); err != nil || len(g.Auth.ConnectorData) == 0 {
		t.Errorf("GetGrant after restore = %+v, %v", g, err)
	}
}

// checkSecretsRotate drives `gatehouse secrets rotate` against the store of storageBlock: rows
// sealed under k1 are resealed under k2 in batches, after which k1 can leave the keyring,
// and a keyring without k2 fails naming the table and row.
func checkSecretsRotate(t *testing.T, storageBlock string) {
	ctx := t.Context()
	dir := t.TempDir()
	k1, k2 := filepath.Join(dir, "k1"), filepath.Join(dir, "k2")
	for _, f := range []string{k1, k2} {
		if _, errs, err := runCmd("secrets", "new-key", f); err != nil {
			t.Fatalf("secrets new-key: %v\n%s", err, errs)
		}
	}
	writeCfg := func(name, keys string) string {
		p := filepath.Join(dir, name)
		body := "issuer: http://127.0.0.1:5556\n" + storageBlock + "connectors: [{type: local, id: local, name: Local}]\nsecrets: {keys: [" + keys + "]}\n"
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	only1 := writeCfg("k1.yaml", "{id: k1, file: "+k1+"}")
	both := writeCfg("both.yaml", "{id: k2, file: "+k2+"}, {id: k1, file: "+k1+"}")
	only2 := writeCfg("k2.yaml", "{id: k2, file: "+k2+"}")
	open := func(cfgPath string) storage.Storage {
		t.Helper()
		cfg, err := loadConfig(cfgPath, func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		keys, err := loadKeyring(cfg, false, false, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		s, err := assembly.OpenSealedStorage(ctx, cfg.Storage, sealer(keys), slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open(only1)
	n := needles{}
	scriptSecrets(t, s, "rot", n)
	closeStore(s, io.Discard)

	out, errs, err := runCmd("secrets", "rotate", "--config", both, "--batch", "2")
	if err != nil || !strings.Contains(out, `under key "k2"`) || strings.Contains(out, "resealed 0 ") {
		t.Fatalf("secrets rotate = %v\n%s%s", err, out, errs)
	}
	s = open(only2)
	defer closeStore(s, io.Discard)
	if g, err := s.GetGrant(ctx, "grant-rot"); err != nil || !bytes.Contains(g.Auth.ConnectorData, []byte("refresh_token")) {
		t.Errorf("GetGrant under k2 only after rotate = %q, %v", g.Auth.ConnectorData, err)
	}
	if _, err := s.ListSigningKeys(ctx); err != nil {
		t.Errorf("ListSigningKeys under k2 only after rotate: %v", err)
	}
	s1 := open(only1)
	defer closeStore(s1, io.Discard)
	if _, err := s1.GetGrant(ctx, "grant-rot"); err == nil || !strings.Contains(err.Error(), "grants/auth/grant-rot") || !strings.Contains(err.Error(), `"k2"`) {
		t.Errorf("GetGrant without k2 = %v, want an error naming grants/auth/grant-rot and k2", err)
	}
}

func TestSecretsRotateSQLite(t *testing.T) {
	checkSecretsRotate(t, "storage: {type: sqlite, config: {file: "+filepath.Join(t.TempDir(), "gh.db")+"}}\n")
}

// TestDefaultSealKey: the built-in default generates its seal key beside the database on
// first start (0600, logged), reuses it afterwards, and a configuration file without
// secrets.keys is not sealed but warned about by check-config.
func TestDefaultSealKey(t *testing.T) {
	dir := t.TempDir()
	cfg := defaultConfig()
	cfg.Storage.Config.File = filepath.Join(dir, "gatehouse.db")
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	if k, err := loadKeyring(cfg, true, false, logger); err != nil || k != nil {
		t.Fatalf("loadKeyring without create = %v, %v; want no keyring", k, err)
	}
	first, err := loadKeyring(cfg, true, true, logger)
	if err != nil || first == nil {
		t.Fatalf("loadKeyring = %v, %v", first, err)
	}
	keyFile := defaultSealKeyFile(cfg.Storage.Config.File)
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("seal key file %s: %v, %v", keyFile, fi, err)
	}
	if !strings.Contains(logs.String(), "generated a seal key") || !strings.Contains(logs.String(), keyFile) {
		t.Errorf("log does not say a key was generated:\n%s", logs.String())
	}
	again, err := loadKeyring(cfg, true, true, logger)
	if err != nil || again.Primary() != first.Primary() || strings.Count(logs.String(), "generated") != 1 {
		t.Errorf("second start: %v, %v; log:\n%s", again, err, logs.String())
	}
	if k, err := loadKeyring(cfg, false, true, logger); err != nil || k != nil {
		t.Errorf("a configuration file without secrets.keys: keyring %v, %v; want none", k, err)
	}

	cfgPath := filepath.Join(dir, "gh.yaml")
	if err := os.WriteFile(cfgPath, []byte("issuer: http://127.0.0.1:5556\nconnectors: [{type: local, id: local, name: Local}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, errs, err := runCmd("check-config", cfgPath); err != nil || !strings.Contains(errs, "secrets.keys is not set") {
		t.Errorf("check-config without secrets = %v\n%s%s", err, out, errs)
	}
}
