//go:build unix

package dpop_test

import (
	"syscall"
	"testing"
	"time"
)

// cpuMeter reports the process CPU time (user + system) per operation as "cpu-ns/op":
// wall-clock ns/op includes waiting, which the token endpoint's CPU budget does not.
type cpuMeter struct{ start time.Duration }

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU(b *testing.B) cpuMeter { return cpuMeter{processCPU(b)} }

func (m cpuMeter) report(b *testing.B) {
	b.ReportMetric(float64(processCPU(b)-m.start)/float64(b.N), "cpu-ns/op")
}
