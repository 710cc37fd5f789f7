package recording

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// MP3Config configures MP3 recordings. The zero value gives, for 8 kHz
// streams, an 8 kHz file (MPEG-2.5) at a constant 48 kbit/s (32 for a file of one channel; see Bitrate) with LAME
// quality 7, long blocks only (no switching to short blocks: for narrowband
// speech it costs LAME time and the speech measures better without it) and
// a lowpass at 90% of the streams' Nyquist frequency (3.6 kHz for G.711,
// above the 300-3,400 Hz telephone band). A two-party call costs LAME about
// 11% less than with LAME's short blocks and its own lowpass (the default
// before), and a third of what the 16 kHz, quality 5 default of earlier
// versions did (BENCHMARKS.md, "MP3 settings").
type MP3Config struct {
	// SampleRate of the MP3 file: the streams' rate (the default) or twice
	// it. At the streams' rate nothing is resampled; for 8 kHz streams the
	// file is MPEG-2.5, which browsers (Chromium checked by this package's
	// tests), ffmpeg, lame and sox decode but hajimehoshi/go-mp3 does not.
	// Twice the rate (16000 for 8 kHz streams) makes an MPEG-2 file that
	// every decoder reads, for about twice LAME's time: this package then
	// upsamples 2× itself and sets LAME's lowpass to 95% of the streams'
	// Nyquist frequency (3.8 kHz for 8 kHz streams), where the audio ends.
	// Other rates are refused: LAME's own resampler would make the file's
	// length inexact.
	SampleRate int
	// Bitrate in kbit/s, constant. Default 32 for a file of one channel
	// below 16 kHz (the 8 kHz default for G.711), 48 otherwise (two
	// channels, or a file of 16 kHz and up, where a 32 kbit/s frame has no
	// room for LAME's tag). A file has one channel with Mono or
	// LayoutMono, with LayoutAuto or LayoutPerStream when one stream goes
	// into it (Separate streams do not count); every Separate stream's own
	// file has one. A Bitrate set applies to every file. The mix of a call
	// at 32 scores better than each party of a stereo file at 48 (segSNR
	// 21.5 dB against 19.3) for less CPU than a mix at 48 (BENCHMARKS.md,
	// "MP3, third round"). It must be a Layer III bitrate of the file's
	// MPEG version: 8–160 for 24 kHz and below, 32–320 for 32–48 kHz.
	// Below 24 kbit/s at 8 kHz, or 40 kbit/s at 16 kHz, a frame has no
	// room for LAME's tag, so the file does not record its exact length and
	// players add about 70–140 ms (encoder delay and padding).
	Bitrate int
	// Quality is LAME's algorithm quality, 1 (best, slowest) to 9 (fastest);
	// 0 means the default, 7. At 7 LAME skips its noise-shaping iterations:
	// on telephone speech that halves its time and measures no worse (at
	// constant bit rate LAME 3.100 encodes 8 and 9 exactly as 7). LAME's
	// own -q 0 is not offered: it costs several times more CPU for no
	// audible gain on speech.
	Quality int
	// Mono mixes the streams of an MP3 file into one channel, as
	// LayoutMono does (sums saturate), with Config.Layout LayoutAuto or
	// LayoutMono (LayoutStereo and LayoutPerStream, which ask for channels
	// of their own, are refused with it): a two-party call no longer has
	// a party per channel, and LAME's time per call about halves
	// (BenchmarkMP3TuneAB: 0.55 of the stereo default's CPU before this
	// option; the speech of the mix scores better at 32 kbit/s than each
	// party in stereo at 48). WAV files are not affected. Default false.
	Mono bool
	// Inline encodes on the goroutine that writes the audio (Stream.Write,
	// Gap, a MediaHandler: a media poller's worker), as before this
	// option. Default false: the recording's writer only gathers a
	// batch (a frame, 1,152 samples a channel) and the encoder pool of
	// its LAME (LAMEConfig.Encoders) runs LAME and the file writes, a
	// recording's batches in order, one at a time, so a worker serving
	// many calls does not spend most of its time in LAME and fall behind
	// its socket. Flush and Stop encode the recording's queued batches
	// first; Abort drops them (waiting for the one being encoded); a
	// failure in the pool is returned by the next write,
	// flush or Stop. The files are the same either way. Inline suits a
	// program that records on one goroutine and wants no other.
	Inline bool

	// tune holds settings the benchmarks compare (BenchmarkMP3Tune) that
	// are not offered: the zero value is what recordings use.
	tune mp3Tune
}

