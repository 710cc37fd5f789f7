package recording

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/bits"
	"os"
	"sync"
	"time"
)

// Config configures one recording. The zero value records one stream of
// 8 kHz PCM16 to a mono WAV file.
type Config struct {
	// Format of the file. Default WAV.
	Format Format
	// Layout of the channels. Default LayoutAuto: mono for one stream,
	// stereo with one party per channel for two, and for more the rule of
	// LayoutStereo (third and later streams on both channels).
	Layout Layout
	// Streams declares the streams, in order; the first is the left
	// channel of a stereo file. Default: one stream. At most 64.
	Streams []StreamConfig
	// SampleRate of every stream, in Hz, and of a WAV file. Default 8000
	// (G.711). Streams at another rate must be resampled by the caller.
	SampleRate int
	// Start is the wall-clock time of the first sample of the file:
	// Stream.Start and Pause/Resume times are placed relative to it.
	// Default: the time New or Dir.Create is called.
	Start time.Time
	// PauseMode says what a paused stretch becomes. Default PauseSilence.
	PauseMode PauseMode
	// Window is how far streams may run apart before the lagging one's
	// audio is written as silence: the recorder holds the last Window of
	// each stream in memory, writes a stretch of the timeline once every
	// stream has delivered it (or ended), and when one stream gets a Window
	// ahead of another, writes the oldest audio anyway. Audio that arrives
	// for a stretch already written is dropped (Stream.Stats counts it).
	// Default 1s, rounded up to a power of two samples (1.024 s at 8 kHz);
	// 20ms to 60s. Memory per stream is 2 bytes × Window × SampleRate.
	Window time.Duration
	// FlushInterval is how much audio (timeline time, not wall-clock time)
	// may sit in memory before it is written to the file and, for WAV, the
	// header is rewritten to declare it. A process that dies loses at most
	// the last FlushInterval of audio already delivered for every stream
	// (plus, for MP3, what LAME holds back: about 2 frames, 150 ms at
	// 16 kHz), and up to Window more when a stream lagged: the bound is
	// FlushInterval + Window while a stream that has not ended sends
	// nothing (silence suppression before its Gap comes), since the
	// recorder waits up to the Window for it. The interval counts timeline
	// time, so it is not a wall-clock deadline either. Call Flush to write
	// out at other moments. Default 1s; at least 10ms.
	FlushInterval time.Duration
	// MaxDrift is how far a stream fed by a MediaHandler may run ahead of
	// or behind the wall clock (its packets' Arrival) before the handler
	// corrects it: a sender whose clock runs fast or slow puts its RTP
	// positions off the call's time by 100 ms an hour for every 28 ppm.
	// Default 10ms (half a 20 ms packet: 80 samples at 8 kHz); negative
	// turns the correction off (positions are then taken as given).
	MaxDrift time.Duration
	// Sync makes every flush also fsync the file, so audio survives a
	// power failure too, not only a process crash. Default false: a
	// finished file is always fsynced, an active one is left to the OS.
	Sync bool
	// MP3 configures MP3 files (Format MP3).
	MP3 MP3Config
	// LAME is the MP3 encoder library. Default: for an MP3 recording New
	// opens it with OpenLAME(LAMEPath) (a cheap reference to the already
	// loaded library after the first time). Open it once and set it here
	// when many recordings are made.
	LAME *LAME
	// LAMEPath is where New looks for LAME when LAME is nil. Default:
	// libmp3lame.so.0, found by the dynamic linker.
	LAMEPath string
	// Logger receives events (start, stop, write failures); nil discards.
	Logger *slog.Logger
}

// StreamConfig declares one stream of a recording.
type StreamConfig struct {
	// Label names the stream, for example its SIPREC a=label. Optional.
	Label string
	// SampleRate of the stream, in Hz. Default, and the only value
	// accepted: Config.SampleRate.
	SampleRate int
	// Channel places the stream in a stereo file (ignored in a mono one).
	// Default ChannelAuto (see LayoutStereo).
	Channel Channel
}

const (
	maxStreams = 64
	// chunkFrames is how many frames are mixed and encoded per step.
	chunkFrames = 256
	// wavBufSize and mp3BufSize are the file write buffers. 16 KiB is half
	// a second of 8 kHz stereo: two data writes a second, with the flush
	// (and header) each FlushInterval; the heap of a two-party WAV
	// recording stays under 64 KiB (BenchmarkHeapPerRecording).
	wavBufSize = 16 << 10
	mp3BufSize = 2 << 10
)

