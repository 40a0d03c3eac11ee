//go:build peers

package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// testDSN returns the shared test server's DSN (scripts/test-all.sh starts it).
func testDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("GATEHOUSE_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Fatal("GATEHOUSE_TEST_POSTGRES_DSN is not set: run scripts/test-all.sh, or " +
			"`source scripts/peers/postgres.sh && start_test_postgres` (after scripts/install-peers.sh) and run the tests from that shell")
	}
	return dsn
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// newSchema returns a Config for a fresh schema on the shared server; the schema is
// dropped at cleanup. Open creates it.
func newSchema(t testing.TB) Config {
	t.Helper()
	dsn := testDSN(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return Config{DSN: dsn, Schema: schema}
}

func openCfg(t testing.TB, cfg Config) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, cfg, testLogger(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Storage { return openCfg(t, newSchema(t)) })
}

func TestGrantUpdates(t *testing.T) {
	storagetest.RunGrantUpdates(t, func(t *testing.T) storage.Storage { return openCfg(t, newSchema(t)) })
}

func TestRefreshReissue(t *testing.T) {
	storagetest.RunRefreshReissue(t, func(t *testing.T) storage.Storage { return openCfg(t, newSchema(t)) })
}

func TestEmailLinks(t *testing.T) {
	storagetest.RunEmailLinks(t, func(t *testing.T) storage.Storage { return openCfg(t, newSchema(t)) })
}

func TestLinkManager(t *testing.T) {
	storagetest.RunLinkManager(t, func(t *testing.T) (storage.Storage, storage.Storage) {
		cfg := newSchema(t)
		return openCfg(t, cfg), openCfg(t, cfg)
	})
}

func TestBlobs(t *testing.T) {
	storagetest.RunBlobs(t, func(t *testing.T) storage.Storage { return openCfg(t, newSchema(t)) })
}

func TestLocalPasswordUpdates(t *testing.T) {
	storagetest.RunLocalPasswordUpdates(t, func(t *testing.T) storage.Storage { return openCfg(t, newSchema(t)) })
}

func TestLocalUserEmails(t *testing.T) {
	storagetest.RunLocalUserEmails(t, func(t *testing.T) storage.Storage { return openCfg(t, newSchema(t)) })
}

func TestMFA(t *testing.T) {
	storagetest.RunMFA(t, func(t *testing.T) storage.Storage { return openCfg(t, newSchema(t)) })
}

func TestUserRemoval(t *testing.T) {
	storagetest.RunUserRemoval(t, func(t *testing.T) storage.Storage { return openCfg(t, newSchema(t)) })
}

func TestRateLimits(t *testing.T) {
	storagetest.RunRateLimits(t, func(t *testing.T) (storage.Storage, storage.Storage) {
		cfg := newSchema(t)
		return openCfg(t, cfg), openCfg(t, cfg)
	})
}

func TestTwoHandles(t *testing.T) {
	storagetest.RunTwoHandles(t, func(t *testing.T) (storage.Storage, storage.Storage) {
		cfg := newSchema(t)
		return openCfg(t, cfg), openCfg(t, cfg)
	})
}

