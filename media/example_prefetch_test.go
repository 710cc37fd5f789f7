package media_test

import (
	"fmt"

	"github.com/voicegw/voicegw/media"
)

// peakMeter keeps the loudest sample of a stream. Its Prefetch reads the
// field HandleAudio updates, so that a Poller worker handling a batch of
// datagrams for thousands of streams fetches every meter from memory at
// once before it handles any packet (see media.Prefetcher).
type peakMeter struct {
	peak int16
}

func (m *peakMeter) HandleAudio(a media.Audio) {
	for _, v := range a.PCM {
		m.peak = max(m.peak, v, -v)
	}
}
func (m *peakMeter) HandleGap(media.Gap)   {}
func (m *peakMeter) HandleDTMF(media.DTMF) {}

// Prefetch only reads: it runs on the worker, before the packets of the
// batch are handled, and must not lock, write or block.
func (m *peakMeter) Prefetch() uintptr { return uintptr(m.peak) }

func ExamplePrefetcher() {
	var h media.Handler = &peakMeter{}
	_, prefetches := h.(media.Prefetcher) // what a Poller checks when the Receiver is made
	h.HandleAudio(media.Audio{PCM: []int16{120, -3000, 42}})
	fmt.Println(prefetches, h.(*peakMeter).peak)
	// Output: true 3000
}