// Recorder turns 1..N streams of PCM16 into one recording file whose
// timeline is the call's wall-clock timeline. Its methods, and those of its
// Streams, are safe for concurrent use: each stream is typically fed by its
// own receive goroutine.
//
// Per-packet calls (Stream.Write, Stream.Gap) do not allocate.
//
// Crash safety: audio every stream has delivered reaches the file within
// Config.FlushInterval of timeline; while a stream that has not ended
// delivers nothing, the others' audio waits up to Config.Window more, so a
// process that dies loses at most FlushInterval + Window of audio.
type Recorder struct {
	mu sync.Mutex

	log       *slog.Logger
	path      string // file being written
	finalPath string // where Stop moves it ("" to leave it at path)
	dir       *Dir
	id        ID
	format    Format
	channels  int
	rate      int // timeline and stream rate
	fileRate  int
	start     time.Time
	pauseMode PauseMode

	streams []*Stream
	// route[c] lists the streams mixed into channel c.
	route [2][]int

	w, mask int64 // ring size (a power of two) and w-1
	head    int64 // next timeline position to write out
	out     int64 // frames written to the file
	paused  int64 // frames of the timeline spent paused
	pauses  []span
	inPause bool

	flushFrames int64
	sinceFlush  int64
	maxDrift    int64 // Config.MaxDrift in samples; 0: no drift correction
	mix         []int16
	sink        sink
	err         error // sticky write failure

	stopped bool
	result  Result

	finishMu sync.Mutex // serializes Finish's upload
	uploaded bool
}

// span is a paused stretch [from, to) of the timeline.
type span struct{ from, to int64 }

// sink is a file encoder: WAV or MP3.
type sink interface {
	write(interleaved []int16) error
	flush() error
	close() (size int64, err error)
	abort()
}

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
	// media feeds the stream from a media.Receiver (see MediaHandler).
	media MediaHandler
}

// New creates the file at path (which must not exist) and returns a
// recorder writing to it. The file stays at path after Stop; to upload it
// use a Dir instead. An MP3 recording needs LAME: when it cannot be loaded
// New returns an error wrapping ErrMP3Unavailable and creates no file.
func New(path string, cfg Config) (*Recorder, error) {
	return newRecorder(path, "", nil, ID{}, cfg)
}

func newRecorder(path, finalPath string, d *Dir, id ID, cfg Config) (*Recorder, error) {
	cfg, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	lame := cfg.LAME
	if cfg.Format == MP3 && lame == nil {
		if lame, err = OpenLAME(cfg.LAMEPath); err != nil {
			return nil, err
		}
	}
	r := &Recorder{
		log: cfg.Logger, path: path, finalPath: finalPath, dir: d, id: id,
		format: cfg.Format, rate: cfg.SampleRate, fileRate: cfg.SampleRate,
		start: cfg.Start, pauseMode: cfg.PauseMode,
	}
	r.setLayout(cfg)
	wf := max(64, durationToFrames(cfg.Window, cfg.SampleRate))
	r.w = int64(1) << bits.Len64(uint64(wf-1))
	r.mask = r.w - 1
	r.flushFrames = max(1, durationToFrames(cfg.FlushInterval, cfg.SampleRate))
	if cfg.MaxDrift > 0 {
		r.maxDrift = max(1, durationToFrames(cfg.MaxDrift, cfg.SampleRate))
	}
	r.mix = make([]int16, chunkFrames*r.channels)
	r.pauses = make([]span, 0, 4)
	for i, sc := range cfg.Streams {
		s := &Stream{r: r, index: i, label: sc.Label, ring: make([]int16, r.w), cov: make([]uint64, r.w/64)}
		s.media.s = s
		r.streams = append(r.streams, s)
	}

	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, fmt.Errorf("recording: creating %s: %w", path, err)
	}
	switch cfg.Format {
	case WAV:
		r.sink, err = newWAVSink(f, r.channels, r.rate, wavBufSize, cfg.Sync)
	case MP3:
		r.fileRate = cfg.MP3.SampleRate
		r.sink, err = newMP3Sink(f, lame, cfg.MP3, r.channels, r.rate, chunkFrames, mp3BufSize, cfg.Sync)
	}
	if err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return nil, fmt.Errorf("recording: starting %s: %w", path, err)
	}
	r.log.Debug("recording started", "path", path, "format", r.format.String(), "channels", r.channels,
		"streams", len(r.streams), "rate", r.rate)
	return r, nil
}

