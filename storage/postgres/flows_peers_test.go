//go:build peers

package postgres

import (
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

func TestAuthRequestSweep(t *testing.T) {
	storagetest.RunAuthRequestSweep(t, func(t *testing.T) storage.Storage { return openCfg(t, newSchema(t)) })
}

func TestBlobTake(t *testing.T) {
	storagetest.RunBlobTake(t, func(t *testing.T) storage.Storage { return openCfg(t, newSchema(t)) })
}

func TestDevices(t *testing.T) {
	storagetest.RunDevices(t, func(t *testing.T) storage.Storage { return openCfg(t, newSchema(t)) })
}
