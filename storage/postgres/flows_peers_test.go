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

func TestClients(t *testing.T) {
	storagetest.RunClients(t, func(t *testing.T) storage.Storage { return openCfg(t, newSchema(t)) })
	t.Run("TwoHandles", func(t *testing.T) {
		storagetest.RunClientsTwoHandles(t, func(t *testing.T) (storage.Storage, storage.Storage) {
			cfg := newSchema(t)
			return openCfg(t, cfg), openCfg(t, cfg)
		})
	})
}

func TestServiceProviders(t *testing.T) {
	storagetest.RunServiceProviders(t, func(t *testing.T) storage.Storage { return openCfg(t, newSchema(t)) })
	t.Run("TwoHandles", func(t *testing.T) {
		storagetest.RunServiceProvidersTwoHandles(t, func(t *testing.T) (storage.Storage, storage.Storage) {
			cfg := newSchema(t)
			return openCfg(t, cfg), openCfg(t, cfg)
		})
	})
}

func TestUserSessions(t *testing.T) {
	storagetest.RunUserSessions(t, func(t *testing.T) storage.Storage { return openCfg(t, newSchema(t)) })
}

func TestUpstreamSessions(t *testing.T) {
	storagetest.RunUpstreamSessions(t, func(t *testing.T) storage.Storage { return openCfg(t, newSchema(t)) })
}

func TestLogout(t *testing.T) {
	storagetest.RunLogout(t, func(t *testing.T) (storage.Storage, storage.Storage) {
		cfg := newSchema(t)
		return openCfg(t, cfg), openCfg(t, cfg)
	})
}
