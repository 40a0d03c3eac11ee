// Package otlptest is an in-process OTLP/HTTP trace receiver for tests: an httptest server
// that decodes each protobuf ExportTraceServiceRequest and keeps its spans.
package otlptest

import (
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Span is one received span, with its IDs in hex.
type Span struct {
	Name, TraceID, SpanID, ParentID string
	Attrs                           map[string]string
	// Start is the span's start time in Unix nanoseconds (the tree's order).
	Start uint64
}

// Receiver collects the spans posted to its URL + "/v1/traces".
type Receiver struct {
	*httptest.Server
	mu    sync.Mutex
	spans []Span
	errs  []string
}

// New starts a receiver; Close stops it.
func New() *Receiver {
	rc := &Receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(rc.serve))
	return rc
}

func (rc *Receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	var req collectortrace.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(body, &req)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" || err != nil {
		rc.errs = append(rc.errs, r.URL.Path+" "+r.Header.Get("Content-Type")+" "+errString(err))
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				rc.spans = append(rc.spans, convert(s))
			}
		}
	}
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{}) //nolint:errcheck // an empty message always marshals
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out) //nolint:errcheck // the exporter sees a short answer as an error
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func convert(s *tracepb.Span) Span {
	out := Span{Name: s.GetName(), TraceID: hex.EncodeToString(s.GetTraceId()), SpanID: hex.EncodeToString(s.GetSpanId()),
		ParentID: hex.EncodeToString(s.GetParentSpanId()), Attrs: map[string]string{}, Start: s.GetStartTimeUnixNano()}
	for _, a := range s.GetAttributes() {
		v := a.GetValue()
		switch {
		case v.GetStringValue() != "":
			out.Attrs[a.GetKey()] = v.GetStringValue()
		default:
			out.Attrs[a.GetKey()] = strings.TrimSpace(v.String())
		}
	}
	return out
}

// Spans returns the spans received so far.
func (rc *Receiver) Spans() []Span {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Span(nil), rc.spans...)
}

// Errors returns the requests the receiver refused (wrong path, type or body).
func (rc *Receiver) Errors() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.errs...)
}

// Tree renders the spans as an indented tree, children under their parent, roots (spans
// whose parent was not received) at the left.
func Tree(spans []Span) string {
	byID := map[string]bool{}
	kids := map[string][]Span{}
	for _, s := range spans {
		byID[s.SpanID] = true
	}
	var roots []Span
	for _, s := range spans {
		if s.ParentID == "" || !byID[s.ParentID] {
			roots = append(roots, s)
			continue
		}
		kids[s.ParentID] = append(kids[s.ParentID], s)
	}
	var b strings.Builder
	var walk func(s Span, depth int)
	walk = func(s Span, depth int) {
		b.WriteString(strings.Repeat("  ", depth) + s.Name + "\n")
		k := kids[s.SpanID]
		sort.SliceStable(k, func(i, j int) bool { return k[i].Start < k[j].Start })
		for _, c := range k {
			walk(c, depth+1)
		}
	}
	sort.SliceStable(roots, func(i, j int) bool { return roots[i].Start < roots[j].Start })
	for _, r := range roots {
		walk(r, 0)
	}
	return b.String()
}
