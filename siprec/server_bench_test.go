package siprec

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/internal/sipptest"
	"github.com/voicegw/voicegw/internal/siptest"
	"github.com/voicegw/voicegw/media"
)

// srsFakeTx is a ServerTransaction without a network, for the handler
// benchmark and for answers that cannot be sent over a real transport.
// It records the responses.
type srsFakeTx struct {
	mu        sync.Mutex
	responses []*sipgosip.Response
	acks      chan *sipgosip.Request
	done      chan struct{}
}

func newSRSFakeTx() *srsFakeTx {
	return &srsFakeTx{acks: make(chan *sipgosip.Request), done: make(chan struct{})}
}

func (f *srsFakeTx) Terminate()                              {}
func (f *srsFakeTx) OnTerminate(sipgosip.FnTxTerminate) bool { return true }
func (f *srsFakeTx) Done() <-chan struct{}                   { return f.done }
func (f *srsFakeTx) Err() error                              { return nil }
func (f *srsFakeTx) Acks() <-chan *sipgosip.Request          { return f.acks }
func (f *srsFakeTx) OnCancel(sipgosip.FnTxCancel) bool       { return true }
func (f *srsFakeTx) Respond(res *sipgosip.Response) error {
	f.mu.Lock()
	f.responses = append(f.responses, res)
	f.mu.Unlock()
	return nil
}
func (f *srsFakeTx) last() *sipgosip.Response {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.responses[len(f.responses)-1]
}
func (f *srsFakeTx) codes() (out []int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.responses {
		out = append(out, r.StatusCode)
	}
	return
}

var _ sipgosip.ServerTransaction = (*srsFakeTx)(nil)

// srsRawInvite returns a SIPREC INVITE as it comes off the wire (the one
// siprec_src.xml sends), with n labelled m-lines, over transport.
func srsRawInvite(t testing.TB, n int, transport string, callID string) []byte {
	t.Helper()
	var sdp strings.Builder
	sdp.WriteString("v=0\r\no=SRC 2890844526 2890844526 IN IP4 127.0.0.1\r\ns=SIPREC\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n")
	for i := range n {
		fmt.Fprintf(&sdp, "m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=label:%d\r\na=sendonly\r\n", 6000+2*i, i+1)
	}
	md := srsMetadataFor("", labelsUpTo(n)...)
	ct, body, err := BuildBody([]byte(sdp.String()), md, &BuildOptions{Boundary: "sipp-siprec-boundary"})
	if err != nil {
		t.Fatal(err)
	}
	head := "INVITE sip:srs@127.0.0.1:5060 SIP/2.0\r\n" +
		"Via: SIP/2.0/" + transport + " 127.0.0.1:5064;branch=z9hG4bK-" + callID + "\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:src@127.0.0.1:5064>;tag=" + callID + "SIPpSRC\r\n" +
		"To: <sip:srs@127.0.0.1:5060>\r\n" +
		"Call-ID: " + callID + "\r\n" +
		"CSeq: 1 INVITE\r\n" +
		"Contact: <sip:src@127.0.0.1:5064;transport=" + strings.ToLower(transport) + ">;+sip.src\r\n" +
		"Require: siprec\r\n" +
		"Accept: application/sdp, application/rs-metadata+xml\r\n" +
		"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE\r\n" +
		"Content-Type: " + ct + "\r\n" +
		"MIME-Version: 1.0\r\n" +
		fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body))
	return append([]byte(head), body...)
}

func labelsUpTo(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprint(i + 1)
	}
	return out
}

// srsInDialog returns a request of the dialog the 200 res opened.
func srsInDialog(method sipgosip.RequestMethod, invite *sipgosip.Request, res *sipgosip.Response) *sipgosip.Request {
	req := sipgosip.NewRequest(method, invite.Contact().Address)
	req.AppendHeader(sipgosip.HeaderClone(invite.Via()))
	req.AppendHeader(sipgosip.HeaderClone(invite.From()))
	req.AppendHeader(sipgosip.HeaderClone(res.To()))
	req.AppendHeader(sipgosip.HeaderClone(invite.CallID()))
	n := invite.CSeq().SeqNo
	if method != sipgosip.ACK {
		n++
	}
	req.AppendHeader(&sipgosip.CSeqHeader{SeqNo: n, MethodName: method})
	req.SetBody(nil)
	return req
}

