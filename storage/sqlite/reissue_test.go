package sqlite

import (
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

func TestRefreshReissue(t *testing.T) {
	storagetest.RunRefreshReissue(t, func(t *testing.T) storage.Storage { return openTemp(t) })
}
