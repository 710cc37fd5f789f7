package recording_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/voicegw/voicegw/recording"
	"github.com/voicegw/voicegw/recording/spool"
	"github.com/voicegw/voicegw/storage"
)

// A two-party call: each party's decoded audio goes to its own stream, the
// callee's first packet arrives half a second after the caller's, and a
// lost packet is reported as a gap.
func Example() {
	dir, err := os.MkdirTemp("", "recording-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	start := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	rec, err := recording.New(filepath.Join(dir, "call.wav"), recording.Config{
		Start:   start,
		Streams: []recording.StreamConfig{{Label: "caller"}, {Label: "callee"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	caller, callee := rec.Stream(0), rec.Stream(1)
	_ = caller.Start(start)                             // wall-clock time of its first sample
	_ = callee.Start(start.Add(500 * time.Millisecond)) // starts late, so late in the file
	pcm := make([]int16, 160)                           // 20 ms of decoded G.711
	for k := range 100 {
		_ = caller.Write(int64(k)*160, pcm) // position: samples since its first
		if k >= 25 {
			_ = callee.Write(int64(k-25)*160, pcm)
		}
	}
	_ = caller.Gap(100*160, 160) // a lost packet: 20 ms of silence
	res, err := rec.Stop()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Format, res.Channels, "channels", res.Duration, res.Size, "bytes")
	// Output: wav 2 channels 2.02s 64684 bytes
}

// A Dir holds recordings until the bucket has them: Finish hands the file
// to the spool under the key ACCOUNT/APPLICATION/SESSION.wav, and Recover,
// at start-up, repairs recordings cut off by a crash and hands over what
// is still waiting.
func ExampleDir() {
	root, err := os.MkdirTemp("", "recording-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)
	ctx := context.Background()

	// The bucket (memory here; S3, GCS, Azure or a directory in production)
	// behind a spool that uploads in the background.
	bucket, err := storage.Open(ctx, storage.Config{Vendor: storage.VendorMemory}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer bucket.Close()
	sp, err := storage.OpenSpool(storage.SpoolConfig{Dir: filepath.Join(root, "upload"), Bucket: bucket})
	if err != nil {
		log.Fatal(err)
	}
	defer sp.Close()
	runCtx, stopSpool := context.WithCancel(ctx)
	spoolDone := make(chan error, 1)
	go func() { spoolDone <- sp.Run(runCtx) }()
	defer func() { stopSpool(); <-spoolDone }()

	uploader := &spool.Uploader{Spool: sp}
	dir, err := recording.OpenDir(recording.DirConfig{Path: filepath.Join(root, "rec"), Uploader: uploader})
	if err != nil {
		log.Fatal(err)
	}
	recovered, err := dir.Recover(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("recovered", len(recovered))

	start := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	id := recording.ID{Account: "AC1", Application: "AP1", Session: "S1"}
	rec, err := dir.Create(id, recording.Config{
		Start:   start,
		Streams: []recording.StreamConfig{{Label: "caller"}, {Label: "callee"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range rec.Streams() {
		_ = s.Start(start)
	}
	pcm := make([]int16, 160)
	for k := range 150 {
		if k == 50 {
			_ = rec.Pause(start.Add(time.Second)) // re-INVITE with a=inactive
		}
		if k == 100 {
			_ = rec.Resume(start.Add(2 * time.Second))
		}
		for _, s := range rec.Streams() {
			_ = s.Write(int64(k)*160, pcm)
		}
	}
	// A second resume (a repeated re-INVITE) is harmless, and reported.
	if err := rec.Resume(start.Add(3 * time.Second)); errors.Is(err, recording.ErrNotPaused) {
		fmt.Println("resume:", err)
	}
	res, err := rec.Finish(ctx) // BYE: the file is in the spool now
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Key, res.Duration, "paused", res.Paused, res.Size, "bytes, handed over:", res.Uploaded)

	// Wait until the bucket has confirmed it (a gateway would rather use
	// SpoolConfig.OnUploaded).
	if err := uploader.Wait(ctx, res.Key); err != nil {
		log.Fatal(err)
	}
	attrs, err := bucket.Attributes(ctx, res.Key)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("in the bucket:", attrs.ContentType, attrs.Size, "bytes")
	// Output:
	// recovered 0
	// resume: recording: not paused
	// AC1/AP1/S1.wav 3s paused 1s 96044 bytes, handed over: true
	// in the bucket: audio/wav 96044 bytes
}

// An Uploader that uploads at once, without a spool: Finish returns only
// when the bucket has the file (and fails, leaving the file in the Dir for
// a later Finish or Recover, when it cannot be reached).
func ExampleUploaderFunc() {
	root, err := os.MkdirTemp("", "recording-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)
	ctx := context.Background()
	bucket, err := storage.Open(ctx, storage.Config{Vendor: storage.VendorMemory}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer bucket.Close()

	upload := recording.UploaderFunc(func(ctx context.Context, o recording.Object) error {
		return bucket.UploadFile(ctx, o.Key, o.Path, &storage.UploadOptions{ContentType: o.ContentType})
	})
	dir, err := recording.OpenDir(recording.DirConfig{Path: root, Uploader: upload})
	if err != nil {
		log.Fatal(err)
	}
	rec, err := dir.Create(recording.ID{Account: "AC1", Application: "AP1", Session: "S2"}, recording.Config{Format: recording.WAV})
	if err != nil {
		log.Fatal(err)
	}
	_ = rec.Stream(0).StartAt(0)
	_ = rec.Stream(0).Write(0, make([]int16, 8000)) // one second
	res, err := rec.Finish(ctx)
	if err != nil {
		log.Fatal(err)
	}
	attrs, err := bucket.Attributes(ctx, res.Key)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Key, res.Duration, res.Channels, "channel, in the bucket:", attrs.Size == res.Size)
	// Output: AC1/AP1/S2.wav 1s 1 channel, in the bucket: true
}

// Loading LAME once, for every MP3 recording of the process.
func ExampleOpenLAME() {
	lame, err := recording.OpenLAME("")
	if errors.Is(err, recording.ErrMP3Unavailable) {
		log.Print(err) // says to install libmp3lame0; WAV still works
		return
	}
	_ = recording.Config{Format: recording.MP3, LAME: lame}
}

// A gateway loads LAME once, with the encoder pool that runs its MP3
// recordings' LAME calls and file writes off the media workers: here two
// encoder goroutines (the default is GOMAXPROCS) and at most 8 MiB of
// audio waiting for them. A program that records on one goroutine and
// wants no other sets MP3Config.Inline.
func ExampleOpenLAMEConfig() {
	lame, err := recording.OpenLAMEConfig(recording.LAMEConfig{Encoders: 2, QueueBytes: 8 << 20})
	if errors.Is(err, recording.ErrMP3Unavailable) {
		log.Print(err) // says to install libmp3lame0; WAV still works
		return
	}
	dir, err := os.MkdirTemp("", "recording-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	// The same call recorded both ways makes the same file.
	var files [2][]byte
	for i, mc := range []recording.MP3Config{{Mono: true}, {Mono: true, Inline: true}} {
		path := filepath.Join(dir, fmt.Sprint(i, ".mp3"))
		rec, err := recording.New(path, recording.Config{Format: recording.MP3, LAME: lame, MP3: mc,
			Streams: []recording.StreamConfig{{Label: "caller"}, {Label: "callee"}}})
		if err != nil {
			log.Fatal(err)
		}
		_ = rec.Stream(0).StartAt(0)
		_ = rec.Stream(1).StartAt(0)
		pcm := make([]int16, 160)
		for k := range 250 { // 5 s: the writer queues 34 batches
			pcm[k%160] = 1000
			_ = rec.Stream(0).Write(int64(k)*160, pcm)
			_ = rec.Stream(1).Write(int64(k)*160, pcm)
		}
		res, err := rec.Stop() // waits for the queued batches
		if err != nil {
			log.Fatal(err)
		}
		if files[i], err = os.ReadFile(path); err != nil {
			log.Fatal(err)
		}
		fmt.Println(res.Format, res.Channels, "channel", res.Duration)
	}
	fmt.Println("same file:", bytes.Equal(files[0], files[1]))
	// (Not run as a test: it needs libmp3lame0. TestMP3PoolSameFile
	// checks the same, and skips without it.)
}

// A gateway watches each recording for a write failure (a full disk) and
// ends the call's recording session when it happens, so that the
// recording client hears of it (a SIPREC BYE with a Reason) instead of
// streaming to a recorder that writes nothing.
func ExampleRecorder_Failed() {
	dir, err := os.MkdirTemp("", "recording-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	rec, err := recording.New(filepath.Join(dir, "call.wav"), recording.Config{})
	if err != nil {
		log.Fatal(err)
	}
	sessionEnded := make(chan struct{})
	watched := make(chan string)
	go func() {
		select {
		case <-rec.Failed():
			// errors.Is(rec.Err(), recording.ErrWrite): end the session,
			// e.g. siprec's sess.Hangup(ctx, 500, "recording failed").
			watched <- "recording failed: " + rec.Err().Error()
		case <-sessionEnded:
			watched <- "session ended; recording error: " + fmt.Sprint(rec.Err())
		}
	}()
	_ = rec.Stream(0).StartAt(0)
	_ = rec.Stream(0).Write(0, make([]int16, 8000)) // 1 s of audio
	close(sessionEnded)                             // the BYE
	fmt.Println(<-watched)
	res, err := rec.Stop()
	fmt.Println(res.Duration, err)
	// Output:
	// session ended; recording error: <nil>
	// 1s <nil>
}

// A SIPREC session with a mixed stream (one stream, several participants)
// beside the parties' own streams: the parties stay one per channel of
// the stereo file, and the mixed stream goes to a mono file of its own.
func ExampleStreamConfig_separate() {
	dir, err := os.MkdirTemp("", "recording-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	rec, err := recording.New(filepath.Join(dir, "call.wav"), recording.Config{
		Streams: []recording.StreamConfig{
			{Label: "1"},                 // caller: left
			{Label: "2"},                 // callee: right
			{Label: "3", Separate: true}, // the mixed stream: call.3.wav
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range rec.Streams() {
		_ = s.StartAt(0)
		_ = s.Write(0, make([]int16, 8000)) // 1 s each
	}
	res, err := rec.Stop()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(filepath.Base(res.Path), res.Channels, "channels,", res.Duration)
	for _, sep := range res.Separate {
		fmt.Println(filepath.Base(sep.Path), sep.Channels, "channel,", sep.Duration, "label", sep.Label)
	}
	// Output:
	// call.wav 2 channels, 1s
	// call.3.wav 1 channel, 1s label 3
}

// The same session with one channel per stream: a 3-channel WAV, the
// mixed stream on the third channel.
func ExampleLayout_perStream() {
	dir, err := os.MkdirTemp("", "recording-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	rec, err := recording.New(filepath.Join(dir, "call.wav"), recording.Config{
		Layout:  recording.LayoutPerStream,
		Streams: []recording.StreamConfig{{Label: "1"}, {Label: "2"}, {Label: "3"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range rec.Streams() {
		_ = s.StartAt(0)
		_ = s.Write(0, make([]int16, 8000))
	}
	res, err := rec.Stop()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Channels, "channels,", res.Duration)
	// Output:
	// 3 channels, 1s
}

// MP3Config.Validate checks an MP3 configuration before any call is
// recorded: 33 kbit/s is no MPEG-2.5 bitrate.
func ExampleMP3Config_Validate() {
	fmt.Println(recording.MP3Config{Mono: true}.Validate(8000))
	fmt.Println(recording.MP3Config{Bitrate: 33}.Validate(8000))
	// Output:
	// <nil>
	// recording: bad configuration: MP3.Bitrate 33 kbit/s is not a Layer III bitrate at 8000 Hz
}
