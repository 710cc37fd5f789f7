package recording

import (
	"fmt"
	"math/bits"
	"time"
)

// Stream is one stream of a recording: one party's audio, on its own
// continuous timeline of samples. Place it on the recording's timeline with
// Start or StartAt, then feed it with Write and Gap.
type Stream struct {
	r     *Recorder
	index int
	label string
	ring  []int16
	// cov has one bit per ring position: set when the position was
	// delivered (by Write or Gap) and not yet written out.
	cov    []uint64
	offset int64 // timeline position of the stream's sample 0
	// front is the timeline position up to which the stream has delivered
	// every position (the recorder may write out up to there); hwm is the
	// furthest position it delivered.
	front, hwm int64
	started    bool
	ended      bool
	samples    int64
	late       int64
	dup        int64
	ahead      int64
	// media feeds the stream from a media.Receiver (see MediaHandler).
	media MediaHandler
}

// Label returns the stream's label.
func (s *Stream) Label() string { return s.label }

// Index returns the stream's position in Config.Streams.
func (s *Stream) Index() int { return s.index }

// Start places the stream on the recording's timeline: t is the wall-clock
// time of the stream's sample 0 (the first sample received, in the usual
// case). Calling it again returns ErrStreamStarted and changes nothing.
func (s *Stream) Start(t time.Time) error {
	r := s.r
	r.mu.Lock()
	defer r.mu.Unlock()
	return s.startAt(r.position(t))
}

// StartAt places the stream's sample 0 at the given sample offset on the
// recording's timeline (0 is the file's first sample). Calling it again
// returns ErrStreamStarted and changes nothing.
func (s *Stream) StartAt(offset int64) error {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	return s.startAt(offset)
}

func (s *Stream) startAt(offset int64) error {
	r := s.r
	if err := r.usable(); err != nil {
		return err
	}
	if s.ended {
		return fmt.Errorf("stream %d (%q): %w", s.index, s.label, ErrStreamEnded)
	}
	if s.started {
		return fmt.Errorf("stream %d (%q) starts at sample %d: %w", s.index, s.label, s.offset, ErrStreamStarted)
	}
	s.started = true
	s.offset = offset
	// Before its start the stream is silent: it holds nothing back there.
	s.hwm = offset
	s.front = offset
	return r.advance(r.target())
}

func (s *Stream) check() error {
	if err := s.r.usable(); err != nil {
		return err
	}
	if s.ended {
		return ErrStreamEnded
	}
	if !s.started {
		return ErrStreamNotStarted
	}
	return nil
}

// Write delivers decoded samples: pcm[0] is the sample at position pos of
// the stream's own timeline (samples since its sample 0; for RTP, the
// unwrapped timestamp minus the first one). Packets may come in any order
// within the Window; positions never delivered are silence of exactly
// their length (the recorder writes them out as such once the stream got a
// Window past them, or at once after a Gap for them). Samples whose
// positions were already written to the file, and packets whose every
// position was already delivered, are dropped and counted in
// Stream.Stats (Late, Duplicate). Write keeps no reference to pcm.
func (s *Stream) Write(pos int64, pcm []int16) error {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	return s.write(pos, pcm)
}

// write is Write with the recorder's lock held.
func (s *Stream) write(pos int64, pcm []int16) error {
	r := s.r
	if err := s.check(); err != nil {
		return err
	}
	t, ok, err := s.place(pos, int64(len(pcm)))
	if !ok || err != nil {
		return err
	}
	pcm = pcm[t-(s.offset+pos):]
	end := t + int64(len(pcm))
	// Nothing at or past the furthest position delivered is covered yet.
	if t < s.hwm && s.covered(t, end) {
		s.dup += int64(len(pcm))
		return nil
	}
	i := t & r.mask
	n := copy(s.ring[i:], pcm)
	copy(s.ring, pcm[n:])
	s.cover(t, end)
	s.samples += int64(len(pcm))
	return r.advance(r.target())
}

// Gap tells the recorder that the stream has no audio for n samples from
// position pos (lost packets, silence suppression, a timestamp jump): they
// are silence, and the recorder need not wait for them. Audio delivered for
// those positions, before or after the Gap, is kept.
func (s *Stream) Gap(pos int64, n int) error {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	return s.gap(pos, n)
}

// gap is Gap with the recorder's lock held.
func (s *Stream) gap(pos int64, n int) error {
	r := s.r
	if err := s.check(); err != nil {
		return err
	}
	if n < 0 {
		return fmt.Errorf("%w: gap of %d samples", ErrBadConfig, n)
	}
	t, ok, err := s.place(pos, int64(n))
	if !ok || err != nil {
		return err
	}
	s.cover(t, s.offset+pos+int64(n))
	return r.advance(r.target())
}

