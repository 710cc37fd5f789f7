//go:build amd64 || arm64

package prefetch

// hint issues a prefetch for each cache line of [p, p+size), size > 0
// (hint_amd64.s, hint_arm64.s). p is a uintptr: the lines may start before
// the object p points into, and nothing is read.
//
//go:noescape
func hint(p, size uintptr)
