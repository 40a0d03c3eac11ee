package sqlite

import (
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// TestRefreshHotPath runs the RefreshHotPath conformance suite.
func TestRefreshHotPath(t *testing.T) {
	storagetest.RunRefreshHotPath(t, func(t *testing.T) storage.Storage { return openTemp(t) })
}

func TestSeeder(t *testing.T) {
	storagetest.RunSeeder(t, func(t *testing.T) storage.Storage { return openTemp(t) }, gcBatch+37)
}

func TestConfigUserLister(t *testing.T) {
	storagetest.RunConfigUserLister(t, func(t *testing.T) storage.Storage { return openTemp(t) })
}
