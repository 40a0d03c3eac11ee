package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func openAt(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path, testLogger(t))
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func openTemp(t testing.TB) *Store {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "gatehouse.db"))
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Storage { return openTemp(t) })
}

func TestTwoHandles(t *testing.T) {
	storagetest.RunTwoHandles(t, func(t *testing.T) (storage.Storage, storage.Storage) {
		path := filepath.Join(t.TempDir(), "gatehouse.db")
		return openAt(t, path), openAt(t, path)
	})
}

func TestOpenPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "odd dir?x=1#frag%41&")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "gate house.db")
	s := openAt(t, path)
	if err := s.CreateLocalUser(t.Context(), storage.LocalUser{Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal"} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("database file: %v", err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "gate house.db") {
			t.Errorf("unexpected file %q next to the database", e.Name())
		}
	}
}

func TestOpenRejectsMemory(t *testing.T) {
	for _, path := range []string{"", ":memory:"} {
		if _, err := Open(t.Context(), path, nil); err == nil {
			t.Errorf("Open(%q) succeeded, want an error", path)
		}
	}
}

func TestMigrateFromEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	s := openAt(t, path)
	ms, err := loadMigrations(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	var version, count int
	if err := s.reader.QueryRowContext(t.Context(), `SELECT MAX(version), COUNT(*) FROM schema_migrations`).Scan(&version, &count); err != nil {
		t.Fatal(err)
	}
	if version != len(ms) || count != len(ms) {
		t.Errorf("schema_migrations: max version %d, %d rows; want %d", version, count, len(ms))
	}
	pragmas := []struct{ name, want string }{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"synchronous", "1"},
		{"busy_timeout", fmt.Sprint(busyTimeout.Milliseconds())},
	}
	for _, db := range []*sql.DB{s.writer, s.reader} {
		for _, p := range pragmas {
			var got string
			if err := db.QueryRowContext(t.Context(), "PRAGMA "+p.name).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != p.want {
				t.Errorf("PRAGMA %s = %s, want %s", p.name, got, p.want)
			}
		}
	}
	// Reopening applies nothing and keeps the data.
	if err := s.CreateLocalUser(t.Context(), storage.LocalUser{Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	s2 := openAt(t, path)
	if _, err := s2.GetLocalUser(t.Context(), "alice"); err != nil {
		t.Errorf("after reopening: %v", err)
	}
}

// TestConcurrentOpen opens one new file from several handles at once, as replicas (or two
// `serve` processes) starting together do. Switching a new file to WAL mode is refused with
// SQLITE_BUSY without the busy handler being called, which failed about 2 opens in 100 before
// enableWAL retried it; 50 fresh files with 4 concurrent Opens each must all succeed.
func TestConcurrentOpen(t *testing.T) {
	dir := t.TempDir()
	for i := range 50 {
		path := filepath.Join(dir, fmt.Sprintf("gatehouse-%d.db", i))
		errs := make(chan error, 4)
		for range 4 {
			go func() {
				s, err := Open(t.Context(), path, testLogger(t))
				if err == nil {
					err = s.Close()
				}
				errs <- err
			}()
		}
		for range 4 {
			if err := <-errs; err != nil {
				t.Fatalf("file %d: concurrent Open: %v", i, err)
			}
		}
	}
}

func TestLoadMigrations(t *testing.T) {
	tests := []struct {
		name    string
		files   []string
		want    []int
		wantErr string
	}{
		{"ordered", []string{"0002_b.sql", "0001_a.sql"}, []int{1, 2}, ""},
		{"empty", nil, nil, ""},
		{"gap", []string{"0001_a.sql", "0003_c.sql"}, nil, "without gaps"},
		{"duplicate", []string{"0001_a.sql", "0001_b.sql"}, nil, "without gaps"},
		{"bad name", []string{"1_a.sql"}, nil, "NNNN_name.sql"},
		{"not sql", []string{"0001_a.txt"}, nil, "NNNN_name.sql"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{"m": &fstest.MapFile{Mode: 0o755 | 1<<31}}
			for _, f := range tt.files {
				fsys["m/"+f] = &fstest.MapFile{Data: []byte("SELECT 1;")}
			}
			ms, err := loadMigrations(fsys, "m")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, m := range ms {
				got = append(got, m.Version)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("versions = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMigrationsAreTransactional(t *testing.T) {
	s := openTemp(t)
	ms, err := loadMigrations(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	bad := append(ms, migration{Version: len(ms) + 1, Name: "good", SQL: "CREATE TABLE extra (x INTEGER)"},
		migration{Version: len(ms) + 2, Name: "bad", SQL: "CREATE TABLE broken (("})
	if err := s.applyMigrations(t.Context(), bad); err == nil {
		t.Fatal("a broken migration applied without error")
	}
	var n int
	if err := s.reader.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM sqlite_master WHERE name = 'extra'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Error("a failed migration batch left a table behind")
	}
	if err := s.applyMigrations(t.Context(), ms[:0]); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("opening a newer schema: err = %v, want a 'newer' error", err)
	}
}

func TestBackup(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	if err := s.CreateLocalUser(ctx, storage.LocalUser{Username: "alice", Email: "a@example.com"}); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "backup.db")
	if err := s.Backup(ctx, dest); err != nil {
		t.Fatal(err)
	}
	if err := s.Backup(ctx, dest); err == nil {
		t.Error("Backup over an existing file succeeded")
	}
	b := openAt(t, dest)
	u, err := b.GetLocalUser(ctx, "alice")
	if err != nil || u.Email != "a@example.com" {
		t.Errorf("backup: GetLocalUser = %+v, %v", u, err)
	}
}

func TestContextCanceled(t *testing.T) {
	s := openTemp(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.GetSession(ctx, "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("GetSession with a canceled context: %v", err)
	}
	if _, _, err := s.RotateRefreshToken(ctx, "x", storage.RefreshToken{Hash: "y"}, time.Now()); !errors.Is(err, context.Canceled) {
		t.Errorf("RotateRefreshToken with a canceled context: %v", err)
	}
}

func benchStore(b *testing.B) (*Store, context.Context, time.Time) {
	s := openTemp(b)
	ctx := context.Background()
	now := time.Now()
	return s, ctx, now
}

func benchIdentity() (storage.Identity, storage.Authentication) {
	return storage.Identity{Subject: "user-123", Email: "alice@example.com", EmailVerified: true, Name: "Alice",
			Groups: []string{"admins", "developers", "staff"}},
		storage.Authentication{ConnectorID: "ldap", AuthTime: time.Now(), AMR: []string{"pwd"}, UpstreamSubject: "uid=alice"}
}

func hash(prefix string, i int) string {
	return fmt.Sprintf("%s-%064d", prefix, i) // about as long as a hex SHA-256
}

func BenchmarkRotateRefreshToken(b *testing.B) {
	s, ctx, now := benchStore(b)
	id, auth := benchIdentity()
	first := storage.RefreshToken{Hash: hash("rt", 0), CreatedAt: now, IdleExpiry: now.Add(time.Hour)}
	g := storage.Grant{ID: "g", ClientID: "c", Scopes: []string{"openid", "offline_access"}, Identity: id, Auth: auth,
		CreatedAt: now, AbsoluteExpiry: now.Add(24 * time.Hour)}
	if err := s.CreateGrant(ctx, g, &first); err != nil {
		b.Fatal(err)
	}
	hashes := make([]string, b.N+1)
	for i := range hashes {
		hashes[i] = hash("rt", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU(b)
	defer cpu.report(b)
	for i := range b.N {
		next := storage.RefreshToken{Hash: hashes[i+1], CreatedAt: now, IdleExpiry: now.Add(time.Hour)}
		if _, _, err := s.RotateRefreshToken(ctx, hashes[i], next, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRotateRefreshTokenParallel(b *testing.B) {
	s, ctx, now := benchStore(b)
	id, auth := benchIdentity()
	const families = 64
	for f := range families {
		first := storage.RefreshToken{Hash: hash(fmt.Sprint("f", f), 0), CreatedAt: now, IdleExpiry: now.Add(time.Hour)}
		g := storage.Grant{ID: fmt.Sprint("g", f), ClientID: "c", Identity: id, Auth: auth, CreatedAt: now, AbsoluteExpiry: now.Add(24 * time.Hour)}
		if err := s.CreateGrant(ctx, g, &first); err != nil {
			b.Fatal(err)
		}
	}
	next := make(chan int, families)
	for f := range families {
		next <- f
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU(b)
	defer cpu.report(b)
	b.RunParallel(func(pb *testing.PB) {
		f := <-next // each goroutine owns one token family
		for i := 0; pb.Next(); i++ {
			prefix := fmt.Sprint("f", f)
			nt := storage.RefreshToken{Hash: hash(prefix, i+1), CreatedAt: now, IdleExpiry: now.Add(time.Hour)}
			if _, _, err := s.RotateRefreshToken(ctx, hash(prefix, i), nt, now); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkConsumeCode(b *testing.B) {
	s, ctx, now := benchStore(b)
	id, auth := benchIdentity()
	hashes := make([]string, b.N)
	for i := range b.N {
		hashes[i] = hash("code", i)
		c := storage.AuthCode{Hash: hashes[i], ClientID: "c", RedirectURI: "https://app.example.com/cb",
			Scopes: []string{"openid"}, Identity: id, Auth: auth, GrantID: "g", CreatedAt: now, Expiry: now.Add(time.Minute)}
		if err := s.CreateAuthCode(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU(b)
	defer cpu.report(b)
	for i := range b.N {
		if _, err := s.ConsumeCode(ctx, hashes[i], now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGetSession(b *testing.B) {
	s, ctx, now := benchStore(b)
	id, auth := benchIdentity()
	sess := storage.Session{ID: hash("s", 0), Identity: id, Auth: auth, CreatedAt: now, LastUsed: now,
		IdleExpiry: now.Add(time.Hour), AbsoluteExpiry: now.Add(12 * time.Hour)}
	if err := s.CreateSession(ctx, sess); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU(b)
	defer cpu.report(b)
	for range b.N {
		if _, err := s.GetSession(ctx, sess.ID); err != nil {
			b.Fatal(err)
		}
	}
}

func TestRateLimits(t *testing.T) {
	storagetest.RunRateLimits(t, func(t *testing.T) (storage.Storage, storage.Storage) {
		path := filepath.Join(t.TempDir(), "gatehouse.db")
		return openAt(t, path), openAt(t, path)
	})
}

func TestUserRemoval(t *testing.T) {
	storagetest.RunUserRemoval(t, func(t *testing.T) storage.Storage { return openTemp(t) })
}

func TestAudit(t *testing.T) {
	storagetest.RunAudit(t, func(t *testing.T) storage.Storage { return openTemp(t) })
}

func TestObservable(t *testing.T) {
	storagetest.RunObservable(t, func(t *testing.T) storage.Storage { return openTemp(t) })
}

func TestClients(t *testing.T) {
	storagetest.RunClients(t, func(t *testing.T) storage.Storage { return openTemp(t) })
	t.Run("TwoHandles", func(t *testing.T) {
		storagetest.RunClientsTwoHandles(t, func(t *testing.T) (storage.Storage, storage.Storage) {
			path := filepath.Join(t.TempDir(), "gatehouse.db")
			return openAt(t, path), openAt(t, path)
		})
	})
}

func TestServiceProviders(t *testing.T) {
	storagetest.RunServiceProviders(t, func(t *testing.T) storage.Storage { return openTemp(t) })
	t.Run("TwoHandles", func(t *testing.T) {
		storagetest.RunServiceProvidersTwoHandles(t, func(t *testing.T) (storage.Storage, storage.Storage) {
			path := filepath.Join(t.TempDir(), "gatehouse.db")
			return openAt(t, path), openAt(t, path)
		})
	})
}

func TestUserSessions(t *testing.T) {
	storagetest.RunUserSessions(t, func(t *testing.T) storage.Storage { return openTemp(t) })
}

func TestUpstreamSessions(t *testing.T) {
	storagetest.RunUpstreamSessions(t, func(t *testing.T) storage.Storage { return openTemp(t) })
}

func TestLogout(t *testing.T) {
	storagetest.RunLogout(t, func(t *testing.T) (storage.Storage, storage.Storage) {
		path := filepath.Join(t.TempDir(), "gatehouse.db")
		return openAt(t, path), openAt(t, path)
	})
}
