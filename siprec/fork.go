package siprec

import (
	"sync"
	"sync/atomic"

	"github.com/voicegw/voicegw/media"
)

// Fork is one stream of a recorded call (the audio one party sends,
// labelled as in the SDP and metadata), forked to every live recording
// server: each recorder gets its own RTP stream with its own SSRC, sent to
// the address it answered, in the codec it chose (PCMU or PCMA, transcoded
// when the source is in the other). While the recording is paused, or a
// recorder's dialog is inactive, nothing is sent to it but its RTP
// timestamps keep running (media.Sender.Skip), so the recorder sees a gap of
// the pause's true length.
//
// Feed a Fork with the call leg's audio as it comes, one packet at a time:
// WriteEncoded for G.711 as received, WritePCM for decoded audio, Skip for a
// stretch without audio (lost packets, suppressed silence). Writes do not
// allocate. A Fork is safe for concurrent use, but one writer per Fork
// keeps the stream in order.
type Fork struct {
	label string
	m     *Manager
	legs  atomic.Pointer[[]*forkLeg] // live recorders' senders, copy-on-write

	mu  sync.Mutex
	pcm []int16 // transcoding scratch
}

// forkLeg is the stream of one Fork towards one recorder.
type forkLeg struct {
	stream *recStream
	s      *media.Sender
	enc    media.Encoding
}

// live reports whether the leg may send now.
func (l *forkLeg) live() bool {
	return l.stream.rec.sending.Load() && l.stream.remote.Load()
}

// Label returns the stream's a=label.
func (f *Fork) Label() string { return f.label }

// Recorders returns the number of recording servers the stream goes to.
func (f *Fork) Recorders() int {
	if p := f.legs.Load(); p != nil {
		return len(*p)
	}
	return 0
}

// WriteEncoded forks G.711 audio in encoding enc (media.EncodingPCMU or
// media.EncodingPCMA; one byte per sample at 8000 Hz), packetised at the
// negotiated ptime. It returns the first send error, after trying every
// recorder.
func (f *Fork) WriteEncoded(enc media.Encoding, g711 []byte) error {
	p := f.legs.Load()
	if p == nil || len(*p) == 0 || len(g711) == 0 {
		return nil
	}
	paused := f.m.paused.Load()
	f.mu.Lock()
	defer f.mu.Unlock()
	var firstErr error
	decoded := false
	for _, l := range *p {
		var err error
		switch {
		case paused || !l.live():
			l.s.Skip(len(g711))
		case l.enc == enc:
			err = l.s.WriteEncoded(g711)
		default:
			if !decoded {
				f.decode(enc, g711)
				decoded = true
			}
			err = l.s.WritePCM(f.pcm[:len(g711)])
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// decode fills f.pcm with g711 decoded; f.mu held.
func (f *Fork) decode(enc media.Encoding, g711 []byte) {
	if cap(f.pcm) < len(g711) {
		f.pcm = make([]int16, len(g711))
	}
	f.pcm = f.pcm[:len(g711)]
	if enc == media.EncodingPCMA {
		media.DecodePCMA(f.pcm, g711)
	} else {
		media.DecodePCMU(f.pcm, g711)
	}
}

// WritePCM forks 16-bit linear audio at 8000 Hz, encoded in each
// recorder's codec. It returns the first send error, after trying every
// recorder.
func (f *Fork) WritePCM(pcm []int16) error {
	p := f.legs.Load()
	if p == nil || len(*p) == 0 || len(pcm) == 0 {
		return nil
	}
	paused := f.m.paused.Load()
	f.mu.Lock()
	defer f.mu.Unlock()
	var firstErr error
	for _, l := range *p {
		var err error
		if paused || !l.live() {
			l.s.Skip(len(pcm))
		} else {
			err = l.s.WritePCM(pcm)
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// Skip advances every recorder's stream by samples without sending: a
// stretch of the call without audio. The recorders see a gap of exactly
// that length.
func (f *Fork) Skip(samples int) {
	p := f.legs.Load()
	if p == nil || samples <= 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, l := range *p {
		l.s.Skip(samples)
	}
}
