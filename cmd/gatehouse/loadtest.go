package main

import (
	"context"
	"fmt"
	"io"
)

// cmdLoadtest drives load against a running broker.
func cmdLoadtest(_ context.Context, _ []string, _, stderr io.Writer) error {
	fmt.Fprintln(stderr, "gatehouse loadtest: not built yet")
	return exitError{"loadtest"}
}
