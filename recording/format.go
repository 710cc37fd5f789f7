package recording

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// Errors callers can match with errors.Is. Every error this package returns
// wraps one of them (or an error from the operating system) with context.
var (
	// ErrBadConfig reports an invalid Config, StreamConfig or MP3Config
	// field; the message names the field and the bad value.
	ErrBadConfig = errors.New("recording: bad configuration")
	// ErrMP3Unavailable reports that LAME's shared library could not be
	// loaded, so MP3 recordings cannot be made; WAV still works. The message
	// names the library path tried and the Debian package to install.
	ErrMP3Unavailable = errors.New("recording: MP3 encoding unavailable (install the Debian package libmp3lame0, which provides libmp3lame.so.0)")
	// ErrAlreadyPaused is returned by Pause on a paused recording; nothing changes.
	ErrAlreadyPaused = errors.New("recording: already paused")
	// ErrNotPaused is returned by Resume on a recording that is not paused; nothing changes.
	ErrNotPaused = errors.New("recording: not paused")
	// ErrStopped is returned by every call on a recording that has already
	// been stopped. A second Stop or Finish also returns the first Result.
	ErrStopped = errors.New("recording: already stopped")
	// ErrStreamNotStarted is returned by Stream.Write and Stream.Gap before
	// the stream was placed on the timeline with Start or StartAt.
	ErrStreamNotStarted = errors.New("recording: stream not started")
	// ErrStreamStarted is returned by Start or StartAt on a stream already
	// placed on the timeline; its position does not change.
	ErrStreamStarted = errors.New("recording: stream already started")
	// ErrStreamEnded is returned by calls on a stream after Stream.End.
	ErrStreamEnded = errors.New("recording: stream ended")
	// ErrWrite reports that the recording file could not be written (disk
	// full, I/O error). It is sticky: every later call returns it too, and
	// the file holds what was written before the failure. Recorder.Failed
	// is closed when it happens and Recorder.Err returns it, so a gateway
	// ends the session at once rather than at its next call.
	ErrWrite = errors.New("recording: writing the recording file failed")
	// ErrTooLarge reports that a WAV file would exceed the 4 GiB limit of
	// its 32-bit RIFF sizes (about 37 hours of 8 kHz stereo). Like
	// ErrWrite it is sticky and closes Recorder.Failed.
	ErrTooLarge = errors.New("recording: WAV file would exceed 4 GiB")
	// ErrNoUploader is returned by Finish when the recording has nowhere to
	// be uploaded (created by New, or by a Dir without an Uploader). The
	// file is finalized and stays where it is.
	ErrNoUploader = errors.New("recording: no uploader configured")
	// ErrUpload wraps an Uploader's failure. The finalized file stays in the
	// recording directory; Finish or Dir.Recover tries again.
	ErrUpload = errors.New("recording: upload failed")
	// ErrBadID reports an ID whose account, application or session cannot
	// be used as a path element of an object key.
	ErrBadID = errors.New("recording: bad recording ID")
	// ErrNotRecording reports a file that is not a WAV or MP3 recording this
	// package can inspect or repair.
	ErrNotRecording = errors.New("recording: not a recording file")
)

// Format is the file format of a recording. The zero value is WAV.
type Format uint8

const (
	// WAV is RIFF WAVE with 16-bit linear PCM at the streams' sample rate.
	WAV Format = iota
	// MP3 is MPEG audio layer III encoded by LAME (at the streams' rate by
	// default: 8 kHz MPEG-2.5 for G.711; see MP3Config).
	MP3
)

// String returns "wav" or "mp3".
func (f Format) String() string {
	switch f {
	case WAV:
		return "wav"
	case MP3:
		return "mp3"
	}
	return fmt.Sprintf("Format(%d)", uint8(f))
}

// Ext returns the file name extension with its dot: ".wav" or ".mp3".
func (f Format) Ext() string { return "." + f.String() }

// ContentType returns the media type stored with an uploaded object:
// "audio/wav" or "audio/mpeg".
func (f Format) ContentType() string {
	if f == MP3 {
		return "audio/mpeg"
	}
	return "audio/wav"
}

func (f Format) valid() bool { return f == WAV || f == MP3 }

// ParseFormat parses "wav" or "mp3" (any case, with or without a leading dot).
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimPrefix(s, ".")) {
	case "wav":
		return WAV, nil
	case "mp3":
		return MP3, nil
	}
	return 0, fmt.Errorf("%w: format %q (want wav or mp3)", ErrBadConfig, s)
}

