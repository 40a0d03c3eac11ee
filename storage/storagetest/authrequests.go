package storagetest

import (
	"errors"
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
)

// RunAuthRequestSweep runs the conformance tests of the optional storage.AuthRequestSweeper.
// A backend that implements it calls RunAuthRequestSweep next to Run; the tests fail if it
// does not.
func RunAuthRequestSweep(t *testing.T, open func(t *testing.T) storage.Storage) {
	s := open(t)
	sw := implements[storage.AuthRequestSweeper](t, s)
	ctx := ctxFor(t)
	now := baseTime()
	// a and b: one browser's flow; c: another browser in session s1; d: unrelated; e: in
	// session s2 and another flow.
	reqs := map[string]func(*storage.AuthRequest){
		"a": func(r *storage.AuthRequest) { r.FlowHash = "flow-1" },
		"b": func(r *storage.AuthRequest) { r.FlowHash = "flow-1"; r.LoggedIn, r.SessionID = true, "s1" },
		"c": func(r *storage.AuthRequest) { r.FlowHash = "flow-2"; r.LoggedIn, r.SessionID = true, "s1" },
		"d": func(r *storage.AuthRequest) { r.FlowHash = "flow-3" },
		"e": func(r *storage.AuthRequest) { r.FlowHash = "flow-4"; r.LoggedIn, r.SessionID = true, "s2" },
	}
	for id, mut := range reqs {
		r := authRequest(id, now)
		mut(&r)
		wantErr(t, "create "+id, s.CreateAuthRequest(ctx, r), nil)
	}
	exists := func(id string) bool {
		_, err := s.GetAuthRequest(ctx, id)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("get %s: %v", id, err)
		}
		return err == nil
	}
	steps := []struct {
		flow, session string
		deleted       int64
		gone, kept    []string
	}{
		{"", "", 0, nil, []string{"a", "b", "c", "d", "e"}}, // empty arguments match nothing
		{"flow-none", "s-none", 0, nil, []string{"a", "b", "c", "d", "e"}},
		{"flow-1", "s1", 3, []string{"a", "b", "c"}, []string{"d", "e"}},
		{"", "s2", 1, []string{"e"}, []string{"d"}},
		{"flow-3", "", 1, []string{"d"}, nil},
	}
	for _, st := range steps {
		n, err := sw.DeleteAuthRequestsOf(ctx, st.flow, st.session)
		wantErr(t, "delete of "+st.flow+"/"+st.session, err, nil)
		if n != st.deleted {
			t.Errorf("delete of %q/%q removed %d, want %d", st.flow, st.session, n, st.deleted)
		}
		for _, id := range st.gone {
			if exists(id) {
				t.Errorf("after delete of %q/%q: %s still exists", st.flow, st.session, id)
			}
		}
		for _, id := range st.kept {
			if !exists(id) {
				t.Errorf("after delete of %q/%q: %s is gone", st.flow, st.session, id)
			}
		}
	}
}
