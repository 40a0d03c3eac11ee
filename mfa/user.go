package mfa

import "github.com/gatehouse-id/gatehouse/storage"

// UserOf is the mfa package's view of an identity. The name labels the user's authenticator
// entries (TOTP account, WebAuthn user name) and finds enrolments in `gatehouse mfa reset`, so
// an email serves as the name only when it is verified.
func UserOf(id storage.Identity) User {
	name := id.PreferredUsername
	if name == "" && id.EmailVerified {
		name = id.Email
	}
	if name == "" {
		name = id.Subject
	}
	return User{ID: id.Subject, Name: name, DisplayName: id.Name}
}