// mp3Tune are LAME settings measured by the benchmarks, not offered. The
// zero value is the default.
type mp3Tune struct {
	joint       bool      // joint stereo instead of stereo
	shortBlocks bool      // let LAME switch to short blocks (the default before the mp3b branch)
	noReservoir bool      // no bit reservoir (lame --nores)
	lowpass     int       // Hz; 0: the default (mp3Lowpass); -1: LAME's own choice
	batch       int       // frames per LAME call, 0: mp3Batch
	extra       []lameSet // further lame_set_NAME calls
}

// mp3Lowpass returns the lowpass (Hz) LAME is given for streams at rate:
// 90% of their Nyquist frequency (3.6 kHz for G.711), above the 300-3,400 Hz
// telephone band. Measured with BenchmarkMP3TuneAB: with long blocks only,
// about 11% less CPU than neither, and the speech scores better (BENCHMARKS.md).
func mp3Lowpass(rate int) int { return rate / 2 * 90 / 100 }

// MPEG Layer III bitrates (kbit/s) by bitrate index, for MPEG-1 and for
// MPEG-2/2.5. Index 0 is "free format", 15 is invalid.
func mp3Bitrate(version, index int) int {
	if index <= 0 || index >= 15 {
		return 0
	}
	if version == mpeg1 {
		return [...]int{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320}[index]
	}
	return [...]int{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160}[index]
}

// MPEG versions as coded in the frame header.
const (
	mpeg25 = 0
	mpeg2  = 2
	mpeg1  = 3
)

func mp3SampleRate(version, index int) int {
	if index < 0 || index > 2 {
		return 0
	}
	base := [...]int{44100, 48000, 32000}[index]
	switch version {
	case mpeg1:
		return base
	case mpeg2:
		return base / 2
	case mpeg25:
		return base / 4
	}
	return 0
}

// mp3VersionForRate returns the MPEG version that codes rate, or -1.
func mp3VersionForRate(rate int) int {
	for _, v := range [...]int{mpeg1, mpeg2, mpeg25} {
		for i := 0; i < 3; i++ {
			if mp3SampleRate(v, i) == rate {
				return v
			}
		}
	}
	return -1
}

// Validate reports what New would refuse in c for an MP3 file of streams
// at streamRate Hz (8000 for G.711), its zero fields taken as their
// defaults: a sample rate other than the streams' or twice it, a bitrate
// that is not a Layer III bitrate at the file's rate (8 kHz: 8, 16, 24,
// 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160), a quality out of 1–9.
// The error wraps ErrBadConfig and names the bad value. A program checks
// its configuration with it at start instead of at the first MP3 call.
// A zero Bitrate is taken as the default of a file of c.Mono's channels;
// New picks it from the channels each file really has (a one-stream
// recording is one channel too): both defaults are valid at every rate,
// so the answer is the same.
func (c MP3Config) Validate(streamRate int) error {
	return c.withDefaults(streamRate, c.Mono).validate(streamRate)
}

// withDefaults fills the zero fields; mono: the file has one channel (see
// Bitrate).
func (c MP3Config) withDefaults(streamRate int, mono bool) MP3Config {
	if c.SampleRate == 0 {
		c.SampleRate = streamRate
	}
	if c.Bitrate == 0 {
		c.Bitrate = 48
		if mono && c.SampleRate < 16000 {
			c.Bitrate = 32 // at 16 kHz a 32 kbit/s frame has no room for LAME's tag
		}
	}
	if c.Quality == 0 {
		c.Quality = 7
	}
	return c
}

func (c MP3Config) validate(streamRate int) error {
	v := mp3VersionForRate(c.SampleRate)
	if v < 0 {
		return fmt.Errorf("%w: MP3.SampleRate %d is not an MPEG sample rate", ErrBadConfig, c.SampleRate)
	}
	if c.SampleRate != streamRate && c.SampleRate != 2*streamRate {
		return fmt.Errorf("%w: MP3.SampleRate %d is neither the streams' rate %d nor twice it", ErrBadConfig, c.SampleRate, streamRate)
	}
	ok := false
	for i := 1; i < 15; i++ {
		if mp3Bitrate(v, i) == c.Bitrate {
			ok = true
		}
	}
	if !ok {
		return fmt.Errorf("%w: MP3.Bitrate %d kbit/s is not a Layer III bitrate at %d Hz", ErrBadConfig, c.Bitrate, c.SampleRate)
	}
	if c.Quality < 1 || c.Quality > 9 {
		return fmt.Errorf("%w: MP3.Quality %d (want 1 to 9, or 0 for the default)", ErrBadConfig, c.Quality)
	}
	return nil
}

