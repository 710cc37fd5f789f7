package recording

import (
	"math"
	"time"
)

// span is a paused stretch [from, to) of the timeline.
type span struct{ from, to int64 }

// pauseTimeline says where a recording's timeline is paused: stretches
// written as silence (PauseSilence) or left out of the file (PauseCut).
// The recorder's lock guards it.
type pauseTimeline struct {
	mode  PauseMode
	spans []span
	open  bool  // the last span has not ended (Pause without Resume yet)
	total int64 // frames of the timeline spent paused so far
}

// at says whether timeline position p is paused and where the next change
// of state is.
func (pt *pauseTimeline) at(p int64) (paused bool, until int64) {
	until = math.MaxInt64
	for _, sp := range pt.spans {
		if p < sp.from {
			until = min(until, sp.from)
		} else if p < sp.to {
			return true, sp.to
		}
	}
	return false, until
}

// prune forgets pauses that lie wholly behind head.
func (pt *pauseTimeline) prune(head int64) {
	k := 0
	for _, sp := range pt.spans {
		if sp.to > head {
			pt.spans[k] = sp
			k++
		}
	}
	pt.spans = pt.spans[:k]
}

// begin opens a pause at p, or after the last pause if that is later, and
// returns where it starts.
func (pt *pauseTimeline) begin(p int64) (int64, error) {
	if pt.open {
		return 0, ErrAlreadyPaused
	}
	if k := len(pt.spans); k > 0 {
		p = max(p, pt.spans[k-1].to)
	}
	pt.spans = append(pt.spans, span{from: p, to: math.MaxInt64})
	pt.open = true
	return p, nil
}

// end closes the open pause at p (not before it started) and returns
// where it ends.
func (pt *pauseTimeline) end(p int64) (int64, error) {
	if !pt.open {
		return 0, ErrNotPaused
	}
	sp := &pt.spans[len(pt.spans)-1]
	sp.to = max(p, sp.from)
	pt.open = false
	return sp.to, nil
}

// Pause pauses the recording at wall-clock time at (zero means now): from
// there the file gets silence (PauseSilence) or nothing (PauseCut) until
// Resume. A time already written out is moved forward to the first one
// that is not. Pausing a paused recording returns ErrAlreadyPaused and
// changes nothing.
func (r *Recorder) Pause(at time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.usable(); err != nil {
		return err
	}
	p, err := r.pauses.begin(max(r.position(orNow(at)), r.head))
	if err != nil {
		return err
	}
	r.log.Debug("recording paused", "path", r.Path(), "at", framesToDuration(p, r.rate))
	return nil
}

// Resume ends a pause at wall-clock time at (zero means now). Resuming a
// recording that is not paused returns ErrNotPaused and changes nothing.
func (r *Recorder) Resume(at time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.usable(); err != nil {
		return err
	}
	p, err := r.pauses.end(max(r.position(orNow(at)), r.head))
	if err != nil {
		return err
	}
	r.log.Debug("recording resumed", "path", r.Path(), "at", framesToDuration(p, r.rate))
	return nil
}

// Paused reports whether the recording is paused.
func (r *Recorder) Paused() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pauses.open
}

func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}
