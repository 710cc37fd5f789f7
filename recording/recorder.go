package recording

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/bits"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
	// LayoutStereo (third and later streams on both channels);
	// LayoutPerStream gives each stream a channel of its own. Streams
	// with StreamConfig.Separate are not in this file and do not count.
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
	// when many recordings are made: its encoder pool (LAMEConfig) is
	// then shared by them, with one bound on the audio they queue.
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
	// Separate records the stream to a mono file of its own instead of
	// into the recording's file: for a SIPREC mixed stream (one stream
	// carrying several participants) next to the parties' own streams, so
	// that it is kept without being mixed into the parties' channels. The
	// file is the recording's, with ".LABEL" before the extension
	// (call.wav: call.LABEL.wav; in a Dir, SESSION.LABEL.wav, uploaded
	// under the key ACCOUNT/APPLICATION/SESSION.LABEL.wav), or ".sN" (N the
	// stream's index) when the label is empty, longer than 64 bytes, or
	// holds anything but letters, digits, '-', '_' and '+'. It is written,
	// flushed, paused, finalized, uploaded and recovered like the
	// recording's file, on the same timeline; Result.Separate describes it.
	// At least one stream must not be Separate.
	Separate bool
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

	log    *slog.Logger
	format Format
	rate   int // timeline and stream rate
	start  time.Time

	streams []*Stream

	// The timeline: the streams' rings hold its positions [head, head+w).
	w, mask  int64 // ring size (a power of two) and w-1
	head     int64 // next timeline position to write out
	maxDrift int64 // Config.MaxDrift in samples; 0: no drift correction
	pauses   pauseTimeline

	out writer // the files

	stopped bool
	result  Result

	up upload // where Finish sends the file
}

// New creates the file at path (which must not exist) and returns a
// recorder writing to it. The file stays at path after Stop; to upload it
// use a Dir instead. An MP3 recording needs LAME: when it cannot be loaded
// New returns an error wrapping ErrMP3Unavailable and creates no file.
func New(path string, cfg Config) (*Recorder, error) {
	return newRecorder(path, "", nil, ID{}, cfg)
}

func newRecorder(path, finalPath string, d *Dir, id ID, cfg Config) (*Recorder, error) {
	bitrate := cfg.MP3.Bitrate // as given: 0 is the default by channels
	cfg, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	// a Separate stream's file has one channel: the default bitrate of one
	sepCfg := cfg
	sepCfg.MP3.Bitrate = bitrate
	sepCfg.MP3 = sepCfg.MP3.withDefaults(cfg.SampleRate, true)
	lame := cfg.LAME
	if cfg.Format == MP3 && lame == nil {
		if lame, err = OpenLAME(cfg.LAMEPath); err != nil {
			return nil, err
		}
	}
	r := &Recorder{
		log: cfg.Logger, format: cfg.Format, rate: cfg.SampleRate, start: cfg.Start,
		pauses: pauseTimeline{mode: cfg.PauseMode, spans: make([]span, 0, 4)},
		up:     upload{dir: d, id: id},
	}
	wf := max(64, durationToFrames(cfg.Window, cfg.SampleRate))
	r.w = int64(1) << bits.Len64(uint64(wf-1))
	r.mask = r.w - 1
	if cfg.MaxDrift > 0 {
		r.maxDrift = max(1, durationToFrames(cfg.MaxDrift, cfg.SampleRate))
	}
	for i, sc := range cfg.Streams {
		s := &Stream{r: r, index: i, label: sc.Label, ring: make([]int16, r.w), cov: make([]uint64, r.w/64)}
		s.media.s = s
		r.streams = append(r.streams, s)
	}
	r.out = writer{log: cfg.Logger, flushFrames: max(1, durationToFrames(cfg.FlushInterval, cfg.SampleRate)), failed: make(chan struct{})}
	f, err := createFile(path, finalPath, newMixer(routes(cfg)), cfg, lame)
	if err != nil {
		return nil, err
	}
	f.id = id
	r.out.files = append(r.out.files, f)
	for i, sc := range cfg.Streams {
		if !sc.Separate {
			continue
		}
		suffix := separateSuffix(i, sc.Label)
		f, err := createFile(withSuffix(path, suffix), withSuffix(finalPath, suffix), newMixer([][]int{{i}}), sepCfg, lame)
		if err != nil {
			r.out.abort()
			return nil, err
		}
		f.label, f.id = sc.Label, id
		if id != (ID{}) {
			f.id.Session += "." + suffix
		}
		r.out.files = append(r.out.files, f)
	}
	r.log.Debug("recording started", "path", path, "format", r.format.String(), "channels", f.mix.channels,
		"streams", len(r.streams), "files", len(r.out.files), "rate", r.rate)
	return r, nil
}

