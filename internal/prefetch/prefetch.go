// Package prefetch brings memory into the processor's cache ahead of its
// use. Code that handles a batch of items, each with state far from the
// others' (a Poller worker's datagrams, one per stream of thousands), can
// first go over every item's state — the processor then has many cache
// misses in flight at once — and handle the items from cache after,
// instead of waiting for one miss after another.
//
// Two ways: Hint issues the processor's prefetch instructions (amd64,
// arm64), which do not wait for the memory, for what the code only needs
// later; Touch loads a word of each line, and waits for it, for what it
// needs now (the next address is in it) or where Go has no prefetch
// instruction.
package prefetch

import "unsafe"

// Line is the distance between the words Touch reads: the cache line of
// the processors Go runs on (64 bytes; 128 on some arm64, which reading
// every 64 bytes covers).
const Line = 64

// Touch reads one word of every Line bytes of the size bytes at p (from
// the first word-aligned address) and
// returns their sum; the caller keeps it (adds it to a field), or the
// compiler may drop the loads. The values mean nothing and may be read
// while another goroutine writes them, so Touch is not instrumented by the
// race detector. p must point into a live object with at least size bytes
// from p; size 0 reads nothing.
//
//go:norace
//go:nocheckptr
func Touch(p unsafe.Pointer, size uintptr) uintptr {
	var sum uintptr
	const word = unsafe.Sizeof(sum)
	// from the first aligned word: an unaligned load traps on some
	// processors (mips, older arm)
	off := (word - uintptr(p)%word) % word
	for ; off+word <= size; off += Line {
		sum += *(*uintptr)(unsafe.Add(p, off))
	}
	return sum
}

// Object touches every cache line of *p (see Touch). A nil p reads nothing.
func Object[T any](p *T) uintptr {
	if p == nil {
		return 0
	}
	return Touch(unsafe.Pointer(p), unsafe.Sizeof(*p))
}

// Slice touches the cache lines of s[i:i+n], clamped to s (see Touch).
func Slice[T any](s []T, i, n int) uintptr {
	if i < 0 || n <= 0 || i >= len(s) {
		return 0
	}
	n = min(n, len(s)-i)
	var zero T
	return Touch(unsafe.Pointer(&s[i]), uintptr(n)*unsafe.Sizeof(zero))
}
