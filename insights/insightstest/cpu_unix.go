//go:build unix

package insightstest

import (
	"syscall"
	"time"
)

// CPUTime returns the user and system CPU time of this process so far, for
// benchmarks on shared machines where wall-clock time says little.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