// mainStreams returns the indexes of the streams recorded into the
// recording's own file.
func mainStreams(streams []StreamConfig) []int {
	var main []int
	for i, s := range streams {
		if !s.Separate {
			main = append(main, i)
		}
	}
	return main
}

// separateSuffix names the file of Separate stream i: its label when that
// is a safe name (letters, digits, '-', '_', '+'; at most 64 bytes), else
// "sN". A label comes from the peer's SDP: it never reaches a path as is.
func separateSuffix(i int, label string) string {
	ok := label != "" && len(label) <= 64
	for j := 0; ok && j < len(label); j++ {
		c := label[j]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '+'
	}
	if ok {
		return label
	}
	return "s" + strconv.Itoa(i)
}

// withSuffix inserts "."+suffix before the extension of p (and before a
// ".part" that follows it): call.wav → call.LABEL.wav. An empty p stays
// empty.
func withSuffix(p, suffix string) string {
	if p == "" {
		return ""
	}
	part := strings.HasSuffix(p, partExt)
	p = strings.TrimSuffix(p, partExt)
	ext := filepath.Ext(p)
	p = strings.TrimSuffix(p, ext) + "." + suffix + ext
	if part {
		p += partExt
	}
	return p
}

// createFile creates the file at path (which must not exist) and its
// encoder.
func createFile(path, finalPath string, mix mixer, cfg Config, lame *LAME) (*recFile, error) {
	fd, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, fmt.Errorf("recording: creating %s: %w", path, err)
	}
	f := &recFile{path: path, finalPath: finalPath, mix: mix, rate: cfg.SampleRate}
	switch cfg.Format {
	case WAV:
		f.sink, err = newWAVSink(fd, mix.channels, cfg.SampleRate, wavBufSize, cfg.Sync)
	case MP3:
		f.rate = cfg.MP3.SampleRate
		f.sink, err = newMP3Sink(fd, lame, cfg.MP3, mix.channels, cfg.SampleRate, chunkFrames, mp3BufSize, cfg.Sync)
	}
	if err != nil {
		_ = fd.Close()
		_ = os.Remove(path)
		return nil, fmt.Errorf("recording: starting %s: %w", path, err)
	}
	return f, nil
}

