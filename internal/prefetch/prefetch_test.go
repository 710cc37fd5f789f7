package prefetch

import (
	"sync"
	"testing"
	"unsafe"
)

func TestTouchReadsOneWordPerLine(t *testing.T) {
	const word = unsafe.Sizeof(uintptr(0))
	words := make([]uintptr, 8*Line/word) // 8 lines
	for i := range words {
		words[i] = uintptr(i + 1)
	}
	per := Line / int(word)
	cases := []struct {
		name string
		size uintptr
		want uintptr
	}{
		{"nothing", 0, 0},
		{"less than a word", word - 1, 0},
		{"one word", word, words[0]},
		{"one line", Line, words[0]},
		{"a line and a word", Line + word, words[0] + words[per]},
		{"all", uintptr(len(words)) * word, 0},
	}
	for i := 0; i < len(words); i += per {
		cases[len(cases)-1].want += words[i]
	}
	for _, c := range cases {
		if got := Touch(unsafe.Pointer(&words[0]), c.size); got != c.want {
			t.Errorf("%s: Touch(%d bytes) = %d, want %d", c.name, c.size, got, c.want)
		}
	}
}

func TestObjectAndSlice(t *testing.T) {
	type state struct {
		a uintptr
		_ [Line - unsafe.Sizeof(uintptr(0))]byte
		b uintptr
	}
	s := &state{a: 3, b: 4}
	if got := Object(s); got != 7 {
		t.Errorf("Object = %d, want 7 (a word of each of its two lines)", got)
	}
	if got := Object[state](nil); got != 0 {
		t.Errorf("Object(nil) = %d, want 0", got)
	}
	xs := make([]uint64, 32) // 4 lines
	for i := range xs {
		xs[i] = uint64(i)
	}
	cases := []struct {
		i, n int
		want uintptr
	}{
		{0, 32, 0 + 8 + 16 + 24},
		{8, 8, 8},
		{8, 9, 8 + 16},
		{30, 100, 30}, // clamped to the slice's end
		{-1, 4, 0},
		{32, 4, 0},
		{4, 0, 0},
	}
	for _, c := range cases {
		if got := Slice(xs, c.i, c.n); got != c.want {
			t.Errorf("Slice(xs, %d, %d) = %d, want %d", c.i, c.n, got, c.want)
		}
	}
	if got := Slice([]byte(nil), 0, 10); got != 0 {
		t.Errorf("Slice(nil) = %d, want 0", got)
	}
}

// TestTouchUnaligned: from an address that is not word-aligned Touch
// reads the aligned words inside the range only.
func TestTouchUnaligned(t *testing.T) {
	const word = unsafe.Sizeof(uintptr(0))
	words := []uintptr{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18}
	p := unsafe.Add(unsafe.Pointer(&words[0]), 1)
	if got := Touch(p, word); got != 0 {
		t.Errorf("one word's size from an odd address: %d, want 0 (no aligned word inside)", got)
	}
	if got := Touch(p, 2*word); got != words[1] {
		t.Errorf("two words' size from an odd address: %d, want the second word %d", got, words[1])
	}
}

// TestTouchWhileWritten reads memory another goroutine writes: under -race
// it must not report (Touch's reads are hints, not synchronized reads).
func TestTouchWhileWritten(t *testing.T) {
	words := make([]uintptr, 64)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 10000 {
			words[i%len(words)] = uintptr(i)
		}
	}()
	var sum uintptr
	for range 10000 {
		sum += Slice(words, 0, len(words))
	}
	wg.Wait()
	_ = sum
}
