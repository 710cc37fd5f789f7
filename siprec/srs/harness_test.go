package srs

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"
	"github.com/go-audio/wav"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/memindex"
	"github.com/voicegw/voicegw/media"
	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/recording"
	"github.com/voicegw/voicegw/siprec"
	"github.com/voicegw/voicegw/siprec/metadata"
	"github.com/voicegw/voicegw/storage"
	"github.com/voicegw/voicegw/storage/egress"
	"github.com/voicegw/voicegw/tenancy"
)

// The tests run a Server on loopback TCP and UDP and place calls with
// siprec.Client, the package's own recording client (a real SIPREC peer:
// digest, multipart bodies, RTP), and with sipp where the gateway's tests
// need it.

// events is an Observer that writes down what it is told.
type events struct {
	NopObserver
	mu  sync.Mutex
	log []string
	// refusals and completions, for the checks that need more than names
	refusals  []Refusal
	reports   []RecordingReport
	uploaded  []storage.Item
	completed map[string]error
}

func (e *events) add(s string) {
	e.mu.Lock()
	e.log = append(e.log, s)
	e.mu.Unlock()
}

func (e *events) CallRefused(_ context.Context, r Refusal) {
	e.mu.Lock()
	e.refusals = append(e.refusals, r)
	e.mu.Unlock()
	e.add(fmt.Sprintf("refused %s %s %d", r.Result, r.Reason, r.Code))
}
func (e *events) SessionStarted(s *Session) { e.add("started " + s.Admission().Account.Name) }
func (e *events) StreamAdded(_ *Session, st *siprec.Stream) {
	e.add("stream+ " + st.Label())
}
func (e *events) StreamRemoved(_ *Session, st *siprec.Stream) { e.add("stream- " + st.Label()) }
func (e *events) SessionEnded(_ *Session, r siprec.EndReason) { e.add("ended " + r.String()) }
func (e *events) RecordingFinished(_ *Session, r RecordingReport) {
	e.mu.Lock()
	e.reports = append(e.reports, r)
	e.mu.Unlock()
	e.add(fmt.Sprintf("recorded %s err=%v", r.Result.Format, r.Err))
}
func (e *events) RecordingRecovered(r recording.Recovered) {
	e.add(fmt.Sprintf("recovered repaired=%v", r.Repair != nil))
}
func (e *events) RecordingUploaded(it storage.Item) {
	e.mu.Lock()
	e.uploaded = append(e.uploaded, it)
	e.mu.Unlock()
	e.add("uploaded")
}
func (e *events) SessionCompleted(s *Session, err error) {
	e.mu.Lock()
	if e.completed == nil {
		e.completed = map[string]error{}
	}
	e.completed[s.ID()] = err
	e.mu.Unlock()
	e.add(fmt.Sprintf("completed err=%v", err != nil))
}
func (e *events) WebhookSent(_ *Session, err error) { e.add(fmt.Sprintf("webhook err=%v", err != nil)) }

func (e *events) has(s string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, x := range e.log {
		if x == s {
			return true
		}
	}
	return false
}

func (e *events) count(s string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, x := range e.log {
		if x == s {
			n++
		}
	}
	return n
}

func (e *events) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return strings.Join(e.log, "\n")
}

// testServer is a running Server with its stores.
type testServer struct {
	*Server
	t       *testing.T
	tenants *tenancy.Store
	index   *insights.Index
	events  *events
	sipAddr netip.AddrPort // TCP and UDP
	dataDir string
	serve   chan error
}

type serverOptions struct {
	// Accounts are created before the Server starts (with a "siprec"
	// application when they record).
	Accounts []*tenancy.Account
	// Default names the default account.
	Default string
	// DataDir is reused across servers (recovery); default a new one.
	DataDir string
	// Journal; default an SQLite journal in DataDir.
	Journal Journal
	// Index; default an in-memory index.
	Index *insights.Index
	// Tenants reuses a store (across servers).
	Tenants *tenancy.Store
	// Limiter; default the Server's.
	Limiter tenancy.SessionLimiter
	// ContactIP makes the answers' Contact the server's IP address (the
	// client's in-dialog requests go there; sipgo resolves names with the
	// system's DNS, not the client's Resolver).
	ContactIP bool
	// Edit changes the Config before New.
	Edit func(*Config)
}

// freeRTPRange returns a range of RTP ports unlikely to be used by other
// tests running at the same time; the pool skips taken ports anyway.
func freeRTPRange() (lo, hi int) {
	lo = 30000 + 2*rand.IntN(12000)
	return lo, lo + 199
}

