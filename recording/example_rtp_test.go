package recording_test

import (
	"context"
	"fmt"
	"log"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/voicegw/voicegw/media"
	"github.com/voicegw/voicegw/recording"
	"github.com/voicegw/voicegw/recording/spool"
	"github.com/voicegw/voicegw/storage"
)

// The whole path of a recording server: RTP of two parties received by
// package media, recorded through MediaHandlers, and uploaded through
// package storage's spool when the call ends. The recording client here is
// two media.Senders on loopback, each playing 0.4 s of a tone.
func ExampleMediaHandler() {
	ctx := context.Background()
	root, err := os.MkdirTemp("", "recording-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)

	// Start-up: the account's bucket (memory here) behind a spool, and the
	// recording directory handing finished files to the spool.
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
	if _, err := dir.Recover(ctx); err != nil {
		log.Fatal(err)
	}

	// INVITE: a recorder for the session, then a Receiver per labelled
	// stream whose Handler is the stream's MediaHandler.
	rec, err := dir.Create(recording.ID{Account: "AC1", Application: "AP1", Session: "S1"}, recording.Config{
		Streams: []recording.StreamConfig{{Label: "caller"}, {Label: "callee"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	var receivers []*media.Receiver
	for _, s := range rec.Streams() {
		h, err := s.MediaHandler()
		if err != nil {
			log.Fatal(err)
		}
		ep, err := media.Listen(netip.MustParseAddr("127.0.0.1"))
		if err != nil {
			log.Fatal(err)
		}
		rx, err := media.NewReceiver(ep, media.ReceiverConfig{Handler: h})
		if err != nil {
			log.Fatal(err)
		}
		go func() { _ = rx.Run(ctx) }()
		receivers = append(receivers, rx)
	}

	// The recording client sends each party's audio as RTP.
	var wg sync.WaitGroup
	for i, rx := range receivers {
		conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
		if err != nil {
			log.Fatal(err)
		}
		defer conn.Close()
		tx, err := media.NewSender(conn, rx.LocalAddr(), media.SenderConfig{})
		if err != nil {
			log.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = tx.Play(ctx, sine([]float64{1000, 600}[i], 3200))
			// The last packet is on its way.
			for end := time.Now().Add(5 * time.Second); rx.Stats().Received < tx.Stats().Packets && time.Now().Before(end); {
				time.Sleep(time.Millisecond)
			}
		}()
	}
	wg.Wait()

	// BYE: close the Receivers, then Finish.
	for _, rx := range receivers {
		_ = rx.Close()
	}
	res, err := rec.Finish(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Key, res.Format, res.Channels, "channels, handed to the spool:", res.Uploaded)
	for _, s := range rec.Streams() {
		fmt.Println(s.Label(), s.Stats().Samples, "samples")
	}
	if err := uploader.Wait(ctx, res.Key); err != nil {
		log.Fatal(err)
	}
	attrs, err := bucket.Attributes(ctx, res.Key)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("in the bucket:", attrs.ContentType, attrs.Size == res.Size)
	// Output:
	// AC1/AP1/S1.wav wav 2 channels, handed to the spool: true
	// caller 3200 samples
	// callee 3200 samples
	// in the bucket: audio/wav true
}

// sine returns n samples of a tone at 8 kHz.
func sine(freq float64, n int) []int16 {
	pcm := make([]int16, n)
	for i := range pcm {
		pcm[i] = int16(8000 * math.Sin(2*math.Pi*freq*float64(i)/media.SampleRate))
	}
	return pcm
}
