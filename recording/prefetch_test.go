package recording

import (
	"bytes"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/voicegw/voicegw/media"
)

// TestPrefetchChangesNothing records the same two-party call twice, once
// with both handlers' Prefetch called before every packet and between
// them, through the ring's wrap-around (3 s of audio, a 1 s Window), the
// file buffer's spills and a late stream; the two files must be identical
// byte for byte, and so must the handlers' statistics.
func TestPrefetchChangesNothing(t *testing.T) {
	record := func(prefetch bool) ([]byte, [2]MediaStats) {
		r, path := newTestRecorder(t, Config{Streams: twoStreams()})
		var hs [2]*MediaHandler
		for i := range hs {
			h, err := r.Stream(i).MediaHandler()
			must(t, err)
			hs[i] = h
		}
		var keep uintptr
		pf := func() {
			if prefetch {
				keep += hs[0].Prefetch() + hs[1].Prefetch()
			}
		}
		pf() // before any audio
		buf := make([]int16, 160)
		for k := int64(0); k < 150; k++ {
			for i, h := range hs {
				if i == 1 && k < 20 {
					continue // the callee starts 0.4 s late
				}
				pos := k * 160
				if i == 1 {
					pos -= 20 * 160
				}
				copy(buf, tone(float64(400+600*i), 8000, rate8k, pos, 160))
				pf()
				h.HandleAudio(media.Audio{Position: pos, PCM: buf, Arrival: t0.Add(time.Duration(k) * 20 * time.Millisecond), Encoding: media.EncodingPCMU})
			}
		}
		pf()
		if _, err := r.Stop(); err != nil {
			t.Fatal(err)
		}
		pf() // after Stop: still only reads
		b, err := os.ReadFile(path)
		must(t, err)
		return b, [2]MediaStats{hs[0].Stats(), hs[1].Stats()}
	}
	plain, plainStats := record(false)
	fetched, fetchedStats := record(true)
	if !bytes.Equal(plain, fetched) {
		t.Errorf("the recording made with Prefetch calls differs from the one without (%d and %d bytes)", len(fetched), len(plain))
	}
	if plainStats != fetchedStats {
		t.Errorf("statistics with Prefetch %+v, without %+v", fetchedStats, plainStats)
	}
	if len(plain) < 44+2*2*8000*2 {
		t.Errorf("recording of %d bytes: the call did not run through the ring's wrap-around", len(plain))
	}
}

// TestPrefetchWhileRecording calls Prefetch from one goroutine while
// another feeds the handlers, as a Poller worker's batch does with the
// recorder's other callers (Stop, Pause from the session's goroutine):
// under -race it must report nothing.
func TestPrefetchWhileRecording(t *testing.T) {
	r, _ := newTestRecorder(t, Config{Streams: twoStreams()})
	var hs [2]*MediaHandler
	for i := range hs {
		h, err := r.Stream(i).MediaHandler()
		must(t, err)
		hs[i] = h
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var keep uintptr
		for {
			select {
			case <-done:
				_ = keep
				return
			default:
				keep += hs[0].Prefetch() + hs[1].Prefetch()
			}
		}
	}()
	buf := make([]int16, 160)
	for k := int64(0); k < 200; k++ {
		for _, h := range hs {
			h.HandleAudio(media.Audio{Position: k * 160, PCM: buf, Arrival: t0.Add(time.Duration(k) * 20 * time.Millisecond), Encoding: media.EncodingPCMU})
		}
	}
	if _, err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	close(done)
	wg.Wait()
}
