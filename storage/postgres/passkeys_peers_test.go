//go:build peers

package postgres

import (
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

func TestPasskeys(t *testing.T) {
	storagetest.RunPasskeys(t, func(t *testing.T) storage.Storage { return openCfg(t, newSchema(t)) })
}