// TestSRSAnswerTooLargeForUDP: over UDP, sipgo does not send messages over
// 1300 bytes; an answer for many streams is refused with 513 (so the client
// can retry over TCP) instead of being dropped, and TCP takes it.
func TestSRSAnswerTooLargeForUDP(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		transport string
		streams   int
		code      int
	}{
		{"UDP", 2, 200},
		{"UDP", 14, 513},
		{"TCP", 14, 200},
	} {
		t.Run(fmt.Sprintf("%s %d streams", c.transport, c.streams), func(t *testing.T) {
			var rejects srsRejects
			srs, err := NewServer(Config{Ports: srsPool(t, 16), MaxStreams: 16, Logger: srsDiscard, NoByeOnShutdown: true,
				AckTimeout: 50 * time.Millisecond, // no ACK comes: do not hold Shutdown up
				OnReject:   rejects.onReject})
			if err != nil {
				t.Fatal(err)
			}
			msg, err := sipgosip.ParseMessage(srsRawInvite(t, c.streams, c.transport, "toolarge"))
			if err != nil {
				t.Fatal(err)
			}
			tx := newSRSFakeTx()
			srs.Handle(t.Context(), msg.(*sipgosip.Request), tx)
			if got := tx.last().StatusCode; got != c.code {
				t.Fatalf("%d, want %d (%d bytes)", got, c.code, len(tx.last().String()))
			}
			if c.code == 513 {
				rejects.want(t, "513 "+RejectAnswerTooLarge)
			} else {
				rejects.want(t)
			}
			_ = srs.Shutdown(t.Context())
		})
	}
}

// BenchmarkServerInvite measures the handler without the network. The
// INVITE is a SIPREC INVITE as it comes off the wire (about 2.4 KB, two
// labelled streams), parsed by sipgo and handled: body, SDP and metadata
// parsed, policy, two RTP ports bound, two receivers started, the sink made,
// the answer built. "invite" times that alone (the ACK and BYE that free the
// ports run with the timer stopped); "session" times INVITE, ACK and BYE
// (receivers stopped, ports freed).
func BenchmarkServerInvite(b *testing.B) {
	for _, whole := range []bool{false, true} {
		name := "invite"
		if whole {
			name = "session"
		}
		b.Run(name, func(b *testing.B) {
			srs, err := NewServer(Config{
				Ports:           srsPool(b, 512),
				Logger:          srsDiscard,
				NoByeOnShutdown: true,
				Sinks: SinkFactoryFunc(func(context.Context, *Session) (SessionSink, error) {
					return NopSink{}, nil
				}),
			})
			if err != nil {
				b.Fatal(err)
			}
			raw := srsRawInvite(b, 2, "UDP", "bench")
			b.SetBytes(int64(len(raw)))
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				msg, err := sipgosip.ParseMessage(raw)
				if err != nil {
					b.Fatal(err)
				}
				inv := msg.(*sipgosip.Request)
				tx := newSRSFakeTx()
				srs.Handle(ctx, inv, tx)
				res := tx.last()
				if res.StatusCode != 200 {
					b.Fatalf("%d %s", res.StatusCode, res.Reason)
				}
				if !whole {
					b.StopTimer()
				}
				srs.Handle(ctx, srsInDialog(sipgosip.ACK, inv, res), newSRSFakeTx())
				bye := newSRSFakeTx()
				srs.Handle(ctx, srsInDialog(sipgosip.BYE, inv, res), bye)
				if bye.last().StatusCode != 200 {
					b.Fatal("BYE not answered 200")
				}
				if !whole {
					b.StartTimer()
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), name+"s/s")
			_ = srs.Shutdown(ctx)
		})
	}
}

// BenchmarkServerSippLoad measures sessions over loopback with sipp as the
// recording client (testdata/srs_load.xml: the SIPREC INVITE of
// siprec_src.xml, ACK, BYE at once, no RTP), UDP, sipp offering calls at
// SRS_LOAD_RATE per second (default 1000) with at most 100 open at a time.
// Run it with -benchtime Nx (sipp makes N calls); every call must succeed.
func BenchmarkServerSippLoad(b *testing.B) {
	sipptest.Path(b)
	rate := os.Getenv("SRS_LOAD_RATE")
	if rate == "" {
		rate = "1000"
	}
	srs, err := NewServer(Config{
		Ports:  srsPool(b, 2000),
		Logger: srsDiscard,
		Sinks: SinkFactoryFunc(func(context.Context, *Session) (SessionSink, error) {
			return NopSink{}, nil
		}),
	})
	if err != nil {
		b.Fatal(err)
	}
	addr := srsServe(b, srs)
	scenario, err := filepath.Abs(filepath.Join("testdata", "srs_load.xml"))
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	res, err := sipptest.Run(b, sipptest.Options{
		Scenario: scenario,
		Remote:   addr,
		Calls:    b.N,
		Args:     []string{"-s", "srs", "-key", "mp2", "6004", "-r", rate, "-l", "100", "-buff_size", "4194304"},
		Timeout:  5 * time.Minute,
	})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if res.Successful != b.N {
		b.Fatalf("%d of %d calls succeeded", res.Successful, b.N)
	}
	b.ReportMetric(float64(b.N)/res.Elapsed.Seconds(), "sessions/s")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srs.Shutdown(ctx)
}

