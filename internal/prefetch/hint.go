package prefetch

import "unsafe"

// Hint asks the processor to bring the cache lines of the size bytes at p
// into its cache, and returns at once: unlike Touch, which loads a word of
// each line and holds up every instruction after it until the line is
// there, Hint's prefetch instructions do not wait for memory, so work that
// follows runs while the lines come. Use it for memory whose contents the
// code does not need to go on — the buffers a batch's items are about to
// be written into or read from — and Touch, or plain reads, where the next
// address is in what is read. A prefetch never faults, so a range that
// runs past its object, or into memory not mapped, is harmless; on
// processors without a prefetch instruction in Go's assembler (anything
// but amd64 and arm64) Hint does nothing.
func Hint(p unsafe.Pointer, size uintptr) {
	if size > 0 {
		hint(uintptr(p), size)
	}
}

// HintObject hints the cache lines of *p (see Hint); a nil p hints nothing.
func HintObject[T any](p *T) {
	if p != nil {
		Hint(unsafe.Pointer(p), unsafe.Sizeof(*p))
	}
}

// HintSlice hints the cache lines of s[i:i+n], clamped to s (see Hint).
func HintSlice[T any](s []T, i, n int) {
	if i < 0 || n <= 0 || i >= len(s) {
		return
	}
	n = min(n, len(s)-i)
	var zero T
	Hint(unsafe.Pointer(&s[i]), uintptr(n)*unsafe.Sizeof(zero))
}
