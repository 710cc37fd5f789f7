package prefetch_test

import (
	"fmt"

	"github.com/voicegw/voicegw/internal/prefetch"
)

type stream struct {
	samples int64
	ring    []int16
}

// Hint what is written later, read only the field the next address is in:
// the hints do not hold the loop up, the reads of s.ring overlap.
func Example() {
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
