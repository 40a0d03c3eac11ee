package storage

import (
	"context"
	"time"
)

// ProtocolDevice is a device authorization request (RFC 8628): its login ends by approving
// or denying a device code, not by a redirect.
const ProtocolDevice Protocol = "device"

// DeviceStatus is where a device code stands.
type DeviceStatus string

// Device code states: pending until the user decides; approved or denied by the user;
// consumed once the device has received its tokens (or its denial).
const (
	DevicePending  DeviceStatus = "pending"
	DeviceApproved DeviceStatus = "approved"
	DeviceDenied   DeviceStatus = "denied"
	DeviceConsumed DeviceStatus = "consumed"
)

// DeviceCode is a device authorization (RFC 8628 3.2): the device polls with its
// device_code, the user enters the user_code; both are stored only as hashes.
type DeviceCode struct {
	DeviceHash, UserHash string
	ClientID             string
	Scopes               []string
	Status               DeviceStatus
	// Identity, Auth and SessionID are set when the user approves.
	Identity  Identity
	Auth      Authentication
	SessionID string
	// Interval is the least time between two polls.
	Interval  time.Duration
	CreatedAt time.Time
	Expiry    time.Time
}

// DevicePoll is what PollDeviceCode saw before it recorded the poll.
type DevicePoll struct {
	DeviceCode
	// PreviousPoll is the previous poll's time (zero: the first poll).
	PreviousPoll time.Time
}

// DeviceStore keeps device codes. It is optional; the SQLite and PostgreSQL backends
// implement it (storagetest.RunDevices).
type DeviceStore interface {
	// CreateDeviceCode stores a new pending code; ErrAlreadyExists when either hash is taken.
	CreateDeviceCode(ctx context.Context, d DeviceCode) error
	// GetDeviceCodeByUser returns the code of a user code; ErrNotFound when it does not
	// exist or has expired at now.
	GetDeviceCodeByUser(ctx context.Context, userHash string, now time.Time) (DeviceCode, error)
	// DecideDeviceCode records the user's decision (DeviceApproved with d's Identity, Auth
	// and SessionID, or DeviceDenied) on a pending, live code, atomically: of concurrent
	// decisions exactly one succeeds; the others, and a code that is not pending or has
	// expired, get ErrNotFound.
	DecideDeviceCode(ctx context.Context, userHash string, d DeviceCode, now time.Time) error
	// PollDeviceCode records a poll by clientID at now and returns the code as it was
	// before, with the previous poll's time. A poll of an approved or denied code also
	// consumes it, in the same atomic step: of concurrent polls exactly one sees it approved
	// (or denied); the others see DeviceConsumed. ErrNotFound for an unknown code and for a
	// code issued to another client, whose poll changes nothing (the approval stays for the
	// client it was issued to); an expired one is returned as it is (the caller answers
	// expired_token).
	PollDeviceCode(ctx context.Context, deviceHash, clientID string, now time.Time) (DevicePoll, error)
	// DeleteExpiredDeviceCodes deletes codes that expired before before and counts them.
	DeleteExpiredDeviceCodes(ctx context.Context, before time.Time) (int64, error)
}
