//go:build !unix

package recording

import "time"

// cpuTime is not available here; benchmarks fall back to elapsed time.
func cpuTime() time.Duration { return 0 }
