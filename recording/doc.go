// Package recording turns the decoded audio of 1..N streams of a call into
// one time-aligned recording file — WAV or MP3 — and gets it into a bucket.
//
// It is media-agnostic: a stream is fed 16-bit PCM at a known sample rate
// and explicit gaps, each on the stream's own continuous timeline of
// samples (for RTP, RFC 3550 §5.1, the unwrapped timestamp minus the first
// one; G.711, RFC 3551 §4.5.14, is 8000 samples per second). How a gateway
// gets that audio (package media, a SIPREC session of RFC 7866) and which
// calls it records (tenancy's policy) are not this package's job: it
// records what it is told to.
//
// # Timeline
//
// A Recorder's timeline starts at Config.Start (wall-clock). Each Stream is
// placed on it by Stream.Start (the wall-clock time of the stream's first
// sample) or Stream.StartAt (a sample offset), so a party that starts late
// starts late in the file. Within a stream, Stream.Write(pos, pcm) puts
// samples at their position: positions never delivered are silence of
// exactly their length, packets may arrive in any order within
// Config.Window, and data for a position already written to the file, or
// delivered twice, is dropped and counted (Stream.Stats). Stream.Gap says
// "silence here" so the recorder need not wait for it. Because positions
// are sample counts, two parties stay sample-aligned for any length of
// call (a simulated one-hour call with loss, reordering, duplicates and a
// pause is checked frame by frame in the tests). A sender whose clock runs
// off the wall clock is the stream source's business: its positions are
// taken as given.
//
// The recorder writes a stretch of the timeline out once every stream
// that has not ended has delivered it; when one stream gets a Window
// ahead of another (or of a stream declared but not yet started), the
// oldest audio is written anyway, the lagging stream's part as silence.
//
// # Layouts
//
// LayoutAuto (the default) is mono for one stream and stereo for two or
// more; stereo puts the first stream on the left and the second on the
// right, and mixes every further stream into both channels (a third party,
// a conference bridge or an announcement is heard on both sides), unless
// StreamConfig.Channel says otherwise. LayoutMono mixes every stream into
// one channel. Mixed samples are summed and saturate at the int16 limits
// instead of wrapping around.
//
// # Pause and resume
//
// Recorder.Pause and Recorder.Resume take the wall-clock time of the
// change (a SIPREC re-INVITE with a=inactive, then a=sendonly). A paused
// stretch is silence in the file (PauseSilence, the default: the file's
// timeline stays the call's) or is cut out (PauseCut). Pausing a paused
// recording returns ErrAlreadyPaused, resuming one that is not paused
// ErrNotPaused, and any call after Stop ErrStopped (a second Stop returns
// the first Result with it); nothing changes in those cases.
//
// # WAV
//
// RIFF WAVE, 16-bit PCM at the streams' rate, written by this package's own
// streaming writer (see wav.go for why not go-audio/wav's Encoder): data is
// appended through an 8 KiB buffer, and at every Config.FlushInterval (1 s
// of audio by default) the buffered data is written and then the header
// rewritten to declare exactly the data in the file. The file on disk is
// therefore a valid WAV at every moment, holding all audio up to the last
// flush; a process that dies loses at most the last FlushInterval, and
// Repair (run by Dir.Recover) recovers whatever of it reached the file,
// cutting off a partial frame.
//
// # MP3
//
// MPEG-1/2 Layer III (ISO/IEC 11172-3, 13818-3) encoded by LAME's shared
// library libmp3lame.so.0 (Debian package libmp3lame0), loaded at run time
// with github.com/ebitengine/purego: no cgo, so the package builds with
// CGO_ENABLED=0 everywhere, and only MP3 recordings need the library. When
// it cannot be loaded, asking for MP3 fails with ErrMP3Unavailable, which
// names the package to install; WAV keeps working. Open the library once
// with OpenLAME and share the *LAME between recordings; each recording has
// its own LAME handle, so recordings run concurrently. Files are 16 kHz by
// default: 8 kHz streams are upsampled 2× by this package (a half-band
// filter), because 8 kHz MP3 is MPEG-2.5, which hajimehoshi/go-mp3 and
// some players cannot decode. At Stop the LAME/Info tag is written over
// its placeholder frame, so decoders know the exact length and skip the
// encoder delay.
//
// # Directory, upload and recovery
//
// A Dir is the local directory where recordings live until the bucket has
// them, laid out by object key:
//
//	DIR/ACCOUNT_SID/APPLICATION_SID/SESSION_ID.wav.part   being recorded
//	DIR/ACCOUNT_SID/APPLICATION_SID/SESSION_ID.wav        finished, waiting for upload
//
// Dir.Create starts a recording; Recorder.Finish stops it and hands the file
// to the Dir's Uploader under the key ACCOUNT_SID/APPLICATION_SID/
// SESSION_ID.wav|mp3, removing the local file only once the Uploader
// accepted it; on failure the file stays and the error wraps ErrUpload.
// Dir.Recover, run at start-up, repairs every recording a crash cut off
// and uploads every finished file still waiting. The Uploader is an
// interface of this package: a gateway wires package storage's spool into
// it (Spool.Enqueue moves the file into the spool, which retries until the
// bucket confirms it).
//
// # Cost
//
// Per-packet calls do not allocate. An active two-party recording holds
// about 44 KiB of Go heap for WAV and 57 KiB for MP3 (with the default
// 1 s Window), plus, for MP3, LAME's own memory. One core records WAV at
// over 10,000 times real time; MP3 runs at the speed of the lame command
// itself. See BENCHMARKS.md.
package recording
