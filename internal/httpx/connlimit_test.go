package httpx

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// serveLimited serves a 200 "ok" handler from a listener limited to max connections; idle
// counts the server's connections now idle (a client reads its answer a moment before the
// server marks the connection idle).
func serveLimited(t *testing.T, max int) (addr string, idle *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer("", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })) //nolint:errcheck // test handler
	idle = new(atomic.Int64)
	var wasIdle sync.Map // net.Conn -> struct{}: idle now
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateIdle {
			wasIdle.Store(c, struct{}{})
			idle.Add(1)
		} else if _, ok := wasIdle.LoadAndDelete(c); ok {
			idle.Add(-1)
		}
	}
	go srv.Serve(LimitConnections(ln, srv, max)) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })            //nolint:errcheck // test teardown
	return ln.Addr().String(), idle
}

// get sends one keep-alive request on c and reads the answer; it reports whether the
// server announced it will close the connection.
func get(t *testing.T, c net.Conn, r *bufio.Reader) (closing bool) {
	t.Helper()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body) //nolint:errcheck // compared below
	resp.Body.Close()
	if string(b) != "ok" {
		t.Fatalf("body %q", b)
	}
	return resp.Close
}

// TestLimitConnections: idle keep-alive connections stay open under three quarters of the
// bound; reaching it closes them (keep-alives off), and at the bound a new connection is
// served only once another closed.
func TestLimitConnections(t *testing.T) {
	const max = 8
	addr, serverIdle := serveLimited(t, max)
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() }) //nolint:errcheck // test teardown
		return c, bufio.NewReader(c)
	}
	// Below the high mark (6): keep-alive answers, idle connections kept.
	var idle []net.Conn
	for i := range 5 {
		c, r := dial()
		if get(t, c, r) {
			t.Fatalf("connection %d: Connection: close below the high mark", i)
		}
		idle = append(idle, c)
	}
	// Wait until the server has marked all five idle (bounded): shedding closes the
	// connections idle at that moment, and one still finishing its answer may miss it.
	for deadline := time.Now().Add(5 * time.Second); serverIdle.Load() < 5 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	// The sixth reaches the high mark: the idle ones are closed by the server (which
	// brings the count under the low mark, so keep-alives are on again for it).
	c6, r6 := dial()
	get(t, c6, r6)
	for i, c := range idle {
		c.SetReadDeadline(time.Now().Add(2 * time.Second)) //nolint:errcheck // the read below fails either way
		if _, err := c.Read(make([]byte, 1)); err != io.EOF && !strings.Contains(err.Error(), "reset") {
			t.Errorf("idle connection %d after shedding: %v, want closed", i, err)
		}
	}
	// Fill every slot with silent connections: one more waits until one closes.
	time.Sleep(100 * time.Millisecond) // the closed ones' slots are released
	var silent []net.Conn
	for range max {
		c, _ := dial()
		silent = append(silent, c)
	}
	extra, er := dial()
	done := make(chan bool, 1)
	go func() {
		io.WriteString(extra, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") //nolint:errcheck // the answer is checked
		resp, err := http.ReadResponse(er, nil)
		done <- err == nil && resp.StatusCode == 200
	}()
	select {
	case <-done:
		t.Fatal("a connection beyond the bound was served")
	case <-time.After(300 * time.Millisecond):
	}
	silent[0].Close() //nolint:errcheck // frees a slot
	select {
	case ok := <-done:
		if !ok {
			t.Error("the waiting connection was not answered once a slot was free")
		}
	case <-time.After(5 * time.Second):
		t.Error("the waiting connection was not served after a slot was freed")
	}
}
