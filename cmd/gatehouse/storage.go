package main

import (
	"fmt"
	"io"
)

// closeStore closes a store opened by a command and reports a failure (a SQLite file that
// could not be checkpointed, say) instead of dropping it.
func closeStore(store io.Closer, stderr io.Writer) {
	if err := store.Close(); err != nil {
		fmt.Fprintf(stderr, "gatehouse: close storage: %v\n", err)
	}
}
