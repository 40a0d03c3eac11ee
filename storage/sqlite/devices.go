package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

var _ storage.DeviceStore = (*Store)(nil)

const deviceCols = `device_hash, user_hash, client_id, scopes, status, identity, auth, session_id,
	interval_ms, created_at, expiry`

const (
	qInsertDevice = `INSERT INTO device_codes (device_hash, user_hash, client_id, scopes, status,
	interval_ms, created_at, expiry) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	qGetDeviceByUser = `SELECT ` + deviceCols + ` FROM device_codes WHERE user_hash = ? AND expiry > ?`
	qDecideDevice    = `UPDATE device_codes SET status = ?, identity = ?, auth = ?, session_id = ?
	WHERE user_hash = ? AND status = 'pending' AND expiry > ?`
	// qPollDevice records a poll; the right-hand sides read the row as it was, so prev_*
	// hold what this poll saw. An approved or denied code is consumed by the same statement.
	// The client is part of the match: another client's poll finds no row and changes nothing.
	qPollDevice = `UPDATE device_codes SET prev_status = status, prev_poll = last_poll, last_poll = ?,
	status = CASE WHEN status IN ('approved', 'denied') THEN 'consumed' ELSE status END
	WHERE device_hash = ? AND client_id = ? RETURNING device_hash, user_hash, client_id, scopes, prev_status, identity,
	auth, session_id, interval_ms, created_at, expiry, prev_poll`
	qExpiredDevices = `DELETE FROM device_codes WHERE expiry < ?`
)

// CreateDeviceCode stores a new device code.
func (s *Store) CreateDeviceCode(ctx context.Context, d storage.DeviceCode) error {
	scopes, err := stringsText(d.Scopes)
	if err != nil {
		return err
	}
	_, err = s.exec(ctx, qInsertDevice, d.DeviceHash, d.UserHash, d.ClientID, scopes, string(storage.DevicePending),
		d.Interval.Milliseconds(), ms(d.CreatedAt), ms(d.Expiry))
	return insertErr("create device code", err)
}

// scanDevice reads a device code row (deviceCols, plus extra destinations).
func (s *Store) scanDevice(row scanner, what string, extra ...any) (storage.DeviceCode, error) {
	var (
		d                         storage.DeviceCode
		scopes, idt, authT        []byte
		status                    string
		interval, created, expiry int64
	)
	dest := append([]any{&d.DeviceHash, &d.UserHash, &d.ClientID, &scopes, &status, &idt, &authT, &d.SessionID,
		&interval, &created, &expiry}, extra...)
	if err := row.Scan(dest...); err != nil {
		return d, getErr(what, err)
	}
	var err error
	if d.Scopes, err = decodeStrings(scopes); err != nil {
		return d, err
	}
	if err := decodeIdentityAuth(s.sealer, storage.SealContext("device_codes", "auth", d.UserHash), idt, authT, &d.Identity, &d.Auth); err != nil {
		return d, err
	}
	d.Status, d.Interval = storage.DeviceStatus(status), time.Duration(interval)*time.Millisecond
	d.CreatedAt, d.Expiry = fromMs(created), fromMs(expiry)
	return d, nil
}

// GetDeviceCodeByUser returns the live code of a user code.
func (s *Store) GetDeviceCodeByUser(ctx context.Context, userHash string, now time.Time) (storage.DeviceCode, error) {
	return s.scanDevice(s.queryRow(ctx, qGetDeviceByUser, userHash, ms(now)), "get device code")
}

// DecideDeviceCode records the user's decision on a pending, live code.
func (s *Store) DecideDeviceCode(ctx context.Context, userHash string, d storage.DeviceCode, now time.Time) error {
	if d.Status != storage.DeviceApproved && d.Status != storage.DeviceDenied {
		return fmt.Errorf("sqlite: decide device code: status %q is not a decision", d.Status)
	}
	enc, err := encodeIdentityAuth(s.sealer, storage.SealContext("device_codes", "auth", userHash), d.Identity, d.Auth)
	if err != nil {
		return err
	}
	res, err := s.exec(ctx, qDecideDevice, string(d.Status), enc.identity, enc.auth, d.SessionID, userHash, ms(now))
	if err != nil {
		return fmt.Errorf("sqlite: decide device code: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("sqlite: decide device code: %w", storage.ErrNotFound)
	}
	return nil
}

// PollDeviceCode records a poll by clientID and returns what it saw, consuming a decided
// code; another client's poll gets storage.ErrNotFound and changes nothing.
func (s *Store) PollDeviceCode(ctx context.Context, deviceHash, clientID string, now time.Time) (storage.DevicePoll, error) {
	var prev int64
	d, err := s.scanDevice(s.writeRow(ctx, qPollDevice, ms(now), deviceHash, clientID), "poll device code", &prev)
	if err != nil {
		return storage.DevicePoll{}, err
	}
	return storage.DevicePoll{DeviceCode: d, PreviousPoll: fromMs(prev)}, nil
}

// DeleteExpiredDeviceCodes deletes codes expired before before.
func (s *Store) DeleteExpiredDeviceCodes(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.exec(ctx, qExpiredDevices, ms(before))
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete expired device codes: %w", err)
	}
	return res.RowsAffected()
}