// TestConcurrentOpen: replicas starting at once on an empty schema apply each migration
// exactly once.
func TestConcurrentOpen(t *testing.T) {
	cfg := newSchema(t)
	const n = 6
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = Open(t.Context(), cfg, testLogger(t))
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open #%d: %v", i, err)
		}
		t.Cleanup(func() { _ = stores[i].Close() })
	}
	ms, err := loadMigrations(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	var count, version int
	if err := stores[0].pool.QueryRow(t.Context(), `SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&count, &version); err != nil {
		t.Fatal(err)
	}
	if count != len(ms) || version != len(ms) {
		t.Errorf("schema_migrations: %d rows, max version %d; want %d each", count, version, len(ms))
	}
	var tz, timeout, path string
	if err := stores[0].pool.QueryRow(t.Context(), `SELECT current_setting('TimeZone'), current_setting('statement_timeout'), current_schema()`).Scan(&tz, &timeout, &path); err != nil {
		t.Fatal(err)
	}
	if tz != "UTC" || timeout != "5s" || path != cfg.Schema {
		t.Errorf("session settings: TimeZone=%s statement_timeout=%s schema=%s", tz, timeout, path)
	}
}

func TestMigrationsAreTransactional(t *testing.T) {
	cfg := newSchema(t)
	s := openCfg(t, cfg)
	ms, err := loadMigrations(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	bad := append(ms, migration{Version: len(ms) + 1, Name: "good", SQL: "CREATE TABLE extra (x INTEGER)"},
		migration{Version: len(ms) + 2, Name: "bad", SQL: "CREATE TABLE broken (("})
	if err := s.applyMigrations(t.Context(), cfg.Schema, bad); err == nil {
		t.Fatal("a broken migration applied without error")
	}
	var n int
	if err := s.pool.QueryRow(t.Context(), `SELECT COUNT(*) FROM pg_tables WHERE schemaname = $1 AND tablename = 'extra'`, cfg.Schema).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Error("a failed migration batch left a table behind")
	}
	if err := s.applyMigrations(t.Context(), cfg.Schema, ms[:0]); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("opening a newer schema: err = %v, want a 'newer' error", err)
	}
}

// TestGCBatchesAndLock: GC deletes more than one batch, and skips while another replica
// holds the GC lock.
func TestGCBatchesAndLock(t *testing.T) {
	cfg := newSchema(t)
	a, b := openCfg(t, cfg), openCfg(t, cfg)
	ctx := t.Context()
	now := time.Now()
	const expired = 2*gcBatch + 345
	if _, err := a.pool.Exec(ctx, `INSERT INTO auth_requests
		SELECT 'ar-' || i, '', '', '', '', '', 'null', '', '', '', '', 'null', -1, '', '', 'null', NULL, false, '{}', '{}', '', $1, $1
		FROM generate_series(1, $2) AS i`, ms(now.Add(-time.Hour)), expired); err != nil {
		t.Fatal(err)
	}
	live := storage.AuthRequest{ID: "live", MaxAge: -1, CreatedAt: now, Expiry: now.Add(time.Hour)}
	if err := a.CreateAuthRequest(ctx, live); err != nil {
		t.Fatal(err)
	}

	// Replica a holds the GC lock: b's GC skips.
	conn, err := a.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var locked bool
	if err := conn.QueryRow(ctx, qGCTryLock, lockGC, a.lockKey).Scan(&locked); err != nil || !locked {
		t.Fatalf("take the GC lock: %v %v", locked, err)
	}
	res, err := b.GC(ctx, now)
	if err != nil || res != (storage.GCResult{}) {
		t.Errorf("GC while another replica collects = %+v, %v; want nothing, nil", res, err)
	}
	unlockGC(ctx, conn, a.lockKey)

	res, err = b.GC(ctx, now)
	if err != nil || res.AuthRequests != expired {
		t.Errorf("GC = %+v, %v; want %d auth requests", res, err, expired)
	}
	if _, err := a.GetAuthRequest(ctx, "live"); err != nil {
		t.Errorf("live auth request after GC: %v", err)
	}
	// The lock was released: a collects again (finding nothing).
	res, err = a.GC(ctx, now)
	if err != nil || res != (storage.GCResult{}) {
		t.Errorf("second GC = %+v, %v", res, err)
	}
}

// TestStatementTimeout: a statement running longer than StatementTimeout is canceled by
// the server.
func TestStatementTimeout(t *testing.T) {
	cfg := newSchema(t)
	cfg.StatementTimeout = 200 * time.Millisecond
	s := openCfg(t, cfg)
	start := time.Now()
	_, err := s.pool.Exec(t.Context(), `SELECT pg_sleep(5)`)
	if err == nil || !strings.Contains(err.Error(), "statement timeout") {
		t.Errorf("pg_sleep(5) with a 200ms statement_timeout: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v", d)
	}
}

// TestOutageAndRecovery stops and restarts a private server (the shared one serves other
// tests): Ping fails fast while it is down, and the same Store works again when it is
// back, without reopening.
func TestOutageAndRecovery(t *testing.T) {
	srv := startPrivatePostgres(t)
	s := openCfg(t, Config{DSN: srv.dsn(), ConnectTimeout: time.Second})
	ctx := t.Context()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := s.CreateLocalUser(ctx, storage.LocalUser{Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	// Warm several pooled connections, so the pool holds dead ones after the restart.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { _, _ = s.GetLocalUser(ctx, "alice") })
	}
	wg.Wait()

	srv.stop(t)
	start := time.Now()
	if err := s.Ping(ctx); err == nil {
		t.Fatal("Ping succeeded with the server stopped")
	}
	if d := time.Since(start); d > pingTimeout+500*time.Millisecond {
		t.Errorf("Ping with the server down took %v, want < %v", d, pingTimeout)
	}
	if _, err := s.GetLocalUser(ctx, "alice"); err == nil {
		t.Error("GetLocalUser succeeded with the server stopped")
	}

	srv.start(t)
	deadline := time.Now().Add(20 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if err = s.Ping(ctx); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("Ping after restart: %v", err)
	}
	// Every pooled connection works again (dead ones are pinged and replaced).
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { _, errs[i] = s.GetLocalUser(ctx, "alice") })
	}
	wg.Wait()
	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
			t.Logf("after restart: %v", err)
		}
	}
	// A connection that died idle is detected when acquired; at most the first use of
	// each may fail if it was checked out within a second of its last use.
	if failed > 0 {
		for i := range errs {
			if _, err := s.GetLocalUser(ctx, "alice"); err != nil {
				t.Errorf("GetLocalUser #%d after restart, second round: %v", i, err)
			}
		}
	}
}

// pgServer is a private PostgreSQL server for one test.
type pgServer struct {
	bin, dir string
	port     int
}

func (p *pgServer) dsn() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

// pgBinDir finds initdb and pg_ctl.
func pgBinDir(t testing.TB) string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d
		}
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(p)
	}
	t.Fatal("PostgreSQL (initdb, pg_ctl) is not installed: run scripts/install-peers.sh")
	return ""
}

// asOwner builds a command run as the postgres user when we are root.
func asOwner(ctx context.Context, name string, args ...string) *exec.Cmd {
	if os.Geteuid() == 0 {
		return exec.CommandContext(ctx, "runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
	}
	return exec.CommandContext(ctx, name, args...)
}

func startPrivatePostgres(t testing.TB) *pgServer {
	t.Helper()
	bin := pgBinDir(t)
	dir, err := os.MkdirTemp("", "gatehouse-pg-private-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("user postgres: %v (run scripts/install-peers.sh)", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := asOwner(ctx, filepath.Join(bin, "initdb"), "-D", filepath.Join(dir, "data"), "-U", "postgres",
		"-A", "trust", "-E", "UTF8", "--locale=C.UTF-8").CombinedOutput()
	if err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	p := &pgServer{bin: bin, dir: dir, port: port}
	p.start(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = asOwner(ctx, filepath.Join(bin, "pg_ctl"), "-D", filepath.Join(dir, "data"), "-m", "immediate", "-w", "stop").Run()
	})
	return p
}

func (p *pgServer) start(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories=%s -c fsync=off -c synchronous_commit=off", p.port, p.dir)
	out, err := asOwner(ctx, filepath.Join(p.bin, "pg_ctl"), "-D", filepath.Join(p.dir, "data"), "-l", filepath.Join(p.dir, "server.log"),
		"-w", "-t", "50", "-o", opts, "start").CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(p.dir, "server.log"))
		t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
}

func (p *pgServer) stop(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := asOwner(ctx, filepath.Join(p.bin, "pg_ctl"), "-D", filepath.Join(p.dir, "data"), "-m", "fast", "-w", "-t", "50", "stop").CombinedOutput()
	if err != nil {
		t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}

// Benchmarks. Each uses a fresh schema on the shared server.

func benchGrant(id string, now time.Time) storage.Grant {
	return storage.Grant{ID: id, ClientID: "c", Scopes: []string{"openid", "offline_access"},
		Identity: storage.Identity{Subject: "user-123", Email: "alice@example.com", EmailVerified: true, Name: "Alice",
			Groups: []string{"admins", "developers", "staff"}},
		Auth:      storage.Authentication{ConnectorID: "ldap", AuthTime: now, AMR: []string{"pwd"}, UpstreamSubject: "uid=alice"},
		CreatedAt: now, AbsoluteExpiry: now.Add(24 * time.Hour)}
}

func hash(prefix string, i int) string {
	return fmt.Sprintf("%s-%064d", prefix, i) // about as long as a hex SHA-256
}

func BenchmarkRotateRefreshToken(b *testing.B) {
	s := openCfg(b, newSchema(b))
	ctx := context.Background()
	now := time.Now()
	first := storage.RefreshToken{Hash: hash("rt", 0), CreatedAt: now, IdleExpiry: now.Add(time.Hour)}
	if err := s.CreateGrant(ctx, benchGrant("g", now), &first); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		next := storage.RefreshToken{Hash: hash("rt", i+1), CreatedAt: now, IdleExpiry: now.Add(time.Hour)}
		if _, _, err := s.RotateRefreshToken(ctx, hash("rt", i), next, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRotateRefreshTokenParallel(b *testing.B) {
	s := openCfg(b, newSchema(b))
	ctx := context.Background()
	now := time.Now()
	const families = 64
	for f := range families {
		first := storage.RefreshToken{Hash: hash(fmt.Sprint("f", f), 0), CreatedAt: now, IdleExpiry: now.Add(time.Hour)}
		if err := s.CreateGrant(ctx, benchGrant(fmt.Sprint("g", f), now), &first); err != nil {
			b.Fatal(err)
		}
	}
	next := make(chan int, families)
	for f := range families {
		next <- f
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		f := <-next
		prefix := fmt.Sprint("f", f)
		for i := 0; pb.Next(); i++ {
			nt := storage.RefreshToken{Hash: hash(prefix, i+1), CreatedAt: now, IdleExpiry: now.Add(time.Hour)}
			if _, _, err := s.RotateRefreshToken(ctx, hash(prefix, i), nt, now); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkRotateRefreshTokenStoreSize rotates tokens of random families in a store of
// 1,000 and 1,000,000 refresh-token families (bulk-loaded with generate_series): the cost
// should grow with index depth only.
func BenchmarkRotateRefreshTokenStoreSize(b *testing.B) {
	for _, families := range []int{1_000, 1_000_000} {
		b.Run(fmt.Sprintf("families=%d", families), func(b *testing.B) {
			cfg := newSchema(b)
			cfg.StatementTimeout = 10 * time.Minute // the bulk load
			s := openCfg(b, cfg)
			ctx := context.Background()
			now := time.Now()
			if err := bulkFamilies(ctx, s.pool, families, now); err != nil {
				b.Fatal(err)
			}
			cur := make([]int, families) // generation of each family's live token
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				f := (i * 7919) % families
				old := fmt.Sprintf("rt-%d-%d", f, cur[f])
				cur[f]++
				nt := storage.RefreshToken{Hash: fmt.Sprintf("rt-%d-%d", f, cur[f]), CreatedAt: now, IdleExpiry: now.Add(time.Hour)}
				start := time.Now()
				if _, _, err := s.RotateRefreshToken(ctx, old, nt, now); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}

// bulkFamilies inserts n grants, each with one live refresh token rt-<i>-0.
func bulkFamilies(ctx context.Context, pool *pgxpool.Pool, n int, now time.Time) error {
	g := benchGrant("", now)
	enc, err := encodeIdentityAuth(nil, "", g.Identity, g.Auth)
	if err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, `INSERT INTO grants SELECT 'g-' || i, 'c', '["openid","offline_access"]', '', 'user-' || (i % 5000),
		$1, $2, 's-' || i, $3, $4, false, 0 FROM generate_series(0, $5 - 1) AS i`,
		enc.identity, enc.auth, ms(now), ms(now.Add(24*time.Hour)), n); err != nil {
		return fmt.Errorf("bulk grants: %w", err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO refresh_tokens SELECT 'rt-' || i || '-0', 'g-' || i, $1, $2, 0
		FROM generate_series(0, $3 - 1) AS i`, ms(now), ms(now.Add(time.Hour)), n); err != nil {
		return fmt.Errorf("bulk refresh tokens: %w", err)
	}
	// Settle the bulk load (visibility map, statistics, dirty buffers) so it does not
	// weigh on the measured operations.
	for _, q := range []string{`VACUUM (ANALYZE) grants`, `VACUUM (ANALYZE) refresh_tokens`, `CHECKPOINT`} {
		if _, err := pool.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// TestPingReadsTheStores: readiness is a real read of the tables the broker serves from
// (issue 13.5). A table the broker needs that cannot be read (here: dropped underneath the
// running store) fails Ping, where a connection round trip said healthy.
func TestPingReadsTheStores(t *testing.T) {
	cfg := newSchema(t)
	s := openCfg(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping on a healthy schema: %v", err)
	}
	if _, err := s.Pool().Exec(ctx, "DROP TABLE "+pgx.Identifier{cfg.Schema, "sessions"}.Sanitize()+" CASCADE"); err != nil {
		t.Fatal(err)
	}
	if err := s.Pool().Ping(ctx); err != nil {
		t.Fatalf("the connection itself is fine, yet a round trip failed: %v", err)
	}
	err := s.Ping(ctx)
	if err == nil || !strings.Contains(err.Error(), "sessions") {
		t.Fatalf("Ping = %v, want an error naming the unreadable sessions table", err)
	}
}

func TestSealing(t *testing.T) {
	cfgs := map[string]Config{}
	storagetest.RunSealing(t, func(t *testing.T, sl storage.Sealer) storage.Storage {
		cfg, ok := cfgs[t.Name()]
		if !ok {
			cfg = newSchema(t)
			cfgs[t.Name()] = cfg
		}
		return openSealedCfg(t, cfg, sl)
	})
}

func TestConformanceSealed(t *testing.T) {
	open := func(t *testing.T) storage.Storage {
		return openSealedCfg(t, newSchema(t), storagetest.TestKeyring(t, "k1"))
	}
	storagetest.Run(t, open)
	storagetest.RunBlobs(t, open)
	storagetest.RunBlobTake(t, open)
	storagetest.RunMFA(t, open)
	storagetest.RunPasskeys(t, open)
	storagetest.RunDevices(t, open)
}

func openSealedCfg(t testing.TB, cfg Config, sl storage.Sealer) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, cfg, testLogger(t), WithSealer(sl))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestAudit(t *testing.T) {
	storagetest.RunAudit(t, func(t *testing.T) storage.Storage { return openCfg(t, newSchema(t)) })
}

func TestObservable(t *testing.T) {
	storagetest.RunObservable(t, func(t *testing.T) storage.Storage { return openCfg(t, newSchema(t)) })
}

func TestRefreshHotPath(t *testing.T) {
	storagetest.RunRefreshHotPath(t, func(t *testing.T) storage.Storage { return openCfg(t, newSchema(t)) })
}

func TestSeeder(t *testing.T) {
	storagetest.RunSeeder(t, func(t *testing.T) storage.Storage { return openCfg(t, newSchema(t)) }, gcBatch+37)
}

func TestConfigUserLister(t *testing.T) {
	storagetest.RunConfigUserLister(t, func(t *testing.T) storage.Storage { return openCfg(t, newSchema(t)) })
}
