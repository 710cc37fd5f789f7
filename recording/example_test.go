package recording_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/voicegw/voicegw/recording"
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

// A Dir holds recordings until the bucket has them: Finish uploads under
// the key ACCOUNT/APPLICATION/SESSION.wav, and Recover, at start-up,
// repairs recordings cut off by a crash and uploads what is still waiting.
func ExampleDir() {
	root, err := os.MkdirTemp("", "recording-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)
	ctx := context.Background()

	uploader := recording.UploaderFunc(func(ctx context.Context, o recording.Object) error {
		// A gateway hands o.Path to package storage (its spool) here.
		fmt.Println("upload", o.Key, o.ContentType, o.Size, "bytes")
		return nil
	})
	dir, err := recording.OpenDir(recording.DirConfig{Path: root, Uploader: uploader})
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
	res, err := rec.Finish(ctx) // BYE
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Key, res.Duration, "paused", res.Paused, "uploaded", res.Uploaded)
	// Output:
	// recovered 0
	// resume: recording: not paused
	// upload AC1/AP1/S1.wav audio/wav 96044 bytes
	// AC1/AP1/S1.wav 3s paused 1s uploaded true
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
