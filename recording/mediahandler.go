package recording

import (
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/voicegw/voicegw/media"
)

// MediaHandler feeds one Stream from a media.Receiver: it is the
// media.Handler of the Receiver that receives that stream's RTP, so a
// stream's packets go from the socket into the recording without a copy
// of their own (Stream.Write copies media's short-lived PCM buffer into the
// stream's window) and without an allocation.
//
// The timeline rule is media's: a Receiver delivers one continuous sample
// timeline per stream, starting at 0 with the first sample delivered, and
// the Arrival of that first Audio is the wall-clock time of the stream's
// sample 0. The first delivery therefore places the stream on the
// recording's timeline with Stream.Start(Arrival) (unless the stream was
// placed already, with Start or StartAt), so a party whose RTP starts late
// starts late in the file, by its arrival time; from there every Audio is
// written at its Position and every Gap is silence of exactly its Samples,
// so lost packets, silence suppression and a sender's pause keep the file
// true to the call. (A packet's first sample was captured a packet's length
// before it left its sender, so every stream sits one ptime, 20 ms usually,
// later in the file than it was spoken; parties with the same ptime stay
// aligned to each other. Placing by arrival rather than arrival less the
// ptime keeps a stream whose first packet comes within a ptime of the
// recording's start from losing its first samples.) Create the recording
// (Dir.Create or New, whose Config.Start defaults to now) before the
// Receivers start: audio that lies before the recording's start is dropped
// (Stream.Stats counts it as late).
//
// # Sender clock drift
//
// Positions are the sender's sample clock, which is not the wall clock: a
// phone whose clock runs 100 ppm fast sends 360 ms (18 packets) more audio
// an hour than an hour holds, and two parties at +50 and -50 ppm drift
// apart as much. The handler therefore keeps each stream on the wall clock
// by its packets' Arrival. Network jitter only ever delays an arrival, so
// the lowest value of (arrival − position), over a sliding window of the
// last 4 s of arrivals, follows the sender's clock and ignores the jitter;
// its value over the first full window (at least 1 s of audio in it) is
// the stream's reference. When the stream's positions then run more than
// Config.MaxDrift (10 ms by default: half a 20 ms packet) ahead of that
// reference, the handler drops that many samples at the start of the next
// packet (at most one packet's worth per correction: the cut lies at a
// packet boundary); when they fall as far behind, it inserts that much
// silence before the next packet. Either way every later position of the
// stream moves by the same amount (MediaStats.Dropped and Inserted count
// the samples), so a stream ends within MaxDrift (plus the window's
// estimation error, a sample or two) of the wall clock however long the
// call. A stream with an accurate clock is never corrected however
// jittery its network, as long as the jitter's lowest delay recurs
// within the window (any packet stream does: a 4 s window holds 200
// packets). Audio without an Arrival (zero time) is taken as given, and a
// negative Config.MaxDrift turns the correction off.
//
// # Never ahead of the wall clock
//
// Whatever the stream's positions say, the handler writes nothing more than
// the Window ahead of the wall clock: a sample at stream position p that
// arrived at Arrival lies at Offset+p on the recording's timeline, and must
// not lie past position(Arrival)+Window (the recording's jitter window,
// Config.Window rounded up to a power of two samples). What would is
// dropped and counted (StreamStats.Ahead, Stats.Ahead); a gap is cut the
// same way (its Arrival is that of the packet after it, or else the
// latest Audio's). A sender whose timestamps run ahead of time, or that
// sends faster than real time, therefore cannot make a file longer than
// the call: the recording is at most the wall-clock time from Config.Start
// to the latest arrival, plus the Window (FuzzRTPTimeline checks it for
// arbitrary packets through a real media.Receiver). package media bounds
// its own timeline too (media.ReceiverConfig.MaxTimestampSkew); this bound
// holds whatever that is set to. The drift correction above keeps an
// honest stream within MaxDrift of the wall clock, far inside the Window,
// so it never meets the bound. Audio without an Arrival is taken as given.
//
// DTMF events are counted and otherwise ignored: RFC 4733 events replace
// audio, and the Receiver reports the stretch they covered as a Gap, so it
// is silence in the file. A gateway that wants the digits wraps the handler:
//
//	h, _ := rec.Stream(i).MediaHandler()
//	handler := media.HandlerFuncs{Audio: h.HandleAudio, Gap: h.HandleGap, DTMF: onDigit}
//
// Deliveries after Recorder.Stop, Finish or Stream.End, or after a write
// failure, are refused and counted (MediaStats.Refused): a Receiver still
// running when the call's BYE finished the recording does no harm. The
// failure itself is what Stop and Finish return; the first refusal for
// another reason than a stopped recording is also logged.
//
// Its methods are called by the Receiver's goroutine; Stats may be called
// from any goroutine.
type MediaHandler struct {
	s        *Stream
	last     time.Time // Arrival of the latest audio; guarded by the recorder's lock
	audio    atomic.Int64
	gaps     atomic.Int64
	dtmf     atomic.Int64
	refused  atomic.Int64
	dropped  atomic.Int64
	inserted atomic.Int64
	warned   atomic.Bool
	// drift is guarded by the recorder's lock.
	drift drift
}

