package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

func openSealed(t testing.TB, path string, sl storage.Sealer) *Store {
	t.Helper()
	s, err := Open(context.Background(), path, testLogger(t), WithSealer(sl))
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

func TestSealing(t *testing.T) {
	paths := map[string]string{}
	storagetest.RunSealing(t, func(t *testing.T, sl storage.Sealer) storage.Storage {
		p, ok := paths[t.Name()]
		if !ok {
			p = filepath.Join(t.TempDir(), "gatehouse.db")
			paths[t.Name()] = p
		}
		return openSealed(t, p, sl)
	})
}

// TestConformanceSealed runs the suites that round-trip sealed columns with sealing on.
func TestConformanceSealed(t *testing.T) {
	open := func(t *testing.T) storage.Storage {
		return openSealed(t, filepath.Join(t.TempDir(), "gatehouse.db"), storagetest.TestKeyring(t, "k1"))
	}
	storagetest.Run(t, open)
	storagetest.RunBlobs(t, open)
	storagetest.RunBlobTake(t, open)
	storagetest.RunMFA(t, open)
	storagetest.RunPasskeys(t, open)
	storagetest.RunGrantUpdates(t, open)
	storagetest.RunRefreshReissue(t, open)
	storagetest.RunAuthRequestSweep(t, open)
	storagetest.RunDevices(t, open)
}
