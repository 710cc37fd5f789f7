package recording

import (
	"os"
	"sync"
	"sync/atomic"
)

// mp3Sink encodes interleaved PCM16 frames with LAME and appends the MP3
// frames to a file. At close it writes the LAME/Info tag over the
// placeholder frame at the start of the file.
//
// With a pool (the default; nil with MP3Config.Inline) the writer only
// fills batches: a full one is queued and a pool goroutine runs LAME and
// the file write, so the goroutine that delivers the audio (a media
// poller's worker, serving every call) does not spend its time in LAME.
// Whoever holds busy — a pool goroutine, or the writer in flush, close
// or when the pool's queue is full — is the only one to touch enc and
// out, and takes the queued batches in order: the file is what inline
// encoding writes, byte for byte.
type mp3Sink struct {
	out fileOut
	enc *lameEncoder
	up  *upsampler2 // nil unless the file rate is twice the stream rate
	// pcm holds audio at the file rate waiting for LAME: it is encoded a
	// frame's worth (1152 samples per channel) at a time, as the lame
	// command does, which costs LAME less than a call per packet. Only
	// the writer (under the recorder's lock) touches it.
	pcm   []int16
	batch int
	sync  bool
	pool  *encoderPool // nil: encode on the writer's goroutine

	failed atomic.Bool // err is set: write need not take the lock to know

	mu        sync.Mutex
	cond      sync.Cond // on mu: busy was cleared
	pending   [][]int16 // full batches, oldest first
	free      [][]int16 // batch buffers to reuse
	scheduled bool      // in the pool's ready queue, or being run by it
	busy      bool      // someone is encoding (owns enc and out)
	done      bool      // closed or aborted: nothing more is encoded
	err       error     // the first failure of a queued batch
}

const (
	// mp3Batch is how many frames (samples per channel) go to LAME per call.
	mp3Batch = 1152
	// mp3FreeBatches is how many spare batch buffers a sink keeps: two
	// or three are in use when the pool keeps up; more were needed only
	// while it was behind.
	mp3FreeBatches = 4
)

func newMP3Sink(f *os.File, l *LAME, c MP3Config, channels, rate, maxFrames, bufSize int, sync bool) (*mp3Sink, error) {
	batch := mp3Batch
	if c.tune.batch > 0 {
		batch = c.tune.batch
	}
	s := &mp3Sink{out: fileOut{f: f, buf: make([]byte, 0, bufSize)}, sync: sync, batch: batch * channels}
	s.cond.L = &s.mu
	if !c.Inline {
		s.pool = l.pool
	}
	lowpass := mp3Lowpass(rate)
	most := maxFrames // frames one write adds at the file rate
	if c.SampleRate == 2*rate {
		s.up = newUpsampler2(channels, maxFrames)
		most = 2 * (maxFrames + hbTaps)
		// Above the streams' Nyquist frequency there is only what is left
		// of the upsampling images: LAME need not spend bits or time there.
		lowpass = rate / 2 * 95 / 100
	}
	switch {
	case c.tune.lowpass > 0:
		lowpass = c.tune.lowpass
	case c.tune.lowpass < 0:
		lowpass = 0
	}
	s.pcm = make([]int16, 0, (batch+most)*channels)
	enc, err := l.newEncoder(lameParams{rate: c.SampleRate, channels: channels, kbps: c.Bitrate, quality: c.Quality, lowpass: lowpass,
		maxFrames: batch + most, joint: c.tune.joint, noShort: !c.tune.shortBlocks, noReservoir: c.tune.noReservoir, extra: c.tune.extra})
	if err != nil {
		return nil, err
	}
	s.enc = enc
	return s, nil
}

func (s *mp3Sink) write(pcm []int16) error {
	if s.failed.Load() {
		return s.queueErr()
	}
	if s.up != nil {
		n := s.up.process(pcm, s.pcm[len(s.pcm):cap(s.pcm)])
		s.pcm = s.pcm[:len(s.pcm)+n]
	} else {
		s.pcm = append(s.pcm, pcm...)
	}
	if len(s.pcm) < s.batch {
		return nil
	}
	if s.pool == nil {
		return s.encode()
	}
	return s.submit()
}

// encode hands the waiting audio to LAME and its output to the file.
func (s *mp3Sink) encode() error {
	err := s.encodePCM(s.pcm)
	s.pcm = s.pcm[:0]
	return err
}

func (s *mp3Sink) encodePCM(pcm []int16) error {
	b, err := s.enc.encode(pcm)
	if err != nil {
		return err
	}
	return s.out.write(b)
}

// submit queues the full batch in pcm for the pool, or when the pool's
// queue is full encodes it here, after the sink's queued batches.
func (s *mp3Sink) submit() error {
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		s.pcm = s.pcm[:0]
		return err
	}
	if !s.pool.reserve(2 * len(s.pcm)) {
		s.mu.Unlock()
		s.pool.inline.Add(1)
		err := s.own()
		if err == nil {
			err = s.encode()
		}
		s.pcm = s.pcm[:0]
		s.disown()
		return err
	}
	b := s.pcm
	if k := len(s.free); k > 0 {
		s.pcm = s.free[k-1]
		s.free[k-1] = nil
		s.free = s.free[:k-1]
	} else {
		s.pcm = make([]int16, 0, cap(b))
	}
	s.pending = append(s.pending, b)
	schedule := !s.scheduled
	s.scheduled = true
	s.mu.Unlock()
	if schedule {
		s.pool.push(s)
	}
	return nil
}

