package assembly

import (
	"github.com/gatehouse-id/gatehouse/broker/clients"
	"github.com/gatehouse-id/gatehouse/broker/linking"
	"github.com/gatehouse-id/gatehouse/storage"
)

// accountClients is the pseudo-client of the account page's link flows (broker/linking)
// when the store can list and delete links: trusted (no consent page), every connector
// allowed, no secret and no redirect URIs, so /authorize and /token refuse it; only the
// account page's "Link" forms begin its logins. Without that capability the account page
// offers no linking.
func accountClients(store storage.Storage) []clients.Client {
	if _, ok := store.(storage.LinkManager); !ok {
		return nil
	}
	return []clients.Client{clients.New(clients.Client{ID: linking.ClientID, Name: "Gatehouse", Trusted: true}, "")}
}
