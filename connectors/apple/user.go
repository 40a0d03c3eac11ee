package apple

import (
	"encoding/json"
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxUserField bounds the user form field Apple posts on the first authorization.
const MaxUserField = 4096

// maxNamePart bounds each of the first and last name, in runes.
const maxNamePart = 100

// User is what Apple's user form field says (first authorization only): the name the user
// chose to share, and the email (which the ID token also carries, and which wins).
type User struct {
	FirstName, LastName, Email string
}

// ParseUser parses the user form field: {"name": {"firstName": ..., "lastName": ...},
// "email": ...}. An empty field is no user. A field larger than MaxUserField, not a JSON
// object, or with names that are not printable text is an error; names are trimmed and cut
// to 100 characters.
func ParseUser(field string) (User, error) {
	if field == "" {
		return User{}, nil
	}
	if len(field) > MaxUserField {
		return User{}, errors.New("apple user field: too large")
	}
	var raw struct {
		Name *struct {
			FirstName string `json:"firstName"`
			LastName  string `json:"lastName"`
		} `json:"name"`
		Email string `json:"email"`
	}
	if err := json.Unmarshal([]byte(field), &raw); err != nil {
		return User{}, errors.New("apple user field: not a JSON object")
	}
	var u User
	if raw.Name != nil {
		var err error
		if u.FirstName, err = cleanName(raw.Name.FirstName); err != nil {
			return User{}, err
		}
		if u.LastName, err = cleanName(raw.Name.LastName); err != nil {
			return User{}, err
		}
	}
	if len(raw.Email) <= 320 && utf8.ValidString(raw.Email) && !strings.ContainsFunc(raw.Email, unicode.IsControl) {
		u.Email = raw.Email
	}
	return u, nil
}

// cleanName trims a name part, refuses control characters and cuts it to maxNamePart runes.
func cleanName(s string) (string, error) {
	if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == utf8.RuneError }) {
		return "", errors.New("apple user field: a name holds control characters or invalid UTF-8")
	}
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > maxNamePart {
		s = string([]rune(s)[:maxNamePart])
	}
	return s, nil
}

// Name is the display name: first and last name joined by a space.
func (u User) Name() string { return strings.TrimSpace(u.FirstName + " " + u.LastName) }