func startServer(t *testing.T, o serverOptions) *testServer {
	t.Helper()
	ctx := context.Background()
	ts := &testServer{t: t, events: &events{}, dataDir: o.DataDir, tenants: o.Tenants, index: o.Index, serve: make(chan error, 1)}
	if ts.dataDir == "" {
		ts.dataDir = t.TempDir()
	}
	if ts.tenants == nil {
		ts.tenants, _ = newStore(t)
	}
	if ts.index == nil {
		ts.index = memindex.NewIndex()
		t.Cleanup(func() { _ = ts.index.Close() })
	}
	var def tenancy.SID
	for _, a := range o.Accounts {
		acct := createAccount(t, ts.tenants, a)
		if acct.Recording.Enabled {
			app, err := ts.tenants.CreateApplication(ctx, &tenancy.Application{Account: acct.SID, Name: "siprec", RecordAllCalls: true})
			if err != nil {
				t.Fatal(err)
			}
			acct.SIPRECApplication = app.SID
			if acct, err = ts.tenants.UpdateAccount(ctx, acct); err != nil {
				t.Fatal(err)
			}
		}
		*a = *acct
		if a.Name == o.Default {
			def = a.SID
		}
	}
	journal := o.Journal
	if journal == nil {
		j, err := OpenSQLiteJournal(ctx, filepath.Join(ts.dataDir, "state.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = j.Close() })
		journal = j
	}
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	udp, err := net.ListenPacket("udp", tcp.Addr().String())
	if err != nil {
		_ = tcp.Close()
		t.Skipf("UDP port %s taken: %v", tcp.Addr(), err)
	}
	ts.sipAddr = netip.MustParseAddrPort(tcp.Addr().String())
	lo, hi := freeRTPRange()
	ports, err := media.NewPortPool(media.PortPoolConfig{Address: netip.MustParseAddr("127.0.0.1"), MinPort: lo, MaxPort: hi})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Tenants:          ts.tenants,
		DefaultAccount:   def,
		Limiter:          o.Limiter,
		Index:            ts.index,
		Journal:          journal,
		RecordingDir:     filepath.Join(ts.dataDir, "recordings"),
		SpoolDir:         filepath.Join(ts.dataDir, "spool"),
		PacketConns:      []net.PacketConn{udp},
		Listeners:        []net.Listener{tcp},
		SIPREC:           siprec.Config{Ports: ports, MediaAddress: netip.MustParseAddr("127.0.0.1")},
		Recording:        recording.Config{FlushInterval: 100 * time.Millisecond},
		UploadMaxBackoff: 200 * time.Millisecond,
		Observer:         ts.events,
		Logger:           testLogger(t),
		// The test buckets and webhook receivers listen on loopback, which
		// the default egress policy refuses (TestEgressRefusesAccountEndpoints).
		Egress: &egress.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}},
	}
	if o.ContactIP {
		cfg.SIPREC.Contact = sipgosip.Uri{Scheme: "sip", User: "srs", Host: "127.0.0.1", Port: int(ts.sipAddr.Port()),
			UriParams: sipgosip.HeaderParams{{K: "transport", V: "tcp"}}}
	}
	if o.Edit != nil {
		o.Edit(&cfg)
	}
	srv, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts.Server = srv
	go func() { ts.serve <- srv.Serve(ctx) }()
	t.Cleanup(func() { _ = srv.Close() })
	select {
	case <-srv.Ready():
	case err := <-ts.serve:
		t.Fatalf("Serve: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not become ready")
	}
	return ts
}

