package storagetest

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// RunLinkManager runs the conformance tests of the optional storage.LinkManager (a user's
// sign-in methods: list, and delete all but the last). open2 returns two handles on one
// empty database, acting as two replicas; the race test deletes through both.
func RunLinkManager(t *testing.T, open2 func(t *testing.T) (a, b storage.Storage)) {
	tests := []struct {
		name string
		fn   func(t *testing.T, a, b storage.Storage, la, lb storage.LinkManager)
	}{
		{"List", testLinkList},
		{"Delete", testLinkDelete},
		{"DeleteRace", testLinkDeleteRace},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := open2(t)
			la, ok := a.(storage.LinkManager)
			lb, ok2 := b.(storage.LinkManager)
			if !ok || !ok2 {
				t.Fatalf("%T does not implement storage.LinkManager", a)
			}
			tt.fn(t, a, b, la, lb)
		})
	}
}

// linkAll links the upstream accounts ("connector/subject") to user, a minute apart.
func linkAll(t *testing.T, s storage.Storage, user string, accounts ...[2]string) {
	t.Helper()
	t0 := baseTime().Truncate(time.Millisecond)
	for i, acc := range accounts {
		got, created, err := s.LinkUser(ctxFor(t), acc[0], acc[1], user, t0.Add(time.Duration(i)*time.Minute))
		if err != nil || !created || got != user {
			t.Fatalf("LinkUser(%s, %s) = %s, %v, %v", acc[0], acc[1], got, created, err)
		}
	}
}

func testLinkList(t *testing.T, a, b storage.Storage, la, lb storage.LinkManager) {
	ctx := ctxFor(t)
	got, err := la.ListUserLinks(ctx, "u-ann")
	wantErr(t, "list empty", err, nil)
	if got == nil || len(got) != 0 {
		t.Fatalf("list of a user without links = %#v; want an empty, non-nil list", got)
	}
	linkAll(t, a, "u-ann", [2]string{"local", "ann"}, [2]string{"github", "42"}, [2]string{"oidc", "sub-a"})
	linkAll(t, a, "u-bob", [2]string{"local", "bob"})
	got, err = lb.ListUserLinks(ctx, "u-ann") // the other handle sees them
	wantErr(t, "list", err, nil)
	var names []string
	for i, l := range got {
		names = append(names, l.ConnectorID+"/"+l.UpstreamSubject)
		if l.UserID != "u-ann" || (i > 0 && l.CreatedAt.Sub(got[i-1].CreatedAt) != time.Minute) || l.CreatedAt.Location() != time.UTC {
			t.Errorf("link %d = %+v", i, l)
		}
	}
	if fmt.Sprint(names) != "[local/ann github/42 oidc/sub-a]" {
		t.Errorf("links of u-ann = %v; want oldest first [local/ann github/42 oidc/sub-a]", names)
	}
	got, err = la.ListUserLinks(ctx, "U-ANN")
	wantErr(t, "list other case", err, nil)
	if len(got) != 0 {
		t.Errorf("user IDs are exact: U-ANN has %d links", len(got))
	}
}

func testLinkDelete(t *testing.T, a, b storage.Storage, la, lb storage.LinkManager) {
	ctx := ctxFor(t)
	linkAll(t, a, "u-ann", [2]string{"local", "ann"}, [2]string{"github", "42"}, [2]string{"gone", "x"})
	linkAll(t, a, "u-bob", [2]string{"local", "bob"}, [2]string{"github", "7"})
	keep := []string{"local", "github"} // "gone" is no longer configured: it does not count
	tests := []struct {
		name              string
		user, conn, upSub string
		want              error
	}{
		{"another user's link", "u-ann", "github", "7", storage.ErrNotFound},
		{"unknown link", "u-ann", "github", "43", storage.ErrNotFound},
		{"subject is exact", "u-ann", "github", "42 ", storage.ErrNotFound},
		{"one of several", "u-ann", "github", "42", nil},
		{"again", "u-ann", "github", "42", storage.ErrNotFound},
		{"last that counts", "u-ann", "local", "ann", storage.ErrConflict},
		{"one that does not count", "u-ann", "gone", "x", nil},
		{"last of all", "u-ann", "local", "ann", storage.ErrConflict},
		{"nothing counts", "u-bob", "local", "bob", nil},
	}
	for _, tt := range tests {
		k := keep
		if tt.name == "nothing counts" {
			k = []string{"local"} // github is gone now: bob's github link does not count...
		}
		err := la.DeleteUserLink(ctx, tt.user, tt.conn, tt.upSub, k)
		if tt.name == "nothing counts" {
			// ...so deleting bob's local link would leave none that counts.
			wantErr(t, tt.name, err, storage.ErrConflict)
			continue
		}
		wantErr(t, tt.name, err, tt.want)
		if tt.want == nil {
			if _, err := b.GetUserLink(ctx, tt.conn, tt.upSub); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("%s: link still there after delete (err %v)", tt.name, err)
			}
		}
	}
	got, err := lb.ListUserLinks(ctx, "u-ann")
	wantErr(t, "list after", err, nil)
	if len(got) != 1 || got[0].ConnectorID != "local" {
		t.Errorf("u-ann's links after = %+v; want local/ann only", got)
	}
	if l, err := b.GetUserLink(ctx, "github", "7"); err != nil || l.UserID != "u-bob" {
		t.Errorf("bob's link = %+v, %v; want it untouched", l, err)
	}
	// A deleted link is gone for good: the upstream account signs in as a new user.
	id, created, err := a.LinkUser(ctx, "github", "42", "u-new", baseTime())
	if err != nil || !created || id != "u-new" {
		t.Errorf("LinkUser after delete = %s, %v, %v; want u-new, true", id, created, err)
	}
}

func testLinkDeleteRace(t *testing.T, a, b storage.Storage, la, lb storage.LinkManager) {
	ctx := ctxFor(t)
	const n = 6
	var accounts [][2]string
	for i := range n {
		accounts = append(accounts, [2]string{"github", fmt.Sprint(i)})
	}
	linkAll(t, a, "u-ann", accounts...)
	var ok, conflict atomic.Int32
	run(n, func(i int) {
		lm := la
		if i%2 == 1 {
			lm = lb
		}
		err := lm.DeleteUserLink(ctx, "u-ann", "github", fmt.Sprint(i), []string{"github"})
		switch {
		case err == nil:
			ok.Add(1)
		case errors.Is(err, storage.ErrConflict):
			conflict.Add(1)
		default:
			t.Errorf("delete %d: %v", i, err)
		}
	})
	got, err := la.ListUserLinks(ctx, "u-ann")
	wantErr(t, "list", err, nil)
	if ok.Load() != n-1 || conflict.Load() != 1 || len(got) != 1 {
		t.Errorf("%d deletions succeeded, %d refused, %d links left; want %d, 1, 1", ok.Load(), conflict.Load(), len(got), n-1)
	}
}