// place maps n samples at stream position pos to the timeline, writes out
// old audio when they would run past the Window, and returns the first
// timeline position still writable (ok false when nothing is).
func (s *Stream) place(pos, n int64) (int64, bool, error) {
	r := s.r
	if n == 0 {
		return 0, false, nil
	}
	t := s.offset + pos
	end := t + n
	if end <= r.head {
		s.late += n
		return 0, false, nil
	}
	if end > r.head+r.w {
		if err := r.advance(end - r.w); err != nil {
			return 0, false, err
		}
	}
	if t < r.head {
		s.late += r.head - t
		t = r.head
	}
	return t, true, nil
}

// cover marks timeline positions [a, b) as delivered (b-a <= Window) and
// moves the stream's front over them.
func (s *Stream) cover(a, b int64) {
	mask := s.r.mask
	if i, j := a&mask, (b-1)&mask+1; i < j {
		setBits(s.cov, i, j)
	} else {
		setBits(s.cov, i, s.r.w)
		setBits(s.cov, 0, j)
	}
	s.hwm = max(s.hwm, b)
	s.advanceFront()
}

// covered reports whether every position of [a, b) was delivered.
func (s *Stream) covered(a, b int64) bool {
	mask := s.r.mask
	if i, j := a&mask, (b-1)&mask+1; i < j {
		return allBits(s.cov, i, j)
	} else {
		return allBits(s.cov, i, s.r.w) && allBits(s.cov, 0, j)
	}
}

// advanceFront moves front over delivered positions.
func (s *Stream) advanceFront() {
	r := s.r
	if s.front < r.head {
		s.front = r.head
	}
	for s.front < s.hwm {
		i := s.front & r.mask
		run := int64(bits.TrailingZeros64(^(s.cov[i>>6] >> uint(i&63))))
		if run == 0 {
			return
		}
		run = min(run, 64-i&63)
		s.front = min(s.front+run, s.hwm)
	}
}

// setBits sets bits [i, j) of m.
func setBits(m []uint64, i, j int64) {
	for i < j {
		n := min(64-i&63, j-i)
		m[i>>6] |= (^uint64(0) >> uint(64-n)) << uint(i&63)
		i += n
	}
}

// clearBits clears bits [i, j) of m.
func clearBits(m []uint64, i, j int64) {
	for i < j {
		n := min(64-i&63, j-i)
		m[i>>6] &^= (^uint64(0) >> uint(64-n)) << uint(i&63)
		i += n
	}
}

// allBits reports whether bits [i, j) of m are all set.
func allBits(m []uint64, i, j int64) bool {
	for i < j {
		n := min(64-i&63, j-i)
		mk := (^uint64(0) >> uint(64-n)) << uint(i&63)
		if m[i>>6]&mk != mk {
			return false
		}
		i += n
	}
	return true
}

// End says the stream will deliver nothing more (its party left, its
// m-line was removed): the recorder stops waiting for it, and it is silent
// from where it ended. Calling it again returns ErrStreamEnded.
func (s *Stream) End() error {
	r := s.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.usable(); err != nil {
		return err
	}
	if s.ended {
		return ErrStreamEnded
	}
	s.ended = true
	return r.advance(r.target())
}

// StreamStats counts what one stream delivered.
type StreamStats struct {
	// Label of the stream.
	Label string
	// Started and Offset tell where the stream's sample 0 is on the
	// timeline.
	Started bool
	Offset  int64
	// Samples accepted by Write (late and duplicate ones not counted).
	Samples int64
	// Late counts samples dropped because their position was already
	// written to the file: packets later than the Window, or duplicates of
	// packets already written.
	Late int64
	// Duplicate counts samples dropped because the packet's every position
	// had been delivered already (and not yet written out).
	Duplicate int64
	// Ahead counts samples a MediaHandler dropped because their position
	// lay more than the Window ahead of their arrival time on the
	// recording's timeline: timestamps that run faster than time, or a
	// sender faster than real time (see MediaHandler).
	Ahead int64
	// Ended is true after End.
	Ended bool
}

// Stats returns the stream's counters.
func (s *Stream) Stats() StreamStats {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	return StreamStats{Label: s.label, Started: s.started, Offset: s.offset, Samples: s.samples, Late: s.late, Duplicate: s.dup, Ahead: s.ahead, Ended: s.ended}
}
