package sqlite

import (
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

func TestBlobs(t *testing.T) {
	storagetest.RunBlobs(t, func(t *testing.T) storage.Storage { return openTemp(t) })
}

func TestLocalPasswordUpdates(t *testing.T) {
	storagetest.RunLocalPasswordUpdates(t, func(t *testing.T) storage.Storage { return openTemp(t) })
}

func TestLocalUserEmails(t *testing.T) {
	storagetest.RunLocalUserEmails(t, func(t *testing.T) storage.Storage { return openTemp(t) })
}