// testLogger logs to the test's log when SRS_TEST_LOG is set.
func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("SRS_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// call is one recorded call placed with siprec.Client.
type call struct {
	client *siprec.Client
	m      *siprec.Manager
	ended  chan siprec.RecorderStatus // the recorder ended the dialog
	hungUp atomic.Bool                // the recorder ended the dialog: send stops
}

// loopbackResolver resolves every name to 127.0.0.1.
type loopbackResolver struct{}

func (loopbackResolver) LookupSRV(context.Context, string, string, string) (string, []*net.SRV, error) {
	return "", nil, &net.DNSError{Err: "no SRV in tests", IsNotFound: true}
}

func (loopbackResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
}

// dial starts recording a call at the server: host is the Request-URI host
// (a realm, resolved to 127.0.0.1, or the IP address), over TCP.
func (ts *testServer) dial(t *testing.T, host, user, password, recordingID string) (*call, []siprec.RecorderResult, error) {
	t.Helper()
	return ts.dialCall(t, host, user, password, recordingID, []metadata.Party{
		{AOR: "sip:alice@example.com", Label: "1"}, {AOR: "sip:bob@example.com", Label: "2"},
	})
}

func (ts *testServer) dialCall(t *testing.T, host, user, password, recordingID string, parties []metadata.Party) (*call, []siprec.RecorderResult, error) {
	t.Helper()
	return ts.dialMetadata(t, host, user, password, recordingID, metadata.Call{Parties: parties})
}

// dialMetadata is dialCall with the whole call the metadata describes.
func (ts *testServer) dialMetadata(t *testing.T, host, user, password, recordingID string, mc metadata.Call) (*call, []siprec.RecorderResult, error) {
	t.Helper()
	cl, err := siprec.NewClient(siprec.ClientConfig{
		ListenAddr: netip.MustParseAddrPort("127.0.0.1:0"),
		Username:   user, Password: secret.String(password),
		Resolver: loopbackResolver{},
		Logger:   testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	c := &call{client: cl, ended: make(chan siprec.RecorderStatus, 1)}
	c.m, err = cl.NewManager(siprec.ManagerConfig{
		Call:            mc,
		OnRecorderEnded: func(st siprec.RecorderStatus) { c.hungUp.Store(true); c.ended <- st },
	})
	if err != nil {
		t.Fatal(err)
	}
	uri, err := siprec.ParseURI(fmt.Sprintf("sip:srs@%s:%d;transport=tcp", host, ts.sipAddr.Port()))
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.m.Start(context.Background(), siprec.StartRequest{Recorders: siprec.URIList{uri}, RecordingID: recordingID})
	return c, res, err
}

// send sends d of two tones (440 Hz on "1", 880 Hz on "2") in real time.
func (c *call) send(d time.Duration) {
	var phase [2]float64
	pcm := make([]int16, 160)
	start := time.Now()
	for i := 0; time.Duration(i)*20*time.Millisecond < d && !c.hungUp.Load(); i++ {
		for k, f := range c.m.Forks() {
			freq := 440.0 * float64(k+1)
			for j := range pcm {
				pcm[j] = int16(8000 * math.Sin(phase[k]))
				phase[k] += 2 * math.Pi * freq / 8000
			}
			_ = f.WritePCM(pcm)
		}
		if wait := time.Until(start.Add(time.Duration(i+1) * 20 * time.Millisecond)); wait > 0 {
			time.Sleep(wait)
		}
	}
}

func (c *call) stop(t *testing.T) {
	t.Helper()
	if _, err := c.m.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

// waitFor polls cond until it holds or 20 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// filesIn returns the recordings in a local bucket directory by key.
func filesIn(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(path, ".wav") || strings.HasSuffix(path, ".mp3")) {
			rel, _ := filepath.Rel(dir, path)
			out[filepath.ToSlash(rel)] = path
		}
		return nil
	})
	return out
}

// stereoTones checks a WAV file: 8 kHz stereo, at least min of audio, 440
// Hz on the left and 880 Hz on the right in its middle.
func stereoTones(t *testing.T, path string, min time.Duration) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := wav.NewDecoder(f)
	buf, err := d.FullPCMBuffer()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if buf.Format.NumChannels != 2 || buf.Format.SampleRate != 8000 {
		t.Fatalf("%s: %d channels at %d Hz, want stereo at 8000", path, buf.Format.NumChannels, buf.Format.SampleRate)
	}
	n := len(buf.Data) / 2
	if got := time.Duration(n) * time.Second / 8000; got < min {
		t.Fatalf("%s: %s of audio, want at least %s", path, got, min)
	}
	for ch, want := range []float64{440, 880} {
		x := make([]float64, 0, 4000)
		for i := n/2 - 2000; i < n/2+2000; i++ {
			x = append(x, float64(buf.Data[2*i+ch]))
		}
		other := 1320 - want
		if pw, po := goertzel(x, want), goertzel(x, other); pw < 100*po || pw < 1 {
			t.Fatalf("%s channel %d: power at %.0f Hz %.3g, at %.0f Hz %.3g", path, ch, want, pw, other, po)
		}
	}
}

func goertzel(x []float64, f float64) float64 {
	w := 2 * math.Pi * f / 8000
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range x {
		s0 := v + c*s1 - s2
		s2, s1 = s1, s0
	}
	return (s1*s1 + s2*s2 - c*s1*s2) / float64(len(x))
}

// webhooks is an account's web application: it keeps the events whose
// signature verifies with the account's secret (tenancy's verifier) and
// counts the others.
type webhooks struct {
	srv    *httptest.Server
	mu     sync.Mutex
	events []string // bodies
	bad    int
	fail   int // answer 500 to this many requests first
}

func newWebhooks(t *testing.T, hook secret.String) *webhooks {
	w := &webhooks{}
	v := &tenancy.WebhookVerifier{Secrets: []secret.String{hook}}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, err := v.Verify(r)
		w.mu.Lock()
		defer w.mu.Unlock()
		if err != nil {
			w.bad++
			rw.WriteHeader(401)
			return
		}
		if w.fail > 0 {
			w.fail--
			rw.WriteHeader(500)
			return
		}
		w.events = append(w.events, string(body))
		_, _ = io.WriteString(rw, "ok")
	}))
	t.Cleanup(w.srv.Close)
	return w
}

func (w *webhooks) received() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.events...)
}