// resolve fills in defaults and validates.
func (c Config) resolve() (Config, error) {
	if !c.Format.valid() {
		return c, fmt.Errorf("%w: Format %d", ErrBadConfig, uint8(c.Format))
	}
	if c.Layout > LayoutStereo {
		return c, fmt.Errorf("%w: Layout %d", ErrBadConfig, uint8(c.Layout))
	}
	if c.PauseMode > PauseCut {
		return c, fmt.Errorf("%w: PauseMode %d", ErrBadConfig, uint8(c.PauseMode))
	}
	if c.SampleRate == 0 {
		c.SampleRate = 8000
	}
	if c.SampleRate < 1000 || c.SampleRate > 192000 {
		return c, fmt.Errorf("%w: SampleRate %d Hz (want 1000 to 192000)", ErrBadConfig, c.SampleRate)
	}
	if len(c.Streams) == 0 {
		c.Streams = []StreamConfig{{}}
	}
	if len(c.Streams) > maxStreams {
		return c, fmt.Errorf("%w: %d Streams (at most %d)", ErrBadConfig, len(c.Streams), maxStreams)
	}
	for i, s := range c.Streams {
		if s.SampleRate != 0 && s.SampleRate != c.SampleRate {
			return c, fmt.Errorf("%w: Streams[%d] (%q) SampleRate %d Hz differs from the recording's %d Hz",
				ErrBadConfig, i, s.Label, s.SampleRate, c.SampleRate)
		}
		if s.Channel > ChannelBoth {
			return c, fmt.Errorf("%w: Streams[%d] (%q) Channel %d", ErrBadConfig, i, s.Label, uint8(s.Channel))
		}
	}
	if c.Start.IsZero() {
		c.Start = time.Now()
	}
	if c.Window == 0 {
		c.Window = time.Second
	}
	if c.Window < 20*time.Millisecond || c.Window > time.Minute {
		return c, fmt.Errorf("%w: Window %v (want 20ms to 1m)", ErrBadConfig, c.Window)
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = time.Second
	}
	if c.FlushInterval < 10*time.Millisecond {
		return c, fmt.Errorf("%w: FlushInterval %v (want at least 10ms)", ErrBadConfig, c.FlushInterval)
	}
	if c.MaxDrift == 0 {
		c.MaxDrift = 10 * time.Millisecond
	}
	if c.MaxDrift > c.Window/2 {
		return c, fmt.Errorf("%w: MaxDrift %v (want at most half the Window, %v)", ErrBadConfig, c.MaxDrift, c.Window/2)
	}
	if c.Format == MP3 {
		c.MP3 = c.MP3.withDefaults(c.SampleRate)
		if err := c.MP3.validate(c.SampleRate); err != nil {
			return c, err
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c, nil
}

// setLayout decides the channel count and which streams feed each channel.
func (r *Recorder) setLayout(cfg Config) {
	layout := cfg.Layout
	if layout == LayoutAuto {
		layout = LayoutStereo
		if len(cfg.Streams) == 1 {
			layout = LayoutMono
		}
	}
	if layout == LayoutMono {
		r.channels = 1
		for i := range cfg.Streams {
			r.route[0] = append(r.route[0], i)
		}
		return
	}
	r.channels = 2
	for i, s := range cfg.Streams {
		ch := s.Channel
		if ch == ChannelAuto {
			switch i {
			case 0:
				ch = ChannelLeft
			case 1:
				ch = ChannelRight
			default:
				ch = ChannelBoth
			}
		}
		if ch == ChannelLeft || ch == ChannelBoth {
			r.route[0] = append(r.route[0], i)
		}
		if ch == ChannelRight || ch == ChannelBoth {
			r.route[1] = append(r.route[1], i)
		}
	}
}

// Streams returns the recording's streams in the order of Config.Streams.
func (r *Recorder) Streams() []*Stream { return r.streams }

// Stream returns stream i (0-based, in the order of Config.Streams), or nil.
func (r *Recorder) Stream(i int) *Stream {
	if i < 0 || i >= len(r.streams) {
		return nil
	}
	return r.streams[i]
}

// Path returns the file being written.
func (r *Recorder) Path() string { return r.path }

// Channels returns 1 or 2.
func (r *Recorder) Channels() int { return r.channels }

// Format returns the file format.
func (r *Recorder) Format() Format { return r.format }

// Start returns the wall-clock time of the file's first sample.
func (r *Recorder) Start() time.Time { return r.start }

// position converts a wall-clock time to a timeline position.
func (r *Recorder) position(t time.Time) int64 {
	return durationToFrames(t.Sub(r.start), r.rate)
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

// usable reports ErrStopped or a sticky write failure.
func (r *Recorder) usable() error {
	if r.stopped {
		return ErrStopped
	}
	return r.err
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
	if s.covered(t, end) {
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
	// Ended is true after End.
	Ended bool
}

// Stats returns the stream's counters.
func (s *Stream) Stats() StreamStats {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	return StreamStats{Label: s.label, Started: s.started, Offset: s.offset, Samples: s.samples, Late: s.late, Duplicate: s.dup, Ended: s.ended}
}

// target is the timeline position up to which every stream has delivered
// every position: the lowest front of the streams that have not ended; a
// stream not yet started holds everything back (up to the Window).
func (r *Recorder) target() int64 {
	t := int64(math.MaxInt64)
	for _, s := range r.streams {
		if s.ended {
			continue
		}
		if !s.started {
			return r.head
		}
		if s.front < r.head {
			s.advanceFront()
		}
		if s.front < t {
			t = s.front
		}
	}
	if t == math.MaxInt64 { // every stream ended: nothing more will come
		t = r.end()
	}
	return t
}

// end is the end of the recording: the furthest position any stream
// delivered.
func (r *Recorder) end() int64 {
	e := r.head
	for _, s := range r.streams {
		if s.started && s.hwm > e {
			e = s.hwm
		}
	}
	return e
}

// pausedAt says whether timeline position p is paused and where the next
// change of state is.
func (r *Recorder) pausedAt(p int64) (paused bool, until int64) {
	until = math.MaxInt64
	for _, sp := range r.pauses {
		if p < sp.from {
			until = min(until, sp.from)
		} else if p < sp.to {
			return true, sp.to
		}
	}
	return false, until
}

// advance writes the timeline out up to target: it mixes the streams'
// rings into frames, applies pauses, and hands the frames to the file.
func (r *Recorder) advance(target int64) error {
	if r.err != nil {
		return r.err
	}
	ch := int64(r.channels)
	for r.head < target {
		ri := r.head & r.mask
		n := min(target-r.head, chunkFrames, r.w-ri)
		paused, until := r.pausedAt(r.head)
		n = min(n, until-r.head)
		frames := r.mix[:n*ch]
		if paused {
			r.paused += n
			if r.pauseMode == PauseCut {
				r.consume(ri, n)
				r.head += n
				r.prunePauses()
				continue
			}
			clear(frames)
		} else {
			r.mixFrames(ri, n, frames)
		}
		r.consume(ri, n)
		r.head += n
		if err := r.sink.write(frames); err != nil {
			return r.fail(err)
		}
		r.out += n
		r.sinceFlush += n
		if r.sinceFlush >= r.flushFrames {
			r.sinceFlush = 0
			if err := r.sink.flush(); err != nil {
				return r.fail(err)
			}
		}
		if paused {
			r.prunePauses()
		}
	}
	return nil
}

// prunePauses forgets pauses that lie wholly behind the head.
func (r *Recorder) prunePauses() {
	k := 0
	for _, sp := range r.pauses {
		if sp.to > r.head {
			r.pauses[k] = sp
			k++
		}
	}
	r.pauses = r.pauses[:k]
}

// consume clears n ring positions from ri in every stream, so that the
// positions reused a Window later start as silence and undelivered.
func (r *Recorder) consume(ri, n int64) {
	for _, s := range r.streams {
		clear(s.ring[ri : ri+n])
		clearBits(s.cov, ri, ri+n)
	}
}

// mixFrames fills frames (n interleaved frames) from the rings at ri.
func (r *Recorder) mixFrames(ri, n int64, frames []int16) {
	ch := r.channels
	if ch == 2 && len(r.route[0]) == 1 && len(r.route[1]) == 1 {
		// One stream per channel, the usual two-party call: interleave.
		a := r.streams[r.route[0][0]].ring[ri : ri+n]
		b := r.streams[r.route[1][0]].ring[ri : ri+n]
		b = b[:len(a)]
		for i, v := range a {
			f := frames[2*i : 2*i+2 : 2*i+2]
			f[0], f[1] = v, b[i]
		}
		return
	}
	for c := 0; c < ch; c++ {
		route := r.route[c]
		switch len(route) {
		case 0:
			for i := int64(0); i < n; i++ {
				frames[int(i)*ch+c] = 0
			}
		case 1:
			src := r.streams[route[0]].ring[ri : ri+n]
			if ch == 1 {
				copy(frames, src)
				continue
			}
			for i, v := range src {
				frames[i*ch+c] = v
			}
		case 2:
			a := r.streams[route[0]].ring[ri : ri+n]
			b := r.streams[route[1]].ring[ri : ri+n]
			for i := range a {
				frames[i*ch+c] = sat16(int32(a[i]) + int32(b[i]))
			}
		default:
			for i := int64(0); i < n; i++ {
				var sum int32
				for _, si := range route {
					sum += int32(r.streams[si].ring[ri+i])
				}
				frames[int(i)*ch+c] = sat16(sum)
			}
		}
	}
}

// sat16 clips a sum of samples to the int16 range instead of letting it
// wrap around.
func sat16(v int32) int16 {
	if v > math.MaxInt16 {
		return math.MaxInt16
	}
	if v < math.MinInt16 {
		return math.MinInt16
	}
	return int16(v)
}

// fail records a write failure; it is returned from then on.
func (r *Recorder) fail(err error) error {
	if !errors.Is(err, ErrTooLarge) {
		err = fmt.Errorf("%w: %s: %w", ErrWrite, r.path, err)
	}
	r.err = err
	r.log.Warn("recording write failed", "path", r.path, "err", err)
	return err
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
	if r.inPause {
		return ErrAlreadyPaused
	}
	p := max(r.position(orNow(at)), r.head)
	if k := len(r.pauses); k > 0 {
		p = max(p, r.pauses[k-1].to)
	}
	r.pauses = append(r.pauses, span{from: p, to: math.MaxInt64})
	r.inPause = true
	r.log.Debug("recording paused", "path", r.path, "at", framesToDuration(p, r.rate))
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
	if !r.inPause {
		return ErrNotPaused
	}
	sp := &r.pauses[len(r.pauses)-1]
	sp.to = max(r.position(orNow(at)), r.head, sp.from)
	r.inPause = false
	r.log.Debug("recording resumed", "path", r.path, "at", framesToDuration(sp.to, r.rate))
	return nil
}

// Paused reports whether the recording is paused.
func (r *Recorder) Paused() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.inPause
}

func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}

// Flush writes out the audio that every stream has delivered and makes the
// file on disk declare it (for WAV), without waiting for FlushInterval.
func (r *Recorder) Flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.usable(); err != nil {
		return err
	}
	if err := r.advance(r.target()); err != nil {
		return err
	}
	r.sinceFlush = 0
	if err := r.sink.flush(); err != nil {
		return r.fail(err)
	}
	return nil
}

// Stats describes a recording in progress.
type Stats struct {
	// Written is the length of audio written to the file so far.
	Written time.Duration
	// Timeline is the length of the call's timeline written so far: Written
	// plus the paused time that PauseCut left out.
	Timeline time.Duration
	// Paused is the time of the timeline spent paused so far.
	Paused time.Duration
	// Late counts samples of every stream dropped as late or duplicate.
	Late int64
}

// Stats returns the recording's counters.
func (r *Recorder) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	var late int64
	for _, s := range r.streams {
		late += s.late
	}
	return Stats{
		Written:  framesToDuration(r.out, r.rate),
		Timeline: framesToDuration(r.head, r.rate),
		Paused:   framesToDuration(r.paused, r.rate),
		Late:     late,
	}
}