const (
	// driftBuckets × driftBucket is the sliding window over which the
	// lowest (arrival − position) is taken: 8 × 0.5 s.
	driftBuckets = 8
	// driftBucketDiv: a bucket is SampleRate/driftBucketDiv samples of
	// wall-clock time.
	driftBucketDiv = 2
	// driftMinAudioDiv: the window must hold at least SampleRate /
	// driftMinAudioDiv samples of audio (1 s) to be trusted.
	driftMinAudioDiv = 1
)

// drift follows how a stream's positions run against the wall clock (see
// MediaHandler). Values are samples; e is the wall-clock time of a
// packet's arrival since the stream's sample 0, less its position.
type drift struct {
	// shift is added to every position the handler receives.
	shift int64
	// base is the lowest e over the first full window.
	base     int64
	haveBase bool
	tracking bool
	// cur is the number of the current bucket (wall-clock time since the
	// stream's sample 0, in buckets); low[i] and n[i] are the lowest e and
	// the samples of audio that arrived in bucket i mod driftBuckets.
	cur int64
	low [driftBuckets]int64
	n   [driftBuckets]int64
}

// correction records the arrival of audio at pos (n samples) at wall
// position w (samples since the stream's sample 0) and returns how many
// samples to insert (positive) or drop (negative) before it; 0 mostly.
func (d *drift) correction(w, pos, n, rate, limit int64) int64 {
	e := w - pos
	b := max(w, 0) / max(1, rate/driftBucketDiv)
	if !d.tracking {
		d.tracking = true
		d.cur = b
		for i := range d.low {
			d.low[i], d.n[i] = math.MaxInt64, 0
		}
	}
	if b > d.cur {
		for i := d.cur + 1; i <= min(b, d.cur+driftBuckets); i++ {
			d.low[i%driftBuckets], d.n[i%driftBuckets] = math.MaxInt64, 0
		}
		d.cur = b
	}
	j := d.cur % driftBuckets
	d.low[j] = min(d.low[j], e)
	d.n[j] += n
	low, audio := int64(math.MaxInt64), int64(0)
	for i := range d.low {
		low = min(low, d.low[i])
		audio += d.n[i]
	}
	if audio < rate/driftMinAudioDiv {
		return 0
	}
	if !d.haveBase {
		if d.cur >= driftBuckets {
			d.base, d.haveBase = low, true
		}
		return 0
	}
	// dev > 0: the positions (shifted) run behind the wall clock.
	dev := low - d.base - d.shift
	switch {
	case dev > limit:
		return min(dev, n)
	case dev < -limit:
		return -min(-dev, n)
	}
	return 0
}

var _ media.Handler = (*MediaHandler)(nil)

// MediaHandler returns the handler that feeds s from a media.Receiver
// (always the same one for a stream):
//
//	h, err := rec.Stream(i).MediaHandler()
//	rx, err := media.NewReceiver(ep, media.ReceiverConfig{Handler: h, Codecs: answer.Media[i].Codecs})
//
// Package media decodes G.711 at media.SampleRate (8000 Hz): a recording
// configured with another Config.SampleRate cannot take its audio, and
// MediaHandler returns an error wrapping ErrBadConfig. It returns the same
// for a nil Stream (Recorder.Stream with an index out of range).
func (s *Stream) MediaHandler() (*MediaHandler, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: MediaHandler of a stream that does not exist", ErrBadConfig)
	}
	if s.r.rate != media.SampleRate {
		return nil, fmt.Errorf("%w: stream %d (%q): package media delivers %d Hz audio, the recording is %d Hz",
			ErrBadConfig, s.index, s.label, media.SampleRate, s.r.rate)
	}
	return &s.media, nil
}

// Stream returns the stream the handler feeds.
func (h *MediaHandler) Stream() *Stream { return h.s }

