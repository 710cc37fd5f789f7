// Package recording turns the decoded audio of 1..N streams of a call into
// one time-aligned recording file — WAV or MP3 — and gets it into a bucket.
//
// A stream is fed 16-bit PCM at a known sample rate and explicit gaps,
// each on the stream's own continuous timeline of samples (for RTP, RFC
// 3550 §5.1, the unwrapped timestamp minus the first one; G.711, RFC 3551
// §4.5.14, is 8000 samples per second). Stream.MediaHandler connects a
// stream to package media's Receiver, which delivers exactly that; any
// other source can call Stream.Write and Stream.Gap itself. Which calls are
// recorded (tenancy's policy) is not this package's job: it records what
// it is told to.
//
// # From RTP to the bucket
//
// A SIPREC recording server (RFC 7866) records each session like this:
//
//	// At start-up: the spool uploads what waited before a restart, and
//	// Recover repairs what a crash cut off and hands it to the spool.
//	sp, _ := storage.OpenSpool(storage.SpoolConfig{Dir: "/var/spool/voicegw/upload", Resolve: bucketOfAccount})
//	go sp.Run(ctx)
//	uploader := &spool.Uploader{Spool: sp} // package recording/spool
//	dir, _ := recording.OpenDir(recording.DirConfig{Path: "/var/spool/voicegw/rec", Uploader: uploader})
//	dir.Recover(ctx)
//
//	// INVITE: one recorder per session, one stream per labelled m-line,
//	// created before the Receivers start.
//	rec, _ := dir.Create(recording.ID{Account: acc, Application: app, Session: sid},
//		recording.Config{Format: recording.WAV, Streams: []recording.StreamConfig{{Label: "1"}, {Label: "2"}}})
//	for i := range rec.Streams() {
//		h, _ := rec.Stream(i).MediaHandler()
//		rx, _ := media.NewReceiver(ep[i], media.ReceiverConfig{Handler: h, Codecs: answer.Media[i].Codecs})
//		go rx.Run(ctx)
//	}
//
//	// re-INVITE with a=inactive, then a=sendonly again.
//	rec.Pause(time.Now())
//	rec.Resume(time.Now())
//
//	// BYE: close the Receivers (they deliver what they hold), then Finish:
//	// the file is finalized and handed to the spool, and the Result is the
//	// session record's recording (key, duration, size, format, channels).
//	for _, rx := range receivers { rx.Close() }
//	res, err := rec.Finish(ctx)
//
// Each MediaHandler places its stream on the recording's timeline at the
// arrival of its first packet (so a party that starts late starts late in
// the file), writes every packet at its RTP position (corrected for the
// sender's clock drift) and every gap media
// reports (loss, silence suppression, a source change) as silence of its
// exact length, without allocating. Finish returning nil means the file is
// safe in the spool, synced to disk, and will be in the bucket under
// ACCOUNT_SID/APPLICATION_SID/SESSION_ID.wav|mp3 as soon as the bucket
// accepts it: the spool retries an unreachable bucket for as long as it
// takes, across restarts, and removes its copy only once the bucket
// confirmed the upload. SpoolConfig.OnUploaded (or the Uploader's Wait)
// says when that happened.
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
// pause is checked frame by frame in the tests). A sender's sample clock
// is not the wall clock, though: 100 ppm off is 360 ms an hour. A
// MediaHandler keeps its stream on the wall clock by the packets' Arrival:
// when the lowest (arrival − position) over the last 4 s (jitter only
// delays arrivals) shows the stream more than Config.MaxDrift (10 ms)
// ahead or behind, it drops samples at the start of the next packet or
// inserts silence before it, so two parties stay within a packet of each
// other and of the wall clock for any length of call, and an accurate
// clock is never corrected however jittery its network (see MediaHandler).
// Positions given to Stream.Write and Stream.Gap directly are taken as
// given.
//
// # The wall clock bounds the timeline
//
// What is checked: a MediaHandler writes no audio or gap more than the
// Window (1.024 s by default) ahead of its arrival time on the recording's
// timeline, whatever the RTP timestamps say; the excess is dropped and
// counted in StreamStats.Ahead and Stats.Ahead. A recording fed by
// MediaHandlers is therefore never longer than the wall-clock time from
// Config.Start to the latest packet's arrival plus the Window: 500 packets
// in 0.56 s whose timestamps each jumped almost a second once made a
// 499 s, 16 MB file; now it is at most 1.6 s. The fuzz target
// FuzzRTPTimeline checks the bound for arbitrary sequence numbers,
// timestamps and arrival times through a real media.Receiver. The
// operator's knob is Config.Window (which also bounds how far streams may
// run apart); package media's ReceiverConfig.MaxTimestampSkew bounds the
// receive path's own timeline the same way.
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
// A SIPREC session may carry, besides each party's own stream, a mixed
// stream: one stream whose metadata lists several participants (RFC 7865),
// the parties already mixed by the recording client. Mixing it into both
// parties' channels, what LayoutAuto does with a third stream, loses the
// separation of the parties. Two layouts keep it:
//
//   - LayoutPerStream: one channel per stream, in the order of
//     Config.Streams, nothing mixed. Parties A and B and the mixed stream
//     M make a 3-channel WAV (A, B, M). At most 8 channels; MP3 holds 2.
//   - StreamConfig.Separate: the stream goes to a mono file of its own,
//     call.LABEL.wav beside call.wav (in a Dir: SESSION.LABEL.wav, key
//     ACCOUNT/APPLICATION/SESSION.LABEL.wav), on the same timeline, with
//     the same pauses, flushes, crash repair and upload; Result.Separate
//     describes it. Parties A and B stay a stereo file and M is its own.
//     Works for WAV and MP3.
//
// The layout is the caller's choice, made per recording when the streams
// are declared: a SIPREC gateway reads the metadata, and for a stream with
// several participants declares it Separate (or lists it last with
// LayoutPerStream); a stream per participant keeps the stereo layout:
//
//	rec, _ := dir.Create(id, recording.Config{Streams: []recording.StreamConfig{
//		{Label: "1"}, {Label: "2"},          // the parties: left and right
//		{Label: "3", Separate: true},        // the mixed stream: SESSION.3.wav
//	}})
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
// flush; a process that dies loses at most the last FlushInterval, plus
// up to Config.Window when a stream that has not ended sent nothing for a
// while (silence suppression without a Gap yet: the recorder waits up to
// the Window for it before writing the others' audio), and
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
// its own LAME handle, so recordings run concurrently. Files are at the
// streams' rate by default, 8 kHz for G.711 (MPEG-2.5: nothing is
// resampled), constant 48 kbit/s (32 for an 8 kHz file of one channel), LAME quality 7, long blocks only and a
// 3.6 kHz lowpass: under a third of the CPU of the 16 kHz, quality 5 files
// of earlier versions, with speech measured better (see MP3Config).
// MP3Config.Mono mixes a call's parties into one channel for about half
// of LAME's CPU per call (the reference gateway's default for MP3: one core
// records 1,000 mono MP3 calls, about 800 stereo ones). Browsers (Chromium is checked by the tests), ffmpeg,
// lame and sox play 8 kHz MP3; hajimehoshi/go-mp3 cannot, and
// MP3Config.SampleRate 16000 makes an MPEG-2 file it reads, this package
// upsampling 2× itself (a half-band filter). At Stop the LAME/Info tag is
// written over its placeholder frame, so decoders know the exact length
// and skip the encoder delay.
//
// LAME's time is most of an MP3 recording's cost, so it is not spent on
// the goroutine that delivers the audio: a media poller's worker reads
// every call's RTP from one socket, and one that spends most of its time
// in LAME falls behind and loses packets when a burst comes. A
// recording's writer gathers a batch (a frame: 1,152 samples a channel)
// and queues it; the encoder pool of the *LAME (LAMEConfig: GOMAXPROCS
// goroutines by default, started when audio waits, ended when idle) runs
// LAME and the file writes, each recording's batches in order and one at
// a time. Flush and Stop first encode what is still queued, so the file
// is exactly the one inline encoding writes, the periodic flush and the
// LAME tag mean what they did; a crash loses what the periodic flush had
// not written, plus the batches still queued (at most QueueBytes over all
// recordings, about a second when the pool keeps up). A failure on a
// pool goroutine is returned by the recording's next write, flush or
// Stop (Recorder.Failed, Err). The queue is bounded (LAMEConfig.QueueBytes,
// default 16 MiB): past it a writer encodes its recording's batches
// itself, so the audio is late but never dropped. MP3Config.Inline
// encodes on the writer's goroutine, as before the pool.
//
// # Write failures
//
// A recording whose file can no longer be written (a full disk, an I/O
// error, a WAV at its 4 GiB limit) fails at once and says so:
// Recorder.Failed is closed, Recorder.Err returns an error wrapping
// ErrWrite (or ErrTooLarge) and the system's error, every later call
// returns it, and MediaHandlers refuse further audio. The file keeps what
// reached it (valid up to the last flush) and Stop still finalizes it; if
// even that fails, it stays as NAME.part for Dir.Recover, which a gateway
// may run again once space returns. Failures show as soon as a write is
// refused: within the 16 KiB write buffer and Config.FlushInterval of
// audio. A gateway waits on Failed and ends the session, for SIPREC with a
// BYE carrying a Reason (RFC 3326), so that the recording client can fail
// over to another recorder.
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
// interface. The one a gateway uses is package recording/spool's: it hands
// the file to package storage's spool (a rename into the spool directory),
// which retries until the bucket confirms it, with the account SID as the
// spool's Target, so that SpoolConfig.Resolve picks the account's bucket.
// It lives in a package of its own so that a program using recording alone
// does not link the buckets' clients. UploaderFunc adapts anything else,
// such as a synchronous Bucket.UploadFile. The Dir and the spool directory
// belong on the same file system, so that the hand-over is a rename.
//
// # Cost
//
// Per-packet calls (Stream.Write, Stream.Gap, and MediaHandler's, and so
// the whole path from media's socket to the file) do not allocate. An active two-party recording holds
// about 53 KiB of Go heap for WAV and 54 KiB for MP3 (with the default
// 1 s Window), plus, for MP3, LAME's own memory. One core records WAV at
// over 10,000 times real time; MP3 runs at the speed of the lame command
// itself. See BENCHMARKS.md.
package recording
