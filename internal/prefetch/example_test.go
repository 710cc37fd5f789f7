package prefetch_test

import (
	"fmt"

	"github.com/voicegw/voicegw/internal/prefetch"
)

type stream struct {
	seq     uint16
	samples int64
	ring    []int16
}

// Handle a batch in two passes: first read every item's state (the loads
// do not depend on one another, so their cache misses overlap), then do
// the work from cache.
func Example() {
	streams := make([]*stream, 1000)
	for i := range streams {
		streams[i] = &stream{ring: make([]int16, 8192)}
	}
	batch := []int{17, 503, 2, 999} // the streams a batch of packets is for
	var keep uintptr
	for _, i := range batch {
		s := streams[i]
		keep += prefetch.Object(s) + prefetch.Slice(s.ring, int(s.samples)&8191, 160)
	}
	for _, i := range batch {
		s := streams[i]
		s.seq++
		s.samples += 160
	}
	_ = keep // in real code: added to a field, so the loads stay
	fmt.Println(streams[17].samples, streams[503].seq)
	// Output: 160 1
}

// Hint what is written later, read only the field the next address is in:
// the hints do not hold the loop up, the reads of s.ring overlap.
func ExampleHint() {
	streams := make([]*stream, 1000)
	for i := range streams {
		streams[i] = &stream{ring: make([]int16, 8192)}
	}
	batch := []int{17, 503, 2, 999}
	for _, i := range batch {
		s := streams[i]
		prefetch.HintObject(s)
		prefetch.HintSlice(s.ring, int(s.samples)&8191, 160)
	}
	for _, i := range batch {
		s := streams[i]
		copy(s.ring[s.samples&8191:], []int16{1, 2, 3})
		s.samples += 160
	}
	fmt.Println(streams[2].samples, streams[2].ring[:3])
	// Output: 160 [1 2 3]
}