// HandleAudio writes one packet's decoded audio at its position, placing
// the stream on the recording's timeline first if this is its first
// delivery (see MediaHandler). It implements media.Handler.
func (h *MediaHandler) HandleAudio(a media.Audio) {
	h.audio.Add(1)
	s := h.s
	r := s.r
	r.mu.Lock()
	err := h.place(a.Arrival, a.Position)
	pos, pcm := a.Position+h.drift.shift, a.PCM
	if err == nil && r.maxDrift > 0 && s.started && !a.Arrival.IsZero() && len(pcm) > 0 {
		w := r.position(a.Arrival) - s.offset
		switch c := h.drift.correction(w, a.Position, int64(len(pcm)), int64(r.rate), r.maxDrift); {
		case c > 0: // slow sender: silence before the packet
			err = s.gap(pos, int(c))
			pos += c
			h.drift.shift += c
			h.inserted.Add(c)
		case c < 0: // fast sender: the packet's first -c samples go
			pcm = pcm[-c:]
			h.drift.shift += c
			h.dropped.Add(-c)
		}
	}
	if err == nil && s.started && !a.Arrival.IsZero() {
		h.last = a.Arrival
		if keep := h.ahead(a.Arrival, pos, int64(len(pcm))); keep < int64(len(pcm)) {
			pcm = pcm[:keep]
		}
	}
	if err == nil {
		err = s.write(pos, pcm)
	}
	r.mu.Unlock()
	if err != nil {
		h.refuse(err)
	}
}

// ahead returns how many of n samples at stream position pos, arrived at
// at, may be written: the recorded timeline does not run more than the
// Window ahead of the wall clock (the arrival), whatever positions the
// stream's timestamps gave. The rest is counted in StreamStats.Ahead.
// The recorder's lock is held.
func (h *MediaHandler) ahead(at time.Time, pos, n int64) int64 {
	s := h.s
	limit := s.r.position(at) + s.r.w - s.offset // furthest stream position
	if pos+n <= limit {
		return n
	}
	keep := max(0, limit-pos)
	s.ahead += n - keep
	return keep
}

// HandleGap makes g.Samples samples from g.Position silence, at once (the
// recorder need not wait for them). It implements media.Handler.
func (h *MediaHandler) HandleGap(g media.Gap) {
	h.gaps.Add(1)
	s := h.s
	s.r.mu.Lock()
	// A Receiver delivers a Gap just before the Audio that follows it, never
	// first; should a source do so, the sample after the gap arrived at
	// g.Arrival, or now.
	at := g.Arrival
	if at.IsZero() {
		at = h.last
	}
	var err error
	if !s.started {
		if at.IsZero() {
			at = time.Now()
		}
		err = h.place(at, g.Position+g.Samples)
	}
	pos, n := g.Position+h.drift.shift, g.Samples
	if err == nil && s.started && !at.IsZero() {
		n = h.ahead(at, pos, n)
	}
	if err == nil {
		err = s.gap(pos, int(n))
	}
	s.r.mu.Unlock()
	if err != nil {
		h.refuse(err)
	}
}

// HandleDTMF counts the event; see MediaHandler. It implements
// media.Handler.
func (h *MediaHandler) HandleDTMF(media.DTMF) { h.dtmf.Add(1) }

// place starts the stream, if it has not started, so that the sample at
// stream position pos is at wall-clock time at. The recorder's lock is held. A stream that
// can no longer start is left to write, whose error is a sentinel (no
// allocation for each refused packet).
func (h *MediaHandler) place(at time.Time, pos int64) error {
	s, r := h.s, h.s.r
	if s.started || s.ended || r.stopped || r.out.err != nil {
		return nil
	}
	return s.startAt(r.position(at) - pos)
}

// refuse counts a delivery the stream did not take, and logs the first one
// that is not due to a stopped recording.
func (h *MediaHandler) refuse(err error) {
	h.refused.Add(1)
	if errors.Is(err, ErrStopped) || h.warned.Swap(true) {
		return
	}
	s := h.s
	s.r.log.Warn("recording: media refused by the stream; further refusals are counted, not logged",
		"path", s.r.Path(), "stream", s.index, "label", s.label, "err", err)
}

// MediaStats counts what a MediaHandler received.
type MediaStats struct {
	// Audio, Gaps and DTMF count the deliveries of each kind.
	Audio, Gaps, DTMF int64
	// Refused counts Audio and Gap deliveries the stream did not take:
	// after Stop, Finish or Stream.End, or after a write failure. Late and
	// duplicate audio is counted by Stream.Stats instead.
	Refused int64
	// Dropped and Inserted count the samples the drift correction took out
	// of a sender whose clock runs fast, and the silence it put in for one
	// whose clock runs slow (see MediaHandler).
	Dropped, Inserted int64
}

// Stats returns the handler's counters.
func (h *MediaHandler) Stats() MediaStats {
	return MediaStats{Audio: h.audio.Load(), Gaps: h.gaps.Load(), DTMF: h.dtmf.Load(), Refused: h.refused.Load(),
		Dropped: h.dropped.Load(), Inserted: h.inserted.Load()}
}