// Result describes a finished recording, for the session record.
type Result struct {
	// ID and Key of a recording made through a Dir; zero otherwise.
	ID  ID
	Key string
	// Path of the finished file. After a successful upload the file has
	// been removed from there.
	Path string
	// Format, Channels and SampleRate of the file.
	Format     Format
	Channels   int
	SampleRate int
	// Duration of the audio in the file: the call's length from the
	// recording's start to the last sample delivered by any stream, less
	// the paused time when PauseMode is PauseCut.
	Duration time.Duration
	// Paused is the time spent paused.
	Paused time.Duration
	// Size of the file in bytes.
	Size int64
	// Uploaded is true once the Uploader has accepted the file (Finish
	// succeeded). With package recording/spool's Uploader that means the
	// file is in the storage spool, synced to disk, and the spool uploads
	// it in the background until the bucket confirms it: the object will
	// be at Key, but may not be yet. SpoolConfig.OnUploaded (or the
	// Uploader's Wait) tells when the bucket has it.
	Uploaded bool
}

// Stop ends the recording: it writes out everything the streams delivered
// (up to the furthest position any stream reached), finalizes the file
// (WAV header, MP3 flush and LAME tag), fsyncs and closes it. For a
// recording of a Dir the file is then renamed from NAME.part to NAME. A
// second Stop returns the same Result and ErrStopped. After a write
// failure Stop still closes the file and returns the failure.
func (r *Recorder) Stop() (Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return r.result, ErrStopped
	}
	werr := r.advance(r.end())
	r.stopped = true
	size, cerr := r.sink.close()
	if cerr != nil && werr == nil {
		werr = fmt.Errorf("%w: finalizing %s: %w", ErrWrite, r.path, cerr)
	}
	path := r.path
	if r.finalPath != "" && cerr == nil {
		if err := os.Rename(r.path, r.finalPath); err != nil {
			werr = errors.Join(werr, fmt.Errorf("recording: %w", err))
		} else {
			path = r.finalPath
		}
	}
	if r.dir != nil {
		r.dir.release(r.path)
	}
	r.result = Result{
		ID: r.id, Path: path, Format: r.format, Channels: r.channels, SampleRate: r.fileRate,
		Duration: framesToDuration(r.out, r.rate), Paused: framesToDuration(r.paused, r.rate), Size: size,
	}
	if r.dir != nil {
		r.result.Key = r.id.Key(r.format)
	}
	r.log.Info("recording stopped", "path", path, "duration", r.result.Duration, "size", size, "err", werr)
	return r.result, werr
}

