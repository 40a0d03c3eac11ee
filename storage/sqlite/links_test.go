package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

func TestEmailLinks(t *testing.T) {
	storagetest.RunEmailLinks(t, func(t *testing.T) storage.Storage { return openTemp(t) })
}

func TestLinkManager(t *testing.T) {
	storagetest.RunLinkManager(t, func(t *testing.T) (storage.Storage, storage.Storage) {
		path := filepath.Join(t.TempDir(), "gatehouse.db")
		return openAt(t, path), openAt(t, path)
	})
}
