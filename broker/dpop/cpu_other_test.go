//go:build !unix

package dpop_test

import "testing"

type cpuMeter struct{}

func startCPU(*testing.B) cpuMeter { return cpuMeter{} }

func (cpuMeter) report(*testing.B) {}
