package sqlite

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestQueryPlans asks SQLite for the plan of every prepared statement (EXPLAIN QUERY PLAN)
// and fails when one scans a whole table that grows with users, sessions or tokens: a
// statement that scans is as slow at a million rows as the table is long. The few
// statements that must scan (the admin listings, reading a whole small table) are listed
// with the reason. GATEHOUSE_PRINT_PLANS=1 prints every plan (docs/performance.md).
func TestQueryPlans(t *testing.T) {
	s := openTemp(t)
	// Statements allowed to scan a table, and why.
	allowed := map[string]string{
		qListUsers:            "admin listing of every local user",
		qListClients:          "admin listing of runtime clients (a small table)",
		qListServiceProviders: "admin listing of SAML service providers (a small table)",
		qListKeys:             "the signing keys: a handful of rows",
		qDeleteKeys:           "the signing keys: a handful of rows",
		qGCSigningKeys:        "the signing keys: a handful of rows",
	}
	scan := regexp.MustCompile(`^SCAN (\w+)`)
	bind := regexp.MustCompile(`\?\d*`)
	for _, q := range allQueries() {
		rows, err := s.writer.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q, bindNulls(bind, q)...)
		if err != nil {
			t.Fatalf("EXPLAIN QUERY PLAN %s: %v", q, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		if os.Getenv("GATEHOUSE_PRINT_PLANS") != "" {
			fmt.Printf("%s\n  -> %s\n", oneLine(q), strings.Join(plan, " | "))
		}
		for _, step := range plan {
			if m := scan.FindStringSubmatch(step); m != nil && !strings.Contains(step, "USING") {
				if _, ok := allowed[q]; !ok {
					t.Errorf("%s\nscans table %s: %s", oneLine(q), m[1], strings.Join(plan, " | "))
				}
			}
		}
	}
}

// bindNulls returns one nil argument per distinct parameter of q.
func bindNulls(bind *regexp.Regexp, q string) []any {
	max, plain := 0, 0
	for _, p := range bind.FindAllString(q, -1) {
		if p == "?" {
			plain++
			continue
		}
		var n int
		fmt.Sscanf(p[1:], "%d", &n) //nolint:errcheck // the regexp matched digits
		max = maxInt(max, n)
	}
	args := make([]any, maxInt(max, plain))
	return args
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

func oneLine(q string) string { return strings.Join(strings.Fields(q), " ") }