// queueErr returns the failure of a queued batch.
func (s *mp3Sink) queueErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// drain encodes up to max queued batches (all when max < 0), oldest
// first; the caller holds busy. It returns how many it took. After a
// failure (kept in err) the rest are dropped, and once done not encoded.
func (s *mp3Sink) drain(max int) (k int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ; len(s.pending) > 0 && k != max; k++ {
		b := s.pending[0]
		n := copy(s.pending, s.pending[1:])
		s.pending[n] = nil
		s.pending = s.pending[:n]
		skip := s.done
		s.mu.Unlock()
		s.pool.release(2 * len(b))
		var err error
		if !skip {
			err = s.encodePCM(b)
		}
		s.mu.Lock()
		if err != nil && s.err == nil {
			s.err = err
			s.failed.Store(true)
		}
		if len(s.free) < mp3FreeBatches {
			s.free = append(s.free, b[:0])
		}
		if s.err != nil {
			s.dropLocked() // the writer stops at the failure: nothing more to do
		}
	}
	return k
}

// dropLocked forgets the queued batches.
func (s *mp3Sink) dropLocked() {
	for i, b := range s.pending {
		s.pool.release(2 * len(b))
		s.pending[i] = nil
	}
	s.pending = s.pending[:0]
}

// run is a pool goroutine's turn: it encodes some of the queued batches
// and reports whether the sink must be queued again (it stays scheduled).
func (s *mp3Sink) run() bool {
	s.mu.Lock()
	if s.busy || s.done {
		// The writer holds the sink (a flush, its fsync, a full queue):
		// waiting for it would keep this goroutine from other sinks. It
		// takes what is queued, and disown queues the sink again if
		// batches came meanwhile.
		s.scheduled = false
		s.mu.Unlock()
		return false
	}
	s.busy = true
	s.mu.Unlock()
	s.pool.ran.Add(int64(s.drain(mp3RunBatches)))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.busy = false
	s.cond.Broadcast()
	more := len(s.pending) > 0 && !s.done
	if !more {
		s.scheduled = false
	}
	return more
}

// own makes the writer the sink's encoder: it waits for a pool goroutine
// to finish its batch, then encodes the batches still queued. It returns
// the failure of a queued batch. The caller then calls disown, or keeps
// busy for good once the sink is closed.
func (s *mp3Sink) own() error {
	s.mu.Lock()
	for s.busy {
		s.cond.Wait()
	}
	s.busy = true
	s.mu.Unlock()
	s.drain(-1)
	return s.queueErr()
}

func (s *mp3Sink) disown() {
	s.mu.Lock()
	s.busy = false
	s.cond.Broadcast()
	schedule := len(s.pending) > 0 && !s.done && !s.scheduled
	if schedule {
		s.scheduled = true // a pool goroutine left it while the writer held it
	}
	s.mu.Unlock()
	if schedule {
		s.pool.push(s)
	}
}

// flush waits for the queued batches, encodes what is waiting and writes
// it all to the file.
func (s *mp3Sink) flush() error {
	if s.pool != nil {
		err := s.own()
		defer s.disown()
		if err != nil {
			return err
		}
	}
	if err := s.encode(); err != nil {
		return err
	}
	if err := s.out.spill(); err != nil {
		return err
	}
	if s.sync {
		return s.out.f.Sync()
	}
	return nil
}

// close waits for the queued batches, ends the stream and writes the
// LAME tag. A queued batch's failure is returned (the file is still
// finalized as far as it goes, as after a failed write).
func (s *mp3Sink) close() (int64, error) {
	var qerr error
	if s.pool != nil {
		qerr = s.own()
		s.mu.Lock()
		s.done = true // busy stays set: the pool will not touch the sink again
		s.cond.Broadcast()
		s.mu.Unlock()
	}
	defer s.enc.close()
	err := func() error {
		if s.up != nil {
			n := s.up.flush(s.pcm[len(s.pcm):cap(s.pcm)])
			s.pcm = s.pcm[:len(s.pcm)+n]
		}
		if err := s.encode(); err != nil {
			return err
		}
		b, err := s.enc.flush()
		if err != nil {
			return err
		}
		if err := s.out.write(b); err != nil {
			return err
		}
		if err := s.out.spill(); err != nil {
			return err
		}
		if tag := s.enc.lametag(); len(tag) > 0 {
			if _, err := s.out.f.WriteAt(tag, 0); err != nil {
				return err
			}
		}
		return s.out.f.Sync()
	}()
	if cerr := s.out.f.Close(); err == nil {
		err = cerr
	}
	if qerr != nil {
		err = qerr
	}
	return s.out.end, err
}

// abort drops the queued batches, waits for the one a pool goroutine may
// be encoding, and closes the file and the encoder.
func (s *mp3Sink) abort() {
	if s.pool != nil {
		s.mu.Lock()
		s.done = true
		s.dropLocked()
		for s.busy {
			s.cond.Wait()
		}
		s.busy = true
		s.mu.Unlock()
	}
	_ = s.out.f.Close()
	s.enc.close()
}
