package recording

import "testing"

// Test helpers of this package, exported to the tests of package
// recording_test in this directory: those hand recordings to the real
// storage spool through package recording/spool, which imports recording,
// so they cannot be in package recording itself.

const Rate8k = rate8k

var (
	T0               = t0
	Must             = must
	Tone             = tone
	Level            = level
	Window           = window
	Abs              = abs
	NewModel         = newModel
	ReadWAV          = readWAV
	SoxInfo          = soxInfo
	SoxStat          = soxStat
	LameDecode       = lameDecode
	RequireLAME      = requireLAME
	LameOnce         = lameOnce
	TwoStreams       = twoStreams
	RecordTone       = recordTone
	DurationToFrames = durationToFrames
	FramesToDuration = framesToDuration
)

// Model is the expected content of a file (see model).
type Model = model

// Put places pcm in channel c at timeline position at.
func (m model) Put(c int, at int64, pcm []int16) { m.put(c, at, pcm) }

// Compare checks w against m sample by sample.
func (m model) Compare(t *testing.T, w WAVFile) {
	t.Helper()
	m.compare(t, w)
}

// WAVFile is a WAV file read by go-audio/wav (see readWAV).
type WAVFile = wavFile

// Frames returns the number of frames.
func (w wavFile) Frames() int { return w.frames() }

// Rate returns the sample rate.
func (w wavFile) Rate() int { return w.rate }

// MP3Audio is an MP3 file decoded by `lame --decode` (see decodeMP3).
type MP3Audio struct {
	Rate        int
	Left, Right []int16
}

// DecodeMP3 decodes path with `lame --decode` (see decodeMP3): exact
// length and no encoder delay when the file has its LAME tag.
func DecodeMP3(t testing.TB, path string) MP3Audio {
	t.Helper()
	m := decodeMP3(t, path)
	return MP3Audio{m.rate, m.left, m.right}
}

// Feeder drives one stream in packets (see feeder).
type Feeder = feeder

// NewFeeder returns a feeder of s at 8 kHz.
func NewFeeder(t testing.TB, s *Stream, freq, amp float64) Feeder {
	return feeder{t, s, rate8k, freq, amp}
}

// Stream returns the stream fed.
func (f feeder) Stream() *Stream { return f.s }

// Send writes the packet at pos with n samples.
func (f feeder) Send(pos int64, n int) {
	f.t.Helper()
	f.send(pos, n)
}
