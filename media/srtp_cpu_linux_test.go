//go:build linux

package media

// On Linux the SRTP benchmarks also report the process CPU time per packet,
// which a shared, loaded machine does not inflate as it does wall time.
func init() { benchCPU = processCPU }