// srsServe serves srs on a sipgo server on 127.0.0.1 (UDP and TCP) for
// the rest of the benchmark or test, and returns its address.
func srsServe(tb testing.TB, srs *Server) string {
	server, _ := siptest.NewServer(tb, siptest.Config{})
	if err := srs.Register(context.Background(), server); err != nil {
		tb.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go func() { _ = server.ServeUDP(pc) }()
	tb.Cleanup(func() { _ = pc.Close() })
	return pc.LocalAddr().String()
}

// srsCount counts deliveries without keeping anything.
type srsCount struct{ audio, gap, dtmf int }

func (c *srsCount) HandleAudio(media.Audio) { c.audio++ }
func (c *srsCount) HandleGap(media.Gap)     { c.gap++ }
func (c *srsCount) HandleDTMF(media.DTMF)   { c.dtmf++ }

// TestSRSGatePerPacket: the per-packet path between a Receiver and the sink
// does not allocate, recording or paused, and a paused stream's audio
// becomes a gap of the same length.
func TestSRSGatePerPacket(t *testing.T) {
	c := &srsCount{}
	st := &Stream{handler: c}
	g := gate{st}
	a := media.Audio{Position: 160, PCM: make([]int16, 160), Arrival: time.Now()}
	for _, paused := range []bool{false, true} {
		st.paused.Store(paused)
		if n := testing.AllocsPerRun(1000, func() {
			g.HandleAudio(a)
			g.HandleGap(media.Gap{Position: 320, Samples: 160})
			g.HandleDTMF(media.DTMF{Digit: '1', Arrival: a.Arrival})
		}); n != 0 {
			t.Errorf("paused %v: %v allocations per packet", paused, n)
		}
	}
	if c.audio != 1001 || c.gap != 2*1001+1001 || c.dtmf != 1001 {
		t.Errorf("delivered %+v, want 1001 audio (recording), 3003 gaps (1001 paused audio), 1001 DTMF (recording)", *c)
	}
	// Audio that arrived before a resume is still gapped after it.
	st.paused.Store(false)
	st.resumeAt.Store(a.Arrival.Add(time.Millisecond).UnixNano())
	g.HandleAudio(a)
	if c.audio != 1001 {
		t.Error("audio that arrived during the pause was delivered after the resume")
	}
}

// prefetchCount is a sink handler that prefetches.
type prefetchCount struct {
	srsCount
	prefetches int
}

func (p *prefetchCount) Prefetch() uintptr { p.prefetches++; return 1 }

// TestSRSGatePrefetch: the gate is a media.Prefetcher that passes the call
// to a sink handler that prefetches (paused or not: a prefetch only reads),
// and does nothing more for one that does not.
func TestSRSGatePrefetch(t *testing.T) {
	var g media.Handler = gate{&Stream{}}
	pf, ok := g.(media.Prefetcher)
	if !ok {
		t.Fatal("the gate is not a media.Prefetcher: a Poller worker would not read its state ahead")
	}
	pf.Prefetch() // no handler yet: nothing to pass on
	c := &prefetchCount{}
	st := &Stream{}
	st.setHandler(c)
	g = gate{st}
	g.(media.Prefetcher).Prefetch()
	st.paused.Store(true)
	g.(media.Prefetcher).Prefetch()
	if c.prefetches != 2 {
		t.Errorf("the sink handler's Prefetch ran %d times for 2 of the gate's", c.prefetches)
	}
	if c.audio != 0 || c.gap != 0 || c.dtmf != 0 {
		t.Errorf("Prefetch delivered %+v", c.srsCount)
	}
	plain := &Stream{}
	plain.setHandler(&srsCount{})
	if plain.pf != nil {
		t.Error("a handler that does not prefetch was taken for a Prefetcher")
	}
	gate{plain}.Prefetch() // nothing to pass on
}
