package sqlite

import (
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

func TestEmailLinks(t *testing.T) {
	storagetest.RunEmailLinks(t, func(t *testing.T) storage.Storage { return openTemp(t) })
}
