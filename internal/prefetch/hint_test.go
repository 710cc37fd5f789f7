//go:build unix

package prefetch

import (
	"math/rand/v2"
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestHintNeverFaults: a prefetch of memory that is not mapped, or of no
// object at all, is dropped by the processor, not a fault; Hint is given
// such ranges when a hint position was read while another goroutine moved
// it, so it must survive them.
func TestHintNeverFaults(t *testing.T) {
	page := unix.Getpagesize()
	mem, err := unix.Mmap(-1, 0, 2*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Skipf("mmap: %v", err)
	}
	defer unix.Munmap(mem)
	// the second page inaccessible: the range below runs into it
	if err := unix.Mprotect(mem[page:], unix.PROT_NONE); err != nil {
		t.Fatalf("mprotect: %v", err)
	}
	mem[page-1] = 7
	Hint(unsafe.Pointer(&mem[page-8]), uintptr(page))
	Hint(unsafe.Pointer(&mem[0]), 0)
	Hint(nil, 1<<20)
	HintObject[[4096]byte](nil)
	HintSlice(mem[:page], page-1, 1<<20)
	HintSlice(mem[:page], -1, 10)
	HintSlice([]int16(nil), 0, 10)
	if mem[page-1] != 7 {
		t.Fatalf("a hinted byte changed: %d", mem[page-1])
	}
	t.Logf("%s: no fault", runtime.GOARCH)
}

func TestSliceSpan(t *testing.T) {
	xs := make([]uint64, 32)
	for _, c := range []struct {
		i, n  int
		first int // index of the first element; -1: nothing
		size  uintptr
	}{
		{0, 32, 0, 256},
		{8, 8, 8, 64},
		{30, 100, 30, 16}, // clamped to the slice's end
		{-1, 4, -1, 0},
		{32, 4, -1, 0},
		{4, 0, -1, 0},
		{4, -3, -1, 0},
	} {
		p, size := sliceSpan(xs, c.i, c.n)
		want := unsafe.Pointer(nil)
		if c.first >= 0 {
			want = unsafe.Pointer(&xs[c.first])
		}
		if p != want || size != c.size {
			t.Errorf("sliceSpan(xs, %d, %d) = %p, %d; want %p, %d", c.i, c.n, p, size, want, c.size)
		}
	}
	if p, size := sliceSpan([]int16(nil), 0, 10); p != nil || size != 0 {
		t.Errorf("sliceSpan(nil) = %p, %d; want nothing", p, size)
	}
}

// touch is the load-based read-ahead Hint replaced (a word of every line,
// which holds up what follows until the line is there): the benchmarks'
// baseline.
//
//go:norace
//go:nocheckptr
func touch(p unsafe.Pointer, size uintptr) uintptr {
	var sum uintptr
	for off := uintptr(0); off+8 <= size; off += Line {
		sum += *(*uintptr)(unsafe.Add(p, off))
	}
	return sum
}

// scattered is a set of lines far apart, in a buffer much larger than the
// caches, visited in an order the hardware prefetchers cannot guess.
type scattered struct {
	mem   []byte
	order []int
}

func newScattered() *scattered {
	const size = 256 << 20
	s := &scattered{mem: make([]byte, size)}
	for i := range s.mem {
		s.mem[i] = byte(i)
	}
	s.order = rand.Perm(size / Line)
	return s
}

// The two benchmarks do the same: for each batch of 16 lines, fetch all
// of them, then add up a word of each. With loads (touch) the fetch waits for the
// lines; with Hint the adds start while they come. Their difference is
// what a hint saves a batch's first items (run both with -benchtime=3x
// or more on a quiet machine; the figures are in BENCHMARKS.md).
func BenchmarkBatchTouch(b *testing.B) { benchBatch(b, false) }
func BenchmarkBatchHint(b *testing.B)  { benchBatch(b, true) }

func benchBatch(b *testing.B, hint bool) {
	s := newScattered()
	const batch = 16
	var sum uintptr
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		o := s.order[(i*batch)%(len(s.order)-batch):][:batch]
		for _, l := range o {
			p := unsafe.Pointer(&s.mem[l*Line])
			if hint {
				Hint(p, Line)
			} else {
				sum += touch(p, Line)
			}
		}
		for _, l := range o {
			sum += uintptr(s.mem[l*Line+8])
		}
	}
	b.StopTimer()
	if sum == 1 {
		b.Log(sum)
	}
}