// resolve fills in defaults and validates.
func (c Config) resolve() (Config, error) {
	if !c.Format.valid() {
		return c, fmt.Errorf("%w: Format %d", ErrBadConfig, uint8(c.Format))
	}
	if c.Layout > LayoutPerStream {
		return c, fmt.Errorf("%w: Layout %d", ErrBadConfig, uint8(c.Layout))
	}
	if c.Format == MP3 && c.MP3.Mono {
		if c.Layout == LayoutPerStream || c.Layout == LayoutStereo {
			return c, fmt.Errorf("%w: MP3.Mono with Layout %v (channels of their own, or one for all: choose one)", ErrBadConfig, c.Layout)
		}
		c.Layout = LayoutMono
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
		if c.Layout == LayoutPerStream && s.Channel != ChannelAuto && !s.Separate {
			return c, fmt.Errorf("%w: Streams[%d] (%q) Channel %v: LayoutPerStream gives each stream its own channel",
				ErrBadConfig, i, s.Label, s.Channel)
		}
	}
	main := mainStreams(c.Streams)
	switch {
	case len(main) == 0:
		return c, fmt.Errorf("%w: every one of the %d Streams is Separate: the recording's file would have no channel", ErrBadConfig, len(c.Streams))
	case c.Layout == LayoutPerStream && len(main) > maxChannels:
		return c, fmt.Errorf("%w: LayoutPerStream with %d streams (at most %d channels)", ErrBadConfig, len(main), maxChannels)
	case c.Layout == LayoutPerStream && c.Format == MP3 && len(main) > 2:
		return c, fmt.Errorf("%w: LayoutPerStream with %d streams in an MP3 file (at most 2 channels; record the others Separate, or use WAV)",
			ErrBadConfig, len(main))
	}
	seen := map[string]int{}
	for i, s := range c.Streams {
		if !s.Separate {
			continue
		}
		suffix := separateSuffix(i, s.Label)
		if j, dup := seen[suffix]; dup {
			return c, fmt.Errorf("%w: Streams[%d] and Streams[%d] are both Separate with the label %q: their files would have the same name",
				ErrBadConfig, j, i, s.Label)
		}
		seen[suffix] = i
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
		c.MP3 = c.MP3.withDefaults(c.SampleRate, len(routes(c)) == 1)
		if err := c.MP3.validate(c.SampleRate); err != nil {
			return c, err
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c, nil
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
func (r *Recorder) Path() string { return r.out.files[0].path }

// Channels returns the number of channels of the recording's file: 1 or 2,
// or with LayoutPerStream one per stream (Separate streams excluded).
func (r *Recorder) Channels() int { return r.out.files[0].mix.channels }

// Format returns the file format.
func (r *Recorder) Format() Format { return r.format }

// Failed returns a channel that is closed when the recording can no longer
// be written: writing its file failed (a full disk, an I/O error; Err
// wraps ErrWrite and the operating system's error) or the WAV file reached
// its 4 GiB limit (ErrTooLarge). From then on the recording takes no more
// audio (MediaHandler counts refusals) and every call returns the error;
// the file holds what was written before, and Stop still finalizes it. A
// gateway ends the call's recording session when it fires, for a SIPREC
// session with a BYE carrying a Reason, so that the recording client knows
// (and can fail over to another recorder) instead of talking to a recorder
// that writes nothing:
//
//	select {
//	case <-rec.Failed():
//		// e.g. siprec: sess.Hangup(ctx, 500, "recording failed")
//		log.Error("recording failed", "err", rec.Err())
//	case <-sessionEnded:
//	}
//
// The failure shows as soon as a write is refused: audio goes to the file
// through a 16 KiB buffer (half a second of 8 kHz stereo WAV) and at every
// Config.FlushInterval, so within FlushInterval of audio of the disk
// filling up. Stop's own failures to finalize the file are what Stop
// returns; they do not close the channel. The channel is the same for
// every call.
func (r *Recorder) Failed() <-chan struct{} { return r.out.failed }

// Err returns why the recording can no longer be written (an error
// wrapping ErrWrite or ErrTooLarge), or nil while it can; see Failed.
func (r *Recorder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.err
}

// Start returns the wall-clock time of the file's first sample.
func (r *Recorder) Start() time.Time { return r.start }

// position converts a wall-clock time to a timeline position.
func (r *Recorder) position(t time.Time) int64 {
	return durationToFrames(t.Sub(r.start), r.rate)
}

// usable reports ErrStopped or a sticky write failure.
func (r *Recorder) usable() error {
	if r.stopped {
		return ErrStopped
	}
	return r.out.err
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

// advance writes the timeline out up to target: it mixes the streams'
// rings into frames, applies pauses, and hands the frames to the files.
func (r *Recorder) advance(target int64) error {
	if r.out.err != nil {
		return r.out.err
	}
	for r.head < target {
		ri := r.head & r.mask
		n := min(target-r.head, chunkFrames, r.w-ri)
		paused, until := r.pauses.at(r.head)
		n = min(n, until-r.head)
		if paused {
			r.pauses.total += n
			if r.pauses.mode == PauseCut {
				r.consume(ri, n)
				r.head += n
				r.pauses.prune(r.head)
				continue
			}
		}
		err := r.out.emit(r.streams, ri, n, paused)
		r.consume(ri, n)
		r.head += n
		if err != nil {
			return err
		}
		if paused {
			r.pauses.prune(r.head)
		}
	}
	return nil
}

// consume clears n ring positions from ri in every stream, so that the
// positions reused a Window later start as silence and undelivered.
func (r *Recorder) consume(ri, n int64) {
	for _, s := range r.streams {
		clear(s.ring[ri : ri+n])
		clearBits(s.cov, ri, ri+n)
	}
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
	return r.out.flush()
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
	// Ahead counts samples of every stream dropped for lying more than the
	// Window ahead of the wall clock (StreamStats.Ahead).
	Ahead int64
}

// Stats returns the recording's counters.
func (r *Recorder) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	var late, ahead int64
	for _, s := range r.streams {
		late += s.late
		ahead += s.ahead
	}
	return Stats{
		Written:  framesToDuration(r.out.frames, r.rate),
		Timeline: framesToDuration(r.head, r.rate),
		Paused:   framesToDuration(r.pauses.total, r.rate),
		Late:     late,
		Ahead:    ahead,
	}
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
