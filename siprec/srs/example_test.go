package srs_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/emiago/sipgo"

	"github.com/voicegw/voicegw/recording"
	"github.com/voicegw/voicegw/siprec"
	"github.com/voicegw/voicegw/siprec/srs"
	"github.com/voicegw/voicegw/storage"
)

// A single-tenant recording server that writes each session to a WAV file:
// a siprec.Server whose sinks are RecordToFile's, on a sipgo server. The
// recording client here is the package siprec's own (recordACall), sending
// one second of two tones.
func ExampleRecordToFile() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "srs-example-")
	defer os.RemoveAll(dir)

	files := srs.RecordToFile(srs.FileConfig{Dir: dir})
	server, err := siprec.NewServer(siprec.Config{Sinks: files})
	if err != nil {
		log.Fatal(err)
	}
	ua, _ := sipgo.NewUA()
	defer ua.Close()
	sipServer, _ := sipgo.NewServer(ua)
	if err := server.Register(ctx, sipServer); err != nil {
		log.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go sipServer.ServeTCP(l)

	recordACall("sip:srs@" + l.Addr().String() + ";transport=tcp")
	_ = files.Wait(ctx) // the file of the ended session is finalized
	_ = server.Shutdown(ctx)

	names, _ := filepath.Glob(filepath.Join(dir, "*.wav"))
	for _, name := range names {
		info, _ := recording.Inspect(name)
		fmt.Println(info.Format, info.Channels, "channels,", info.Duration > 900*time.Millisecond)
	}
	// Output:
	// wav 2 channels, true
}

// A single-tenant recording server that uploads each session to a bucket
// (in memory here: storage.OpenURL takes s3://, gs://, azblob://, file://
// and mem:// URLs), through a spool in a local directory that keeps every
// recording until the bucket confirmed it.
func ExampleRecordAndUpload() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	dir, _ := os.MkdirTemp("", "srs-example-")
	defer os.RemoveAll(dir)
	bucket, err := storage.OpenURL(ctx, "mem://", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer bucket.Close()

	uploads, err := srs.RecordAndUpload(srs.UploadConfig{Bucket: bucket, Dir: dir, Account: "acme", Application: "calls"})
	if err != nil {
		log.Fatal(err)
	}
	defer uploads.Close()
	go uploads.Run(ctx)
	server, err := siprec.NewServer(siprec.Config{Sinks: uploads})
	if err != nil {
		log.Fatal(err)
	}
	ua, _ := sipgo.NewUA()
	defer ua.Close()
	sipServer, _ := sipgo.NewServer(ua)
	if err := server.Register(ctx, sipServer); err != nil {
		log.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go sipServer.ServeTCP(l)

	recordACall("sip:srs@" + l.Addr().String() + ";transport=tcp")
	_ = uploads.Wait(ctx) // finalized, and confirmed by the bucket
	_ = server.Shutdown(ctx)

	it := bucket.Blob().List(nil)
	for obj, err := it.Next(ctx); err == nil; obj, err = it.Next(ctx) {
		id, format, _ := recording.ParseKey(obj.Key)
		fmt.Println(id.Account, id.Application, format, obj.Size > 16000)
	}
	// Output:
	// acme calls wav true
}

// recordACall records one call at the recording server srsURI with
// siprec.Client: two parties, one second of 440 Hz and 880 Hz, then BYE.
func recordACall(srsURI string) {
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	client, err := siprec.NewClient(siprec.ClientConfig{ListenAddr: netip.MustParseAddrPort("127.0.0.1:0"), Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	m, err := client.NewManager(siprec.ManagerConfig{})
	if err != nil {
		log.Fatal(err)
	}
	uri, err := siprec.ParseURI(srsURI)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := m.Start(ctx, siprec.StartRequest{Recorders: siprec.URIList{uri}}); err != nil {
		log.Fatal(err)
	}
	pcm := make([]int16, 160)
	for i := range 50 {
		for k, f := range m.Forks() {
			for j := range pcm {
				pcm[j] = int16(8000 * math.Sin(2*math.Pi*440*float64(k+1)*float64(i*160+j)/8000))
			}
			_ = f.WritePCM(pcm)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := m.Stop(ctx); err != nil {
		log.Fatal(err)
	}
}
