//go:build !amd64 && !arm64

package prefetch

func hint(p, size uintptr) {}
