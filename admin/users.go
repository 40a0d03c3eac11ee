package admin

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/gatehouse-id/gatehouse/api/gatehouse/admin/v1"
	"github.com/gatehouse-id/gatehouse/connectors/local"
	"github.com/gatehouse-id/gatehouse/storage"
)

// usernameRe is the shape of a username created through the API.
var usernameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$`)

// Password bounds: bcrypt reads at most 72 bytes.
const (
	minPasswordLen = 8
	maxPasswordLen = 72
)

// userService implements adminv1connect.UserServiceHandler over the local connector's store.
type userService struct{ s *Server }

// CreateUser stores a new local user with a bcrypt hash of the password.
func (us *userService) CreateUser(ctx context.Context, req *connect.Request[adminv1.CreateUserRequest]) (*connect.Response[adminv1.CreateUserResponse], error) {
	in := req.Msg.GetUser()
	if in == nil {
		return nil, invalidArg("user", "is required")
	}
	if !usernameRe.MatchString(in.GetUsername()) {
		return nil, invalidArg("user.username", "%q must be 1-128 letters, digits, '.', '_', '@', '+' or '-', starting with a letter or digit", clip(in.GetUsername()))
	}
	if err := checkUserFields(in); err != nil {
		return nil, err
	}
	hash, err := us.hash("password", req.Msg.GetPassword())
	if err != nil {
		return nil, err
	}
	now := us.s.d.Now().UTC().Truncate(time.Millisecond) // as stored
	u := storage.LocalUser{Username: in.GetUsername(), Email: in.GetEmail(), EmailVerified: in.GetEmailVerified(),
		Name: in.GetName(), Groups: in.GetGroups(), PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
	err = us.s.d.Store.CreateLocalUser(ctx, u)
	us.s.record(ctx, "user.create", u.Username, err)
	if errors.Is(err, storage.ErrAlreadyExists) {
		return nil, connect.NewError(connect.CodeAlreadyExists, fmt.Errorf("user.username: a user %q exists", u.Username))
	}
	if err != nil {
		return nil, us.s.internal(ctx, "create user", err)
	}
	return connect.NewResponse(&adminv1.CreateUserResponse{User: userToProto(u)}), nil
}

// checkUserFields bounds the free-text fields of a user.
func checkUserFields(u *adminv1.User) error {
	if len(u.GetEmail()) > 254 {
		return invalidArg("user.email", "is longer than 254 bytes")
	}
	if len(u.GetName()) > maxNameLen {
		return invalidArg("user.name", "is longer than %d bytes", maxNameLen)
	}
	if len(u.GetGroups()) > maxListLen*4 {
		return invalidArg("user.groups", "has more than %d entries", maxListLen*4)
	}
	for i, g := range u.GetGroups() {
		if g == "" || len(g) > maxNameLen {
			return invalidArg(fmt.Sprintf("user.groups[%d]", i), "must be 1-%d bytes", maxNameLen)
		}
	}
	return nil
}

// hash checks and hashes a password; field names it in errors.
func (us *userService) hash(field, password string) (string, error) {
	if len(password) < minPasswordLen || len(password) > maxPasswordLen {
		return "", invalidArg(field, "must be %d to %d bytes", minPasswordLen, maxPasswordLen)
	}
	h, err := local.HashPassword(password, us.s.d.PasswordCost)
	if err != nil {
		return "", invalidArg(field, "cannot be hashed: %v", err)
	}
	return h, nil
}

// apiUser reads a user the API may change: it exists and does not come from the configuration.
func (us *userService) apiUser(ctx context.Context, username string) (storage.LocalUser, error) {
	if username == "" {
		return storage.LocalUser{}, invalidArg("username", "is required")
	}
	u, err := us.s.d.Store.GetLocalUser(ctx, username)
	if errors.Is(err, storage.ErrNotFound) {
		return u, connect.NewError(connect.CodeNotFound, errors.New("username: no such user"))
	}
	if err != nil {
		return u, us.s.internal(ctx, "get user", err)
	}
	if u.FromConfig {
		return u, connect.NewError(connect.CodeFailedPrecondition,
			fmt.Errorf("user.source: user %q comes from the configuration (source: config) and is read-only; change it in the config file", clip(username)))
	}
	return u, nil
}

// SetUserPassword replaces the password (compare-and-swap on the stored hash); it also
// enables a disabled user.
func (us *userService) SetUserPassword(ctx context.Context, req *connect.Request[adminv1.SetUserPasswordRequest]) (*connect.Response[adminv1.SetUserPasswordResponse], error) {
	u, err := us.apiUser(ctx, req.Msg.GetUsername())
	if err != nil {
		return nil, err
	}
	hash, err := us.hash("password", req.Msg.GetPassword())
	if err != nil {
		return nil, err
	}
	err = us.replaceHash(ctx, u, hash)
	us.s.record(ctx, "user.set_password", u.Username, err)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&adminv1.SetUserPasswordResponse{}), nil
}

// replaceHash swaps the user's stored hash if nobody changed it meanwhile.
func (us *userService) replaceHash(ctx context.Context, u storage.LocalUser, hash string) error {
	pu, ok := us.s.d.Store.(storage.LocalPasswordUpdater)
	if !ok {
		return us.s.internal(ctx, "replace password", errors.New("the storage backend cannot update passwords (storage.LocalPasswordUpdater)"))
	}
	err := pu.ReplaceLocalPasswordHash(ctx, u.Username, u.PasswordHash, hash, us.s.d.Now().UTC())
	switch {
	case errors.Is(err, storage.ErrConflict):
		return connect.NewError(connect.CodeAborted, errors.New("username: the user's password changed meanwhile; try again"))
	case errors.Is(err, storage.ErrNotFound):
		return connect.NewError(connect.CodeNotFound, errors.New("username: no such user"))
	case err != nil:
		return us.s.internal(ctx, "replace password", err)
	}
	return nil
}

// DisableUser makes the stored hash unusable (local.DisabledPrefix) and signs the user out
// everywhere. Setting a password enables the user again.
func (us *userService) DisableUser(ctx context.Context, req *connect.Request[adminv1.DisableUserRequest]) (*connect.Response[adminv1.DisableUserResponse], error) {
	u, err := us.apiUser(ctx, req.Msg.GetUsername())
	if err != nil {
		return nil, err
	}
	if !local.Disabled(u.PasswordHash) {
		if err := us.replaceHash(ctx, u, local.DisabledPrefix+u.PasswordHash); err != nil {
			us.s.record(ctx, "user.disable", u.Username, err)
			return nil, err
		}
	}
	subs, err := us.s.subjects(ctx, u.Username)
	if err != nil {
		us.s.record(ctx, "user.disable", u.Username, err)
		return nil, err
	}
	defer us.s.sessionsEnded()
	res := &adminv1.DisableUserResponse{}
	for _, sub := range subs {
		n, g, err := us.s.d.Sessions.RevokeUserSessions(ctx, sub, us.s.d.Now().UTC())
		if err != nil {
			us.s.record(ctx, "user.disable", u.Username, err)
			return nil, us.s.internal(ctx, "sign the user out", err)
		}
		res.SessionsEnded, res.GrantsRevoked = res.SessionsEnded+n, res.GrantsRevoked+g
	}
	us.s.record(ctx, "user.disable", u.Username, nil)
	return connect.NewResponse(res), nil
}

// DeleteUser deletes what is stored under the user's internal IDs, then the user.
func (us *userService) DeleteUser(ctx context.Context, req *connect.Request[adminv1.DeleteUserRequest]) (*connect.Response[adminv1.DeleteUserResponse], error) {
	u, err := us.apiUser(ctx, req.Msg.GetUsername())
	if err != nil {
		return nil, err
	}
	err = us.deleteUser(ctx, u.Username)
	us.s.sessionsEnded()
	us.s.record(ctx, "user.delete", u.Username, err)
	if err != nil {
		return nil, us.s.internal(ctx, "delete user", err)
	}
	return connect.NewResponse(&adminv1.DeleteUserResponse{}), nil
}

// deleteUser removes the user's data first and the user last, so a failure halfway is
// finished by deleting again.
func (us *userService) deleteUser(ctx context.Context, username string) error {
	remover, ok := us.s.d.Store.(storage.UserRemover)
	if !ok {
		return errors.New("the storage backend cannot remove users (storage.UserRemover)")
	}
	for _, cid := range us.s.d.LocalConnectorIDs {
		link, err := us.s.d.Store.GetUserLink(ctx, cid, username)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if err := remover.DeleteUserData(ctx, link.UserID); err != nil {
			return err
		}
	}
	if err := us.s.d.Store.DeleteLocalUser(ctx, username); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	return nil
}

// ListUsers returns every local user.
func (us *userService) ListUsers(ctx context.Context, _ *connect.Request[adminv1.ListUsersRequest]) (*connect.Response[adminv1.ListUsersResponse], error) {
	users, err := us.s.d.Store.ListLocalUsers(ctx)
	if err != nil {
		return nil, us.s.internal(ctx, "list users", err)
	}
	out := &adminv1.ListUsersResponse{}
	for _, u := range users {
		out.Users = append(out.Users, userToProto(u))
	}
	return connect.NewResponse(out), nil
}

func userToProto(u storage.LocalUser) *adminv1.User {
	source := "api"
	if u.FromConfig {
		source = "config"
	}
	return &adminv1.User{
		Username: u.Username, Email: u.Email, EmailVerified: u.EmailVerified, Name: u.Name, Groups: u.Groups,
		Disabled: local.Disabled(u.PasswordHash), Source: source,
		CreateTime: timestamppb.New(u.CreatedAt), UpdateTime: timestamppb.New(u.UpdatedAt),
	}
}
