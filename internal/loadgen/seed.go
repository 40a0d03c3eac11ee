package loadgen

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/gatehouse-id/gatehouse/storage"
)

// SeedOptions says what Seed writes: Users local users, each with one SSO session, one
// refresh family (a grant with TokensPerFamily tokens: all but the last already rotated)
// and one consent for ClientID.
type SeedOptions struct {
	Users           int
	TokensPerFamily int
	// Start numbers the first user, so a second seed adds to a first one.
	Start int
	// ClientID is the client the grants and consents name.
	ClientID string
	// PasswordHash is every seeded user's bcrypt hash (hashed once by the caller).
	PasswordHash string
	// ExpiredEvery makes every ExpiredEvery-th user's session, grant and tokens already
	// expired (1: all of them, for measuring a GC; 0: none).
	ExpiredEvery int
	// Batch is how many users one transaction writes; Workers how many transactions run
	// at once (PostgreSQL; SQLite serializes them anyway).
	Batch, Workers int
	Now            time.Time
}

// SeedResult counts the rows Seed wrote.
type SeedResult struct {
	Users, Sessions, Grants, RefreshTokens, Consents int
	Elapsed                                          time.Duration
}

// Seed fills a store with realistic rows in batched transactions. progress (may be nil) is
// called after each batch with the users written so far.
func Seed(ctx context.Context, s storage.Seeder, o SeedOptions, progress func(users int)) (SeedResult, error) {
	if o.Users < 0 || o.TokensPerFamily < 1 || o.Batch < 1 || o.Workers < 1 || o.ClientID == "" || o.PasswordHash == "" {
		return SeedResult{}, errors.New("seed: users >= 0, tokens per family >= 1, batch >= 1, workers >= 1, a client ID and a password hash are required")
	}
	start := time.Now()
	jobs := make(chan [2]int)
	done := make(chan int)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(jobs)
		for lo := 0; lo < o.Users; lo += o.Batch {
			select {
			case jobs <- [2]int{lo, min(lo+o.Batch, o.Users)}:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	for range o.Workers {
		g.Go(func() error {
			for j := range jobs {
				if err := s.Seed(gctx, seedBatch(o, j[0], j[1])); err != nil {
					return fmt.Errorf("seed users %d to %d: %w", o.Start+j[0], o.Start+j[1]-1, err)
				}
				select {
				case done <- j[1] - j[0]:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			return nil
		})
	}
	var werr error
	go func() { werr = g.Wait(); close(done) }()
	n := 0
	for k := range done {
		n += k
		if progress != nil {
			progress(n)
		}
	}
	res := SeedResult{Users: n, Sessions: n, Grants: n, RefreshTokens: n * o.TokensPerFamily, Consents: n, Elapsed: time.Since(start)}
	return res, werr
}

// seedBatch builds the rows of users [lo, hi).
func seedBatch(o SeedOptions, lo, hi int) storage.SeedBatch {
	var b storage.SeedBatch
	for i := lo; i < hi; i++ {
		n := o.Start + i
		name := fmt.Sprintf("seed-user-%08d", n)
		email := name + "@seed.example"
		groups := []string{"staff", fmt.Sprintf("team-%03d", n%500)}
		created := o.Now.Add(-time.Duration(n%(30*24)) * time.Hour)
		expired := o.ExpiredEvery > 0 && n%o.ExpiredEvery == 0
		idle, absolute := o.Now.Add(24*time.Hour), o.Now.Add(30*24*time.Hour)
		if expired {
			idle, absolute = o.Now.Add(-time.Hour), o.Now.Add(-time.Minute)
		}
		id := storage.Identity{Subject: name, Email: email, EmailVerified: true, Name: "Seed User " + fmt.Sprint(n),
			PreferredUsername: name, Groups: groups}
		auth := storage.Authentication{ConnectorID: "local", AuthTime: created, AMR: []string{"pwd"}}
		sessID := seedID("sess", n, 0)
		grantID := seedID("grant", n, 0)
		b.Users = append(b.Users, storage.LocalUser{Username: name, Email: email, EmailVerified: true,
			Name: id.Name, Groups: groups, PasswordHash: o.PasswordHash, CreatedAt: created, UpdatedAt: created})
		b.Sessions = append(b.Sessions, storage.Session{ID: sessID, Identity: id, Auth: auth, CreatedAt: created,
			LastUsed: created, IdleExpiry: idle, AbsoluteExpiry: absolute})
		b.Grants = append(b.Grants, storage.Grant{ID: grantID, ClientID: o.ClientID, Scopes: []string{"openid", "profile", "email", "offline_access"},
			Nonce: seedID("nonce", n, 0), Identity: id, Auth: auth, SessionID: sessID, CreatedAt: created, AbsoluteExpiry: absolute})
		for k := range o.TokensPerFamily {
			rt := storage.RefreshToken{Hash: seedID("rt", n, k), GrantID: grantID, CreatedAt: created.Add(time.Duration(k) * time.Minute), IdleExpiry: idle}
			if k < o.TokensPerFamily-1 {
				rt.UsedAt = rt.CreatedAt.Add(time.Minute)
			}
			b.RefreshTokens = append(b.RefreshTokens, rt)
		}
		b.Consents = append(b.Consents, storage.Consent{Subject: name, ClientID: o.ClientID, Scopes: []string{"openid", "profile", "email", "offline_access"},
			CreatedAt: created, UpdatedAt: created})
	}
	return b
}

// seedID derives a key that looks like the broker's (43 characters of base64url from a
// SHA-256), spread over the key space as real random keys are, and the same for the same
// (kind, n, k) so a seed can be repeated.
func seedID(kind string, n, k int) string {
	var buf [16]byte
	binary.BigEndian.PutUint64(buf[:8], uint64(n))
	binary.BigEndian.PutUint64(buf[8:], uint64(k))
	sum := sha256.Sum256(append([]byte("gatehouse-seed/"+kind+"/"), buf[:]...))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
