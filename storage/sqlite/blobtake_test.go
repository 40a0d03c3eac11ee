package sqlite

import (
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

func TestBlobTake(t *testing.T) {
	storagetest.RunBlobTake(t, func(t *testing.T) storage.Storage { return openTemp(t) })
}
