package sqlite

import "github.com/gatehouse-id/gatehouse/storage"

var _ storage.Observable = (*Store)(nil)

// SetObserver makes the store report the duration of every statement it runs through its
// helpers (exec, writeRow, queryRow, query) and of every write transaction (op "tx").
func (s *Store) SetObserver(o storage.Observer) { s.observer.Set(o) }
