package ldap

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"

	"github.com/gatehouse-id/gatehouse/internal/tracing"

	goldap "github.com/go-ldap/ldap/v3"
)

// filterBatch is how many values go in one (|...) filter when groups are searched by member.
const filterBatch = 64

// maxRangeSteps bounds range retrieval (at 1,500 values a step: 15 million values).
const maxRangeSteps = 10000

// groups returns the sorted, unique names of the user's groups: the groups whose group_attr
// holds the user (by DN or by another attribute), and with nested, the groups that hold
// those groups by DN, level by level up to max_depth. A group reached twice (diamond) or
// again (cycle) is counted once and not expanded again. On Active Directory the in-chain
// matching rule resolves nesting in the directory in one search.
func (c *Connector) groups(ctx context.Context, conn *goldap.Conn, user *goldap.Entry) ([]string, error) {
	defer tracing.Span(ctx, "ldap.search", attribute.String("ldap.op", "group search"))()
	gs := c.cfg.GroupSearch
	var dnAttrs []string
	type byValue struct {
		attr   string
		values []string
	}
	var others []byValue
	for _, m := range gs.UserMatchers {
		if strings.EqualFold(m.UserAttr, "DN") {
			if !slices.Contains(dnAttrs, m.GroupAttr) {
				dnAttrs = append(dnAttrs, m.GroupAttr)
			}
			continue
		}
		vals, err := c.rangedValues(conn, user, m.UserAttr)
		if err != nil {
			return nil, err
		}
		if len(vals) > 0 {
			others = append(others, byValue{m.GroupAttr, vals})
		}
	}
	inChain := c.ad && gs.Nested && len(dnAttrs) > 0
	found := map[string]string{} // normalized DN -> name
	// collect adds entries not seen yet and returns their DNs.
	collect := func(entries []*goldap.Entry) []string {
		var fresh []string
		for _, e := range entries {
			key := normalizeDN(e.DN)
			if _, ok := found[key]; ok {
				continue
			}
			name := e.GetEqualFoldAttributeValue(gs.NameAttr)
			if name == "" {
				name = e.DN
			}
			found[key] = name
			fresh = append(fresh, e.DN)
		}
		return fresh
	}
	attrs := []string{gs.NameAttr}
	var frontier []string
	if len(dnAttrs) > 0 {
		entries, err := c.searchAll(conn, gs.BaseDN, memberFilter(gs.Filter, dnAttrs, []string{user.DN}, inChain), attrs)
		if err != nil {
			return nil, err
		}
		fresh := collect(entries)
		if !inChain {
			frontier = append(frontier, fresh...)
		}
	}
	for _, o := range others {
		for chunk := range slices.Chunk(o.values, filterBatch) {
			entries, err := c.searchAll(conn, gs.BaseDN, memberFilter(gs.Filter, []string{o.attr}, chunk, false), attrs)
			if err != nil {
				return nil, err
			}
			frontier = append(frontier, collect(entries)...)
		}
	}
	if gs.Nested && len(dnAttrs) > 0 {
		for depth := 1; len(frontier) > 0; depth++ {
			if depth > gs.MaxDepth {
				c.logger.WarnContext(ctx, "ldap groups: nesting deeper than group_search.max_depth, ignoring the rest",
					"user", user.DN, "max_depth", gs.MaxDepth)
				break
			}
			var next []string
			for chunk := range slices.Chunk(frontier, filterBatch) {
				entries, err := c.searchAll(conn, gs.BaseDN, memberFilter(gs.Filter, dnAttrs, chunk, inChain), attrs)
				if err != nil {
					return nil, err
				}
				next = append(next, collect(entries)...)
			}
			frontier = next
		}
	}
	names := make([]string, 0, len(found))
	for _, n := range found {
		names = append(names, n)
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// maxPages bounds one paged search (at the default page size: 50 million entries).
const maxPages = 100000

// searchAll runs a subtree search with paged results (RFC 2696), so result sets larger
// than the server's size limit come back whole. Referrals are skipped.
func (c *Connector) searchAll(conn *goldap.Conn, base, filter string, attrs []string) ([]*goldap.Entry, error) {
	paging := goldap.NewControlPaging(uint32(c.cfg.PageSize))
	req := goldap.NewSearchRequest(base, goldap.ScopeWholeSubtree, goldap.NeverDerefAliases, 0, 0, false, filter, attrs,
		[]goldap.Control{paging})
	var entries []*goldap.Entry
	for range maxPages {
		c.ops.Add(1)
		res, err := conn.Search(req)
		if err != nil {
			return nil, err
		}
		entries = append(entries, res.Entries...)
		ctrl, ok := goldap.FindControl(res.Controls, goldap.ControlTypePaging).(*goldap.ControlPaging)
		if !ok || len(ctrl.Cookie) == 0 {
			return entries, nil
		}
		paging.SetCookie(ctrl.Cookie)
	}
	return nil, fmt.Errorf("search of %s: more than %d pages", base, maxPages)
}

// normalizeDN gives one spelling per DN, for counting a group once.
func normalizeDN(dn string) string {
	parsed, err := goldap.ParseDN(dn)
	if err != nil {
		return strings.ToLower(dn)
	}
	return strings.ToLower(parsed.String())
}

// parseRangeAttr splits an AD ranged attribute description "member;range=0-1499" into
// its name and bounds; hi is -1 for "*" (the last chunk).
func parseRangeAttr(desc string) (name string, lo, hi int, ok bool) {
	parts := strings.Split(desc, ";")
	for i, p := range parts {
		r, found := strings.CutPrefix(strings.ToLower(p), "range=")
		if !found {
			continue
		}
		l, h, found := strings.Cut(r, "-")
		if !found {
			return "", 0, 0, false
		}
		lo, err := strconv.Atoi(l)
		if err != nil || lo < 0 {
			return "", 0, 0, false
		}
		hi := -1
		if h != "*" {
			if hi, err = strconv.Atoi(h); err != nil || hi < lo {
				return "", 0, 0, false
			}
		}
		rest := slices.Delete(slices.Clone(parts), i, i+1)
		return strings.Join(rest, ";"), lo, hi, true
	}
	return "", 0, 0, false
}

// rangedValues returns every value of attr of entry. When the server sent only a range
// (AD sends "member;range=0-1499" for attributes with more than MaxValRange values), the
// rest is read with range retrieval.
func (c *Connector) rangedValues(conn *goldap.Conn, entry *goldap.Entry, attr string) ([]string, error) {
	if v := entry.GetEqualFoldAttributeValues(attr); len(v) > 0 {
		return v, nil
	}
	for _, a := range entry.Attributes {
		name, _, hi, ok := parseRangeAttr(a.Name)
		if !ok || !strings.EqualFold(name, attr) {
			continue
		}
		if hi < 0 {
			return a.Values, nil
		}
		return c.readRange(conn, entry.DN, attr, hi+1, 0, slices.Clone(a.Values))
	}
	return nil, nil
}

// readRange reads attr of dn from value index start on, step values a request (0: as many
// as the server gives), appending to acc.
func (c *Connector) readRange(conn *goldap.Conn, dn, attr string, start, step int, acc []string) ([]string, error) {
	for range maxRangeSteps {
		want := attr + ";range=" + strconv.Itoa(start) + "-*"
		if step > 0 {
			want = attr + ";range=" + strconv.Itoa(start) + "-" + strconv.Itoa(start+step-1)
		}
		c.ops.Add(1)
		res, err := conn.Search(goldap.NewSearchRequest(dn, goldap.ScopeBaseObject, goldap.NeverDerefAliases,
			1, 0, false, "(objectClass=*)", []string{want}, nil))
		if err != nil {
			return acc, err
		}
		if len(res.Entries) != 1 {
			return acc, nil
		}
		e := res.Entries[0]
		got := false
		for _, a := range e.Attributes {
			name, lo, hi, ok := parseRangeAttr(a.Name)
			if !ok || !strings.EqualFold(name, attr) {
				continue
			}
			got = true
			acc = append(acc, a.Values...)
			if hi < 0 || lo != start {
				return acc, nil
			}
			start = hi + 1
		}
		if !got {
			// A server without range retrieval sends the whole attribute, or nothing.
			if start == 0 {
				acc = append(acc, e.GetEqualFoldAttributeValues(attr)...)
			}
			return acc, nil
		}
	}
	return acc, nil
}
