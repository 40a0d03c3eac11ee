package broker

import (
	"github.com/gatehouse-id/gatehouse/storage"
)

// displayName is how the pages name a signed-in user.
func displayName(id storage.Identity) string {
	switch {
	case id.Email != "":
		return id.Email
	case id.PreferredUsername != "":
		return id.PreferredUsername
	case id.Name != "":
		return id.Name
	}
	return id.Subject
}
