package sqlite

import (
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

func TestGrantUpdates(t *testing.T) {
	storagetest.RunGrantUpdates(t, func(t *testing.T) storage.Storage { return openTemp(t) })
}
