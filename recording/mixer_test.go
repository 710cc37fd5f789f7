package recording

import (
	"fmt"
	"testing"
	"unsafe"
)

// TestMixInterleave checks the two-party interleave against the rings'
// samples, into aligned and misaligned destinations and across the ring's
// range, with the extreme sample values, and that it writes nothing
// outside the frames.
func TestMixInterleave(t *testing.T) {
	const w = 512
	streams := []*Stream{{ring: make([]int16, w)}, {ring: make([]int16, w)}}
	for i := range w {
		streams[0].ring[i] = int16(i*97 - 32768)
		streams[1].ring[i] = int16(32767 - i*131)
	}
	streams[0].ring[3], streams[1].ring[4] = -32768, -1
	m := newMixer([][]int{{0}, {1}})
	words := make([]uint32, w+1) // 4-byte aligned
	buf := unsafe.Slice((*int16)(unsafe.Pointer(&words[0])), 2*len(words))
	for _, off := range []int{0, 1} { // off 1: a destination not 4-byte aligned
		for _, c := range []struct{ ri, n int64 }{{0, 160}, {7, 1}, {100, 256}, {0, w}} {
			frames := buf[off : off+int(2*c.n)]
			clear(buf)
			m.mixTo(frames, streams, c.ri, c.n)
			for i := int64(0); i < c.n; i++ {
				l, r := frames[2*i], frames[2*i+1]
				if l != streams[0].ring[c.ri+i] || r != streams[1].ring[c.ri+i] {
					t.Fatalf("offset %d, ri %d n %d: frame %d = (%d, %d), want (%d, %d)", off, c.ri, c.n, i, l, r, streams[0].ring[c.ri+i], streams[1].ring[c.ri+i])
				}
			}
			if off == 1 && buf[0] != 0 || off+int(2*c.n) < len(buf) && buf[off+int(2*c.n)] != 0 {
				t.Fatalf("offset %d, n %d: wrote outside the frames", off, c.n)
			}
		}
	}
}

// BenchmarkMixInterleave: one 20 ms packet's frames (160) of a two-party
// call interleaved into a stereo buffer, in cache.
func BenchmarkMixInterleave(b *testing.B) {
	for _, off := range []int{0, 1} {
		b.Run(fmt.Sprintf("aligned=%v", off == 0), func(b *testing.B) {
			streams := []*Stream{{ring: make([]int16, 1024)}, {ring: make([]int16, 1024)}}
			m := newMixer([][]int{{0}, {1}})
			words := make([]uint32, 161) // 4-byte aligned
			buf := unsafe.Slice((*int16)(unsafe.Pointer(&words[0])), 2*len(words))
			frames := buf[off : off+320]
			b.SetBytes(640)
			for i := 0; b.Loop(); i++ {
				m.mixTo(frames, streams, int64(i%6)*160, 160)
			}
		})
	}
}
