package postgres

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestConnString(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"dsn wins", Config{DSN: "postgres://u@h/db", Host: "other"}, "postgres://u@h/db"},
		{"discrete", Config{Host: "db.internal", Port: 5433, Database: "gatehouse", User: "gh", Password: "s3cret", SSLMode: "verify-full", SSLRootCert: "/etc/ca.pem"},
			`host='db.internal' port='5433' dbname='gatehouse' user='gh' password='s3cret' sslmode='verify-full' sslrootcert='/etc/ca.pem'`},
		{"quoting", Config{Host: "h", Password: `it's a \ pass word`}, `host='h' password='it\'s a \\ pass word'`},
		{"empty", Config{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.ConnString(); got != tt.want {
				t.Errorf("ConnString() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPoolConfig(t *testing.T) {
	tests := []struct {
		name         string
		cfg          Config
		wantErr      string
		maxConns     int32
		stmtTimeout  string
		searchPath   string
		password     string
		connectLimit time.Duration
	}{
		{name: "defaults", cfg: Config{DSN: "postgres://u@127.0.0.1:1/db"}, maxConns: DefaultMaxConns, stmtTimeout: "5000", connectLimit: DefaultConnectTimeout},
		{name: "tuned", cfg: Config{Host: "127.0.0.1", Port: 1, User: "u", Password: "p w", Database: "db", MaxConns: 7,
			StatementTimeout: 1500 * time.Millisecond, ConnectTimeout: time.Second, Schema: "tenant_a"},
			maxConns: 7, stmtTimeout: "1500", searchPath: `"tenant_a"`, password: "p w", connectLimit: time.Second},
		{name: "nothing", cfg: Config{}, wantErr: "nothing to connect to"},
		{name: "bad dsn hides password", cfg: Config{DSN: "postgres://u:hunter2@[::1/db"}, wantErr: "invalid connection string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pc, err := poolConfig(tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "hunter2") {
					t.Fatalf("err = %v, want one mentioning %q (and no password)", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			rp := pc.ConnConfig.RuntimeParams
			if pc.MaxConns != tt.maxConns || rp["statement_timeout"] != tt.stmtTimeout || rp["search_path"] != tt.searchPath ||
				rp["timezone"] != "UTC" || rp["application_name"] != "gatehouse" || pc.ConnConfig.Password != tt.password ||
				pc.ConnConfig.ConnectTimeout != tt.connectLimit || rp["idle_in_transaction_session_timeout"] == "" {
				t.Errorf("pool config: max_conns=%d params=%v password=%q connect_timeout=%v", pc.MaxConns, rp, pc.ConnConfig.Password, pc.ConnConfig.ConnectTimeout)
			}
		})
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
	if _, err := loadMigrations(migrationFS, "migrations"); err != nil {
		t.Errorf("embedded migrations: %v", err)
	}
}
