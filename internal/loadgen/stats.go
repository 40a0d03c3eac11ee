package loadgen

import (
	"encoding/json"
	"math"
	"slices"
	"time"
)

// Result is the outcome of one scenario.
type Result struct {
	Scenario string
	// Requests counts every operation attempted; Errors those that failed. For the codeflow
	// scenario one operation is a whole login (several HTTP requests).
	Requests, Errors int64
	Concurrency      int
	Elapsed          time.Duration
	// RPS is Requests per second of Elapsed.
	RPS float64
	// Latency percentiles and maximum over the successful operations.
	P50, P90, P99, Max time.Duration
	// ServerCPU is the server's CPU time (user+system) spent during the scenario, and
	// CPUPerRequest that divided by Requests; both zero when no PID was given.
	ServerCPU, CPUPerRequest time.Duration
	// ServerRSS is the server's resident set size in bytes after the scenario (0: no PID).
	ServerRSS int64
	// FirstError describes the first failure, if any.
	FirstError string
	// SignCPU (client_credentials and forwardauth) is the CPU time of one ES256 signature in
	// this process, measured in the same run: the floor the server's CPU per request is
	// set beside.
	SignCPU time.Duration
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// MarshalJSON writes durations as milliseconds (floating point) with unit-named keys.
func (r Result) MarshalJSON() ([]byte, error) {
	type view struct {
		Scenario      string   `json:"scenario"`
		Requests      int64    `json:"requests"`
		Errors        int64    `json:"errors"`
		Concurrency   int      `json:"concurrency"`
		ElapsedS      float64  `json:"elapsed_s"`
		RPS           float64  `json:"req_per_s"`
		P50           float64  `json:"p50_ms"`
		P90           float64  `json:"p90_ms"`
		P99           float64  `json:"p99_ms"`
		Max           float64  `json:"max_ms"`
		ServerCPU     *float64 `json:"server_cpu_ms,omitempty"`
		CPUPerRequest *float64 `json:"server_cpu_ms_per_req,omitempty"`
		ServerRSS     int64    `json:"server_rss_bytes,omitempty"`
		FirstError    string   `json:"first_error,omitempty"`
		SignCPU       *float64 `json:"es256_sign_cpu_ms,omitempty"`
	}
	v := view{
		Scenario: r.Scenario, Requests: r.Requests, Errors: r.Errors, Concurrency: r.Concurrency,
		ElapsedS: r.Elapsed.Seconds(), RPS: r.RPS, P50: ms(r.P50), P90: ms(r.P90), P99: ms(r.P99), Max: ms(r.Max),
		ServerRSS: r.ServerRSS, FirstError: r.FirstError,
	}
	if r.SignCPU != 0 {
		sign := ms(r.SignCPU)
		v.SignCPU = &sign
	}
	if r.ServerRSS != 0 || r.ServerCPU != 0 {
		cpu, per := ms(r.ServerCPU), ms(r.CPUPerRequest)
		v.ServerCPU, v.CPUPerRequest = &cpu, &per
	}
	return json.Marshal(v)
}

// percentile returns the p-th percentile (0 < p <= 100) of sorted samples by the
// nearest-rank method; zero for no samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// summarize fills the latency fields of r from the samples (which it sorts).
func summarize(r *Result, samples []time.Duration) {
	slices.Sort(samples)
	r.P50 = percentile(samples, 50)
	r.P90 = percentile(samples, 90)
	r.P99 = percentile(samples, 99)
	if len(samples) > 0 {
		r.Max = samples[len(samples)-1]
	}
	if r.Elapsed > 0 {
		r.RPS = float64(r.Requests) / r.Elapsed.Seconds()
	}
	if r.Requests > 0 {
		r.CPUPerRequest = r.ServerCPU / time.Duration(r.Requests)
	}
}
