package sqlite

import (
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

func TestDevices(t *testing.T) {
	storagetest.RunDevices(t, func(t *testing.T) storage.Storage { return openTemp(t) })
}