// mp3Header is the 32-bit header of an MPEG audio Layer III frame
// (ISO/IEC 11172-3 §2.4.1.3, ISO/IEC 13818-3 for the lower rates):
//
//	AAAAAAAA AAABBCCD EEEEFFGH IIJJKLMM
//	A sync (all ones)     B version (0 2.5, 2 MPEG-2, 3 MPEG-1)
//	C layer (1 = III)     D no CRC when set   E bitrate index
//	F sample rate index   G padding   H private   I channel mode (3 mono)
//	J mode extension      K copyright L original  M emphasis
type mp3Header struct {
	Version      int
	NoCRC        bool
	BitrateIndex int
	RateIndex    int
	Padding      bool
	Private      bool
	Mode         int
	ModeExt      int
	Copyright    bool
	Original     bool
	Emphasis     int
}

var errMP3Header = errors.New("not a Layer III frame header")

// parseMP3Header parses the frame header at the start of b.
func parseMP3Header(b []byte) (mp3Header, error) {
	if len(b) < 4 {
		return mp3Header{}, errMP3Header
	}
	v := binary.BigEndian.Uint32(b)
	bit := func(n uint) bool { return v>>n&1 == 1 }
	field := func(shift, width uint) int { return int(v >> shift & (1<<width - 1)) }
	h := mp3Header{
		Version: field(19, 2), NoCRC: bit(16), BitrateIndex: field(12, 4), RateIndex: field(10, 2),
		Padding: bit(9), Private: bit(8), Mode: field(6, 2), ModeExt: field(4, 2),
		Copyright: bit(3), Original: bit(2), Emphasis: field(0, 2),
	}
	if v>>21 != 0x7ff || h.Version == 1 || field(17, 2) != 1 || h.Emphasis == 2 ||
		mp3Bitrate(h.Version, h.BitrateIndex) == 0 || mp3SampleRate(h.Version, h.RateIndex) == 0 {
		return mp3Header{}, errMP3Header
	}
	return h, nil
}

// marshal returns the 4 header bytes.
func (h mp3Header) marshal() [4]byte {
	b2 := func(ok bool) uint32 {
		if ok {
			return 1
		}
		return 0
	}
	v := uint32(0x7ff)<<21 | uint32(h.Version&3)<<19 | 1<<17 | b2(h.NoCRC)<<16 |
		uint32(h.BitrateIndex&15)<<12 | uint32(h.RateIndex&3)<<10 | b2(h.Padding)<<9 | b2(h.Private)<<8 |
		uint32(h.Mode&3)<<6 | uint32(h.ModeExt&3)<<4 | b2(h.Copyright)<<3 | b2(h.Original)<<2 | uint32(h.Emphasis&3)
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return b
}

func (h mp3Header) sampleRate() int { return mp3SampleRate(h.Version, h.RateIndex) }
func (h mp3Header) bitrate() int    { return mp3Bitrate(h.Version, h.BitrateIndex) }
func (h mp3Header) channels() int {
	if h.Mode == 3 {
		return 1
	}
	return 2
}

// samples returns the samples per channel in one frame.
func (h mp3Header) samples() int {
	if h.Version == mpeg1 {
		return 1152
	}
	return 576
}

// size returns the frame length in bytes, header included.
func (h mp3Header) size() int {
	n := 144 * 1000 * h.bitrate() / h.sampleRate()
	if h.Version != mpeg1 {
		n /= 2
	}
	if h.Padding {
		n++
	}
	return n
}

// sideInfo returns the size of the side information after the header.
func (h mp3Header) sideInfo() int {
	switch {
	case h.Version == mpeg1 && h.Mode == 3:
		return 17
	case h.Version == mpeg1:
		return 32
	case h.Mode == 3:
		return 9
	}
	return 17
}

// lameTag is what a Xing/Info frame (and LAME's extension of it) says
// about the stream: the frame count (without the tag frame) and the
// encoder delay and padding, which make the exact length known.
type lameTag struct {
	Frames  int64 // -1 when absent
	Delay   int   // samples at the start that are not audio, -1 when absent
	Padding int   // samples at the end that are not audio
}