// Finish stops the recording (see Stop) and uploads the file through its
// Dir's Uploader under its key ACCOUNT/APPLICATION/SESSION.wav|mp3; the
// local file is removed only after the Uploader accepted it. When the
// upload fails the finalized file stays in the Dir and the error wraps
// ErrUpload: call Finish again, or Dir.Recover later. After a successful
// Finish, another Finish or Stop returns the Result and ErrStopped. A
// recording made by New has nowhere to go: Finish returns ErrNoUploader.
func (r *Recorder) Finish(ctx context.Context) (Result, error) {
	r.finishMu.Lock()
	defer r.finishMu.Unlock()
	res, err := r.Stop()
	if errors.Is(err, ErrStopped) {
		if r.uploaded {
			return res, err
		}
		err = nil
	}
	if err != nil {
		return res, err
	}
	if r.dir == nil || r.dir.up == nil {
		return res, ErrNoUploader
	}
	if err := r.dir.upload(ctx, r.id, res.Format, res.Path, res.Size); err != nil {
		return res, err
	}
	r.mu.Lock()
	r.uploaded = true
	r.result.Uploaded = true
	res = r.result
	r.mu.Unlock()
	return res, nil
}

// Abort stops the recording without finalizing it and removes its file.
// It is for a recording that must not be kept; a crash-safe stop is Stop.
func (r *Recorder) Abort() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return ErrStopped
	}
	r.stopped = true
	r.sink.abort()
	if r.dir != nil {
		r.dir.release(r.path)
	}
	return os.Remove(r.path)
}

// durationToFrames converts d to samples at rate, rounding to nearest.
func durationToFrames(d time.Duration, rate int) int64 {
	sec := int64(d / time.Second)
	rem := int64(d % time.Second)
	half := int64(time.Second / 2)
	if rem < 0 {
		half = -half
	}
	return sec*int64(rate) + (rem*int64(rate)+half)/int64(time.Second)
}

// framesToDuration converts n samples at rate to a duration, truncating to
// the nanosecond.
func framesToDuration(n int64, rate int) time.Duration {
	r := int64(rate)
	return time.Duration(n/r)*time.Second + time.Duration(n%r*int64(time.Second)/r)
}
