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

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/memindex"
	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/recording"
	"github.com/voicegw/voicegw/siprec"
	"github.com/voicegw/voicegw/siprec/srs"
	"github.com/voicegw/voicegw/storage"
	"github.com/voicegw/voicegw/storage/bucketconfig"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/memstore"
)

// A single-tenant recording server that writes each session to a WAV file:
// a siprec.Server whose sinks are RecordToFile's, on a sipgo server. The
// recording client here is the package siprec's own (recordACall), sending
// one second of two tones.
func ExampleRecordToFile() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "srs-example-")
	defer os.RemoveAll(dir)

	recorded := make(chan recording.Result, 1)
	files := srs.RecordToFile(srs.FileConfig{Dir: dir, OnRecorded: func(_ *siprec.Session, res recording.Result, err error) {
		recorded <- res
	}})
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

	recordACall("sip:srs@"+l.Addr().String()+";transport=tcp", "", "")
	res := <-recorded // the file of the ended session is finalized
	_ = server.Shutdown(ctx)

	info, _ := recording.Inspect(res.Path)
	fmt.Println(filepath.Dir(res.Path) == dir, info.Format, info.Channels, "channels,", info.Duration > 900*time.Millisecond)
	// Output:
	// true wav 2 channels, true
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

	uploaded := make(chan storage.Item, 1)
	uploads, err := srs.RecordAndUpload(srs.UploadConfig{Bucket: bucket, Dir: dir, Account: "acme", Application: "calls",
		OnUploaded: func(it storage.Item) { uploaded <- it }})
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

	recordACall("sip:srs@"+l.Addr().String()+";transport=tcp", "", "")
	it := <-uploaded // finalized, and confirmed by the bucket
	_ = server.Shutdown(ctx)

	attrs, _ := bucket.Attributes(ctx, it.Key)
	id, format, _ := recording.ParseKey(it.Key)
	fmt.Println(id.Account, id.Application, format, attrs.Size > 16000)
	// Output:
	// acme calls wav true
}

// The multi-tenant recording server: accounts in a tenancy store (in
// memory here; tenancy/sqlitestore on disk), each with its SIP users,
// recording settings and bucket; a session document per call in an
// Insights index. The Observer is where a program counts what happens (see
// siprec/srs/srsprom for Prometheus).
func ExampleNew() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "srs-example-")
	defer os.RemoveAll(dir)
	bucketDir := filepath.Join(dir, "bucket")
	_ = os.MkdirAll(bucketDir, 0o750)

	tenants := memstore.NewStore(nil)
	acct, err := tenants.CreateAccount(ctx, &tenancy.Account{
		Name: "acme", SIPRealm: "acme.example",
		SIP: tenancy.SIPAccess{Users: []tenancy.SIPUser{{Username: "sbc", Password: "correct-horse-battery-staple"}}},
		Recording: tenancy.RecordingConfig{Enabled: true, RecordAllCalls: true, Format: tenancy.FormatWAV,
			Bucket: bucketconfig.Config{Vendor: bucketconfig.VendorFile, File: &bucketconfig.File{Dir: bucketDir}}},
	})
	if err != nil {
		log.Fatal(err)
	}
	index := memindex.NewIndex()
	obs := &printer{ended: make(chan struct{}, 1)}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	server, err := srs.New(ctx, srs.Config{
		Tenants:        tenants,
		DefaultAccount: acct.SID, // requests to the server's IP address are acme's
		Index:          index,
		RecordingDir:   filepath.Join(dir, "recordings"),
		SpoolDir:       filepath.Join(dir, "spool"),
		Listeners:      []net.Listener{l},
		Observer:       obs,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer server.Close()
	go server.Serve(ctx)
	<-server.Ready()

	recordACall("sip:srs@"+l.Addr().String()+";transport=tcp", "sbc", "correct-horse-battery-staple")
	<-obs.ended
	_ = server.Shutdown(ctx) // every session finished, documented and uploaded

	now := time.Now()
	docs, _ := index.Search(ctx, string(acct.SID), &insights.Query{From: insights.At(now.Add(-time.Hour)), To: insights.At(now)})
	for _, hit := range docs.Hits {
		doc, _ := hit.Session()
		fmt.Println("document:", doc.Status, doc.Source, "→", doc.Destination)
	}
	files, _ := filepath.Glob(filepath.Join(bucketDir, string(acct.SID), "*", "*.wav"))
	fmt.Println("recordings in the bucket:", len(files))
	// Output:
	// refused: challenged credentials_required
	// session started: acme
	// session ended: bye
	// recording: wav, 2 channels <nil>
	// document: ended caller@invalid → callee@invalid
	// recordings in the bucket: 1
}

// printer is the Observer of ExampleNew.
type printer struct {
	srs.NopObserver
	ended chan struct{}
}

func (*printer) CallRefused(_ context.Context, r srs.Refusal) {
	fmt.Println("refused:", r.Result, r.Reason)
}

func (*printer) SessionStarted(s *srs.Session) {
	fmt.Println("session started:", s.Admission().Account.Name)
}

func (p *printer) SessionEnded(_ *srs.Session, reason siprec.EndReason) {
	fmt.Println("session ended:", reason)
	p.ended <- struct{}{}
}

func (*printer) RecordingFinished(_ *srs.Session, r srs.RecordingReport) {
	fmt.Printf("recording: %s, %d channels %v\n", r.Result.Format, r.Result.Channels, r.Err)
}

// recordACall records one call at the recording server srsURI with
// siprec.Client (answering digest challenges as user, when given): two
// parties, one second of 440 Hz and 880 Hz, then BYE.
func recordACall(srsURI, user, password string) {
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	client, err := siprec.NewClient(siprec.ClientConfig{ListenAddr: netip.MustParseAddrPort("127.0.0.1:0"), Logger: quiet,
		Username: user, Password: secret.String(password)})
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