// MarshalText implements encoding.TextMarshaler.
func (f Format) MarshalText() ([]byte, error) {
	if !f.valid() {
		return nil, fmt.Errorf("%w: format %d", ErrBadConfig, uint8(f))
	}
	return []byte(f.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (f *Format) UnmarshalText(b []byte) error {
	v, err := ParseFormat(string(b))
	if err != nil {
		return err
	}
	*f = v
	return nil
}

// Layout says how streams become channels of the file.
type Layout uint8

const (
	// LayoutAuto is mono for one stream and stereo for two or more: the
	// default, so a two-party call has one party per channel.
	LayoutAuto Layout = iota
	// LayoutMono mixes every stream into one channel: the samples are summed
	// and saturate at the int16 limits instead of wrapping around.
	LayoutMono
	// LayoutStereo writes two channels. Streams go to channels by their
	// StreamConfig.Channel; with ChannelAuto the first stream is on the
	// left, the second on the right, and every further stream is mixed into
	// both channels (a third party, an announcement or a conference bridge
	// is heard on both sides). Sums saturate like LayoutMono.
	LayoutStereo
	// LayoutPerStream writes one channel per stream, in the order of
	// Config.Streams, nothing mixed: a two-party call with a SIPREC mixed
	// stream (one stream, several participants) is a 3-channel file, both
	// parties apart and the mix on its own channel. At most 8 channels
	// (WAV); MP3 holds at most 2. StreamConfig.Channel must be ChannelAuto.
	// Streams recorded to a file of their own (StreamConfig.Separate) have
	// no channel here.
	LayoutPerStream
)

// maxChannels is the most channels a file of LayoutPerStream may have
// (what WAV readers, and this package's Repair, take for PCM).
const maxChannels = 8

// String returns "auto", "mono", "stereo" or "per-stream".
func (l Layout) String() string {
	switch l {
	case LayoutAuto:
		return "auto"
	case LayoutMono:
		return "mono"
	case LayoutStereo:
		return "stereo"
	case LayoutPerStream:
		return "per-stream"
	}
	return fmt.Sprintf("Layout(%d)", uint8(l))
}

// Channel places one stream in a stereo file.
type Channel uint8

const (
	// ChannelAuto follows the rule of LayoutStereo: first stream left,
	// second right, the others on both.
	ChannelAuto Channel = iota
	// ChannelLeft puts the stream on the left channel only.
	ChannelLeft
	// ChannelRight puts the stream on the right channel only.
	ChannelRight
	// ChannelBoth mixes the stream into both channels.
	ChannelBoth
)

// String returns "auto", "left", "right" or "both".
func (c Channel) String() string {
	switch c {
	case ChannelAuto:
		return "auto"
	case ChannelLeft:
		return "left"
	case ChannelRight:
		return "right"
	case ChannelBoth:
		return "both"
	}
	return fmt.Sprintf("Channel(%d)", uint8(c))
}

// PauseMode says what a paused stretch becomes in the file.
type PauseMode uint8

const (
	// PauseSilence writes silence for a paused stretch, so the file's
	// timeline stays the call's wall-clock timeline. The default.
	PauseSilence PauseMode = iota
	// PauseCut leaves paused stretches out of the file: the file is shorter
	// than the call by the time spent paused.
	PauseCut
)

// String returns "silence" or "cut".
func (m PauseMode) String() string {
	switch m {
	case PauseSilence:
		return "silence"
	case PauseCut:
		return "cut"
	}
	return fmt.Sprintf("PauseMode(%d)", uint8(m))
}

// ID names a recording: the account and application it belongs to and the
// session it records. It is the object key of the uploaded file.
type ID struct {
	Account     string
	Application string
	Session     string
}

// Validate checks that each part of id is usable as one element of an object
// key and of a local path: not empty, at most 200 bytes, no '/', '\\', NUL or
// other control character, not "." or "..", and not starting with a dot.
func (id ID) Validate() error {
	for _, p := range [...]struct{ name, v string }{
		{"account", id.Account}, {"application", id.Application}, {"session", id.Session},
	} {
		if err := checkKeyElem(p.v); err != nil {
			return fmt.Errorf("%w: %s %q: %s", ErrBadID, p.name, p.v, err.Error())
		}
	}
	return nil
}

func checkKeyElem(s string) error {
	switch {
	case s == "":
		return errors.New("empty")
	case len(s) > 200:
		return errors.New("longer than 200 bytes")
	case s[0] == '.':
		return errors.New("starts with a dot")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '/' || c == '\\' || c < 0x20 || c == 0x7f {
			return fmt.Errorf("byte %#x at position %d is not allowed", c, i)
		}
	}
	return nil
}

// Key returns the object key ACCOUNT_SID/APPLICATION_SID/SESSION_ID.wav|mp3.
// It does not validate id; Dir.Create does.
func (id ID) Key(f Format) string {
	return id.Account + "/" + id.Application + "/" + id.Session + f.Ext()
}

// ParseKey is the inverse of ID.Key: it splits an object key into its ID and
// format, and validates both.
func ParseKey(key string) (ID, Format, error) {
	parts := strings.Split(key, "/")
	if len(parts) != 3 {
		return ID{}, 0, fmt.Errorf("%w: key %q is not ACCOUNT/APPLICATION/SESSION.wav|mp3", ErrBadID, key)
	}
	ext := path.Ext(parts[2])
	f, err := ParseFormat(ext)
	if err != nil || ext == "" {
		return ID{}, 0, fmt.Errorf("%w: key %q has extension %q, want .wav or .mp3", ErrBadID, key, ext)
	}
	id := ID{Account: parts[0], Application: parts[1], Session: strings.TrimSuffix(parts[2], ext)}
	if err := id.Validate(); err != nil {
		return ID{}, 0, fmt.Errorf("key %q: %w", key, err)
	}
	return id, f, nil
}
