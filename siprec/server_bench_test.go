package siprec

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	sipgosip "github.com/emiago/sipgo/sip"
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
			srs, err := NewServer(Config{Ports: srsPool(t, 16), MaxStreams: 16, Logger: srsDiscard, NoByeOnShutdown: true})
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
