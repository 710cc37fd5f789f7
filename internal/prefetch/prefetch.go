// Package prefetch brings memory into the processor's cache ahead of its
// use. Code that handles a batch of items, each with state far from the
// others' (a Poller worker's datagrams, one per stream of thousands), can
// first hint every item's state — the processor then has many cache misses
// in flight at once — and handle the items from cache after, instead of
// waiting for one miss after another.
//
// Hint issues the processor's prefetch instructions (amd64, arm64), which
// do not wait for the memory: work that follows runs while the lines come.
// Where the next address is in what is read, read that field plainly: only
// that read waits.
package prefetch

import "unsafe"

// Line is the cache line of the processors Go runs on (64 bytes; 128 on
// some arm64, which hinting every 64 bytes covers).
const Line = 64

// Hint asks the processor to bring the cache lines of the size bytes at p
// into its cache, and returns at once. A prefetch never faults, so a range
// that runs past its object, or into memory not mapped, is harmless; on
// processors without a prefetch instruction in Go's assembler (anything
// but amd64 and arm64) Hint does nothing.
func Hint(p unsafe.Pointer, size uintptr) {
	if size > 0 {
		hint(uintptr(p), size)
	}
}

// HintObject hints the cache lines of *p; a nil p hints nothing.
func HintObject[T any](p *T) {
	if p != nil {
		Hint(unsafe.Pointer(p), unsafe.Sizeof(*p))
	}
}

// HintSlice hints the cache lines of s[i:i+n], clamped to s.
func HintSlice[T any](s []T, i, n int) {
	Hint(sliceSpan(s, i, n))
}

// sliceSpan is where s[i:i+n], clamped to s, starts and how many bytes it
// has; 0 bytes when nothing of it is inside s.
func sliceSpan[T any](s []T, i, n int) (unsafe.Pointer, uintptr) {
	if i < 0 || n <= 0 || i >= len(s) {
		return nil, 0
	}
	n = min(n, len(s)-i)
	var zero T
	return unsafe.Pointer(&s[i]), uintptr(n) * unsafe.Sizeof(zero)
}