// parseInfoTag looks for a Xing or Info tag in frame, the whole first
// frame of a stream with header h.
func parseInfoTag(frame []byte, h mp3Header) (lameTag, bool) {
	off := 4 + h.sideInfo()
	if !h.NoCRC {
		off += 2
	}
	if off+8 > len(frame) {
		return lameTag{}, false
	}
	id := string(frame[off : off+4])
	if id != "Xing" && id != "Info" {
		return lameTag{}, false
	}
	be := binary.BigEndian
	flags := be.Uint32(frame[off+4:])
	t := lameTag{Frames: -1, Delay: -1}
	p := off + 8
	if flags&1 != 0 {
		if p+4 > len(frame) {
			return lameTag{}, false
		}
		t.Frames = int64(be.Uint32(frame[p:]))
		p += 4
	}
	if flags&2 != 0 {
		p += 4
	}
	if flags&4 != 0 {
		p += 100
	}
	if flags&8 != 0 {
		p += 4
	}
	// LAME extension: 9-byte encoder string, then 12 bytes, then the 12-bit
	// delay and 12-bit padding.
	if p+24 <= len(frame) && string(frame[p:p+4]) == "LAME" {
		d := frame[p+21:]
		t.Delay = int(d[0])<<4 | int(d[1])>>4
		t.Padding = int(d[1]&0xf)<<8 | int(d[2])
	}
	return t, true
}

// skipID3v2 returns the size of an ID3v2 tag at the start of b, or 0.
func skipID3v2(b []byte) int64 {
	if len(b) < 10 || string(b[:3]) != "ID3" {
		return 0
	}
	n := int64(b[6]&0x7f)<<21 | int64(b[7]&0x7f)<<14 | int64(b[8]&0x7f)<<7 | int64(b[9]&0x7f)
	n += 10
	if b[5]&0x10 != 0 { // footer
		n += 10
	}
	return n
}

// mp3Scan is the result of walking the frames of an MP3 file.
type mp3Scan struct {
	first  mp3Header
	frames int64 // audio frames (a Xing/Info tag frame not counted)
	tag    lameTag
	hasTag bool
	// end is the offset after the last whole frame; the rest is a partial
	// frame (cut off by a crash) or junk.
	end int64
}

// scanMP3 walks the frames of the MP3 file r of the given size.
func scanMP3(r io.ReaderAt, size int64) (mp3Scan, error) {
	var s mp3Scan
	br := bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 64<<10)
	var head [10]byte
	n, _ := io.ReadFull(br, head[:])
	off := skipID3v2(head[:n])
	if off > size {
		return s, fmt.Errorf("%w: ID3 tag of %d bytes in a file of %d", ErrNotRecording, off, size)
	}
	br.Reset(io.NewSectionReader(r, off, size-off))
	s.end = off
	frame := make([]byte, 0, 2048)
	for {
		hb, err := br.Peek(4)
		if err != nil {
			break
		}
		h, err := parseMP3Header(hb)
		if err != nil {
			break
		}
		if s.frames == 0 && !s.hasTag {
			s.first = h
		} else if h.Version != s.first.Version || h.RateIndex != s.first.RateIndex {
			break // another stream's frame, or junk that looks like one
		}
		fs := h.size()
		if s.end+int64(fs) > size {
			break
		}
		if s.frames == 0 && !s.hasTag {
			frame = frame[:fs]
			if _, err := io.ReadFull(br, frame); err != nil {
				break
			}
			if t, ok := parseInfoTag(frame, h); ok {
				s.tag, s.hasTag = t, true
				s.end += int64(fs)
				continue
			}
		} else if _, err := br.Discard(fs); err != nil {
			break
		}
		s.frames++
		s.end += int64(fs)
	}
	if s.frames == 0 && !s.hasTag {
		return s, fmt.Errorf("%w: no MPEG Layer III frame at offset %d", ErrNotRecording, off)
	}
	return s, nil
}

// info describes the scanned stream. With a LAME tag the length is exact;
// without one (a file cut off by a crash) every frame counts, including
// the encoder's start-up delay.
func (s mp3Scan) info(size int64) Info {
	spf := int64(s.first.samples())
	samples := s.frames * spf
	if s.hasTag && s.tag.Delay >= 0 && s.tag.Frames == s.frames {
		samples -= int64(s.tag.Delay + s.tag.Padding)
		if samples < 0 {
			samples = 0
		}
	}
	return Info{
		Format:     MP3,
		Channels:   s.first.channels(),
		SampleRate: s.first.sampleRate(),
		Frames:     samples,
		Duration:   framesToDuration(samples, s.first.sampleRate()),
		Size:       size,
		Bitrate:    s.first.bitrate(),
	}
}

// repairMP3 cuts a partial frame off the end of the MP3 file f.
func repairMP3(f *os.File, size int64) (RepairResult, error) {
	res := RepairResult{Format: MP3}
	s, err := scanMP3(f, size)
	if err != nil {
		return res, err
	}
	if s.end < size {
		if err := f.Truncate(s.end); err != nil {
			return res, err
		}
		if err := f.Sync(); err != nil {
			return res, err
		}
		res.Truncated = size - s.end
		res.Changed = true
	}
	res.Info = s.info(s.end)
	return res, nil
}
