package loadgen

import (
	"context"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseStatTicks(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		want    int64
		wantErr bool
	}{
		{"plain", "1234 (gatehouse) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 8 0 100 0 0", 325, false},
		{"spaces and parens in comm", "77 (a) b (c)) R 1 77 77 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 1 0 0", 10, false},
		{"truncated", "1 (x) S 1 2 3", 0, true},
		{"no comm", "garbage", 0, true},
		{"not numbers", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 a b 0 0", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatTicks([]byte(tt.line))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("parseStatTicks = %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseVmRSS(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int64
		wantErr bool
	}{
		{"present", "Name:\tgh\nVmPeak:\t 9 kB\nVmRSS:\t   17624 kB\nRssAnon: 1 kB\n", 17624 * 1024, false},
		{"absent", "Name:\tkthreadd\n", 0, true},
		{"bad unit", "VmRSS:\t12 MB\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseVmRSS([]byte(tt.in))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("parseVmRSS = %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestProcSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	if _, err := ProcCPU(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	rss, err := ProcRSS(os.Getpid())
	if err != nil || rss <= 0 {
		t.Fatalf("ProcRSS = %d, %v", rss, err)
	}
}

func TestPercentile(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 100; i++ {
		s = append(s, time.Duration(i)*time.Millisecond)
	}
	tests := []struct {
		name    string
		samples []time.Duration
		p       float64
		want    time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", []time.Duration{7}, 99, 7},
		{"p50 of 100", s, 50, 50 * time.Millisecond},
		{"p90 of 100", s, 90, 90 * time.Millisecond},
		{"p99 of 100", s, 99, 99 * time.Millisecond},
		{"p100 of 100", s, 100, 100 * time.Millisecond},
		{"p50 of 3", []time.Duration{1, 2, 3}, 50, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.samples, tt.p); got != tt.want {
				t.Fatalf("percentile(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	r := Result{Requests: 4, Elapsed: 2 * time.Second, ServerCPU: 8 * time.Millisecond}
	summarize(&r, []time.Duration{4, 1, 3, 2})
	if r.P50 != 2 || r.Max != 4 || r.RPS != 2 || r.CPUPerRequest != 2*time.Millisecond {
		t.Fatalf("summarize: %+v", r)
	}
	b, err := r.MarshalJSON()
	if err != nil || !strings.Contains(string(b), `"req_per_s":2`) {
		t.Fatalf("MarshalJSON = %s, %v", b, err)
	}
}

func TestCheckLoopback(t *testing.T) {
	tests := []struct {
		issuer string
		ok     bool
	}{
		{"http://127.0.0.1:5556", true},
		{"http://127.3.4.5/dex", true},
		{"http://[::1]:8080", true},
		{"http://localhost:5556", true},
		{"http://login.corp.localhost:5556", true},
		{"http://10.0.0.1:5556", false},
		{"https://192.0.2.7", false},
		{"http://[2001:db8::1]/", false},
		{"ftp://127.0.0.1/", false},
		{"not a url", false},
	}
	for _, tt := range tests {
		t.Run(tt.issuer, func(t *testing.T) {
			err := CheckLoopback(context.Background(), tt.issuer)
			if (err == nil) != tt.ok {
				t.Fatalf("CheckLoopback(%q) = %v, want ok=%v", tt.issuer, err, tt.ok)
			}
		})
	}
}

func TestLoopbackOnlyDialer(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:80", true},
		{"[::1]:443", true},
		{"[::ffff:127.0.0.1]:80", true},
		{"192.0.2.1:80", false},
		{"[2001:db8::1]:80", false},
	}
	for _, tt := range tests {
		err := loopbackOnly("tcp", tt.addr, nil)
		if (err == nil) != tt.ok {
			t.Errorf("loopbackOnly(%s) = %v, want ok=%v", tt.addr, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrNotLoopback) && tt.ok == false {
			t.Errorf("loopbackOnly(%s) = %v, want ErrNotLoopback", tt.addr, err)
		}
	}
}

func TestNewRefusesRemote(t *testing.T) {
	_, err := New(context.Background(), Config{Issuer: "http://192.0.2.1:5556", Requests: 1})
	if !errors.Is(err, ErrNotLoopback) {
		t.Fatalf("New with a remote issuer = %v, want ErrNotLoopback", err)
	}
}

func TestParseForms(t *testing.T) {
	page := `<html><form method="get" action="/search"><input name="q"></form>
<form method="post" action="/login/local?a=1&amp;b=2">
  <input type="hidden" name="req" value="r&#39;1">
  <input type='hidden' name='csrf' value='c2'>
  <input id="username" name="username" type="text" required autofocus value="">
  <input id="password" name="password" type="password">
  <button type="submit" class="primary">Sign in</button>
</form>
<FORM METHOD=POST action="/consent"><input type="hidden" name="req" value="r"><button type="submit" name="decision" value="allow">Allow</button><button name="decision" value="deny">Deny</button></FORM>`
	forms := parseForms(page)
	if len(forms) != 2 {
		t.Fatalf("got %d forms, want 2", len(forms))
	}
	login, consent := forms[0], forms[1]
	if login.action != "/login/local?a=1&b=2" || login.fields.Get("req") != "r'1" || login.fields.Get("csrf") != "c2" {
		t.Errorf("login form: %+v", login)
	}
	if !login.inputs["password"] || !login.inputs["username"] || login.fields.Has("password") {
		t.Errorf("login inputs: %+v", login.inputs)
	}
	if got := consent.buttons["decision"]; len(got) != 2 || got[0] != "allow" || consent.action != "/consent" {
		t.Errorf("consent form: %+v", consent)
	}
	if _, err := url.Parse(login.action); err != nil {
		t.Error(err)
	}
}
