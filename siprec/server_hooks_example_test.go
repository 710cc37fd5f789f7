package siprec_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/emiago/sipgo"
	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/media"
	"github.com/voicegw/voicegw/sip"
	"github.com/voicegw/voicegw/siprec"
	"github.com/voicegw/voicegw/siprec/metadata"
)

// The examples below share this set-up: a recording server and a recording
// client (sipgo's, standing for an SBC), each a sipgo user agent on
// 127.0.0.1 over TCP.

var exampleQuiet = slog.New(slog.DiscardHandler)

func exampleUA() *sipgo.UserAgent {
	ua, err := sipgo.NewUA(sipgo.WithUserAgentHostname("127.0.0.1"),
		sipgo.WithUserAgentTransportLayerOptions(sipgosip.WithTransportLayerLogger(exampleQuiet)),
		sipgo.WithUserAgentTransactionLayerOptions(sipgosip.WithTransactionLayerLogger(exampleQuiet)))
	if err != nil {
		log.Fatal(err)
	}
	return ua
}

// exampleListen serves srv over TCP on 127.0.0.1 and returns the port.
func exampleListen(srv *sipgo.Server) (int, func()) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go srv.ServeTCP(l)
	return l.Addr().(*net.TCPAddr).Port, func() { l.Close() }
}

// exampleSRS starts a recording server for cfg (RTP on 127.0.0.1),
// its handlers wrapped by wrap, and returns its SIP port.
func exampleSRS(cfg siprec.Config, wrap ...func(sip.Handler) sip.Handler) (*siprec.Server, int, func()) {
	ports, err := media.NewPortPool(media.PortPoolConfig{Address: netip.MustParseAddr("127.0.0.1"), MinPort: 32000, MaxPort: 32999})
	if err != nil {
		log.Fatal(err)
	}
	cfg.Ports, cfg.Logger = ports, exampleQuiet
	srs, err := siprec.NewServer(cfg)
	if err != nil {
		log.Fatal(err)
	}
	ua := exampleUA()
	server, _ := sipgo.NewServer(ua, sipgo.WithServerLogger(exampleQuiet))
	if err := srs.Register(context.Background(), server, wrap...); err != nil {
		log.Fatal(err)
	}
	port, stop := exampleListen(server)
	return srs, port, func() { _ = srs.Shutdown(context.Background()); stop(); ua.Close() }
}

// exampleSRC is the recording client: it sends requests, and answers the
// BYEs the server sends with 200, passing them on byes.
type exampleSRC struct {
	client *sipgo.Client
	port   int // of its Contact
	byes   chan *sipgosip.Request
	stop   func()
}

func newExampleSRC() *exampleSRC {
	ua := exampleUA()
	c := &exampleSRC{byes: make(chan *sipgosip.Request, 1)}
	c.client, _ = sipgo.NewClient(ua, sipgo.WithClientLogger(exampleQuiet))
	server, _ := sipgo.NewServer(ua, sipgo.WithServerLogger(exampleQuiet))
	server.OnBye(func(req *sipgosip.Request, tx sipgosip.ServerTransaction) {
		_ = tx.Respond(sipgosip.NewResponseFromRequest(req, 200, "OK", nil))
		c.byes <- req
	})
	port, stop := exampleListen(server)
	c.port, c.stop = port, func() { stop(); ua.Close() }
	return c
}

// invite sends a SIPREC INVITE for one labelled stream (with metadata when
// withMetadata) to the server's realm host at port, ACKs a 2xx, and returns
// the INVITE and its final response.
func (c *exampleSRC) invite(host string, port int, withMetadata bool) (*sipgosip.Request, *sipgosip.Response) {
	offer := &media.SessionDescription{Address: netip.MustParseAddr("127.0.0.1"), Media: []media.Media{{Type: "audio",
		Port: 40000, Protocol: "RTP/AVP", Codecs: media.DefaultCodecs()[:1], Label: "1", Direction: media.SendOnly}}}
	sdp, _ := offer.Marshal()
	var md *metadata.Recording
	if withMetadata {
		md = metadata.NewComplete(metadata.Call{Parties: []metadata.Party{{AOR: "sip:alice@example.com", Label: "1"}}})
	}
	contentType, body, _ := siprec.BuildBody(sdp, md, nil)
	inv := sipgosip.NewRequest(sipgosip.INVITE, sipgosip.Uri{Scheme: "sip", User: "srs", Host: host, Port: port})
	inv.SetTransport("TCP")
	inv.SetDestination(fmt.Sprintf("127.0.0.1:%d", port))
	inv.AppendHeader(&sipgosip.ContactHeader{Address: sipgosip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: c.port,
		UriParams: sipgosip.HeaderParams{{K: "transport", V: "tcp"}}}, Params: sipgosip.HeaderParams{{K: "+sip.src"}}})
	inv.AppendHeader(sipgosip.NewHeader("Require", "siprec"))
	inv.AppendHeader(sipgosip.NewHeader("Content-Type", contentType))
	inv.SetBody(body)
	res, err := c.client.Do(context.Background(), inv)
	if err != nil {
		log.Fatal(err)
	}
	if res.IsSuccess() {
		_ = c.client.WriteRequest(c.inDialog(sipgosip.ACK, inv, res, host, inv.CSeq().SeqNo))
	}
	return inv, res
}

// inDialog builds a request of the dialog that res opened, addressed to
// the realm host.
func (c *exampleSRC) inDialog(method sipgosip.RequestMethod, inv *sipgosip.Request, res *sipgosip.Response, host string, seq uint32) *sipgosip.Request {
	uri := inv.Recipient
	uri.Host = host
	req := sipgosip.NewRequest(method, uri)
	req.SetTransport("TCP")
	req.SetDestination(inv.Destination())
	req.AppendHeader(sipgosip.HeaderClone(inv.From()))
	req.AppendHeader(sipgosip.HeaderClone(res.To()))
	req.AppendHeader(sipgosip.HeaderClone(inv.CallID()))
	req.AppendHeader(&sipgosip.CSeqHeader{SeqNo: seq, MethodName: method})
	return req
}

// A gateway whose recording fails (a full disk, a failed upload) ends the
// session with a BYE that says why, so that the client can fail over to
// another recording server.
func ExampleSession_Hangup() {
	sessions := make(chan *siprec.Session, 1)
	ended := make(chan siprec.EndReason, 1)
	_, port, stop := exampleSRS(siprec.Config{
		Sinks: siprec.SinkFactoryFunc(func(_ context.Context, s *siprec.Session) (siprec.SessionSink, error) {
			sessions <- s
			return &endSink{ended: ended}, nil
		}),
	})
	defer stop()
	src := newExampleSRC()
	defer src.stop()
	_, res := src.invite("127.0.0.1", port, true)
	fmt.Println("client: INVITE", res.StatusCode)

	// Later, the recorder reports it can no longer write (from a goroutine
	// of the gateway, not from the sink's own methods).
	sess := <-sessions
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := sess.Hangup(ctx, 500, "Recording failed: disk full")
	fmt.Println("gateway: hangup:", err)
	fmt.Println("sink: end,", <-ended)
	bye := <-src.byes
	fmt.Println("client: BYE with Reason:", bye.GetHeader("Reason").Value())
	// Output:
	// client: INVITE 200
	// gateway: hangup: <nil>
	// sink: end, hangup
	// client: BYE with Reason: SIP ;cause=500;text="Recording failed: disk full"
}

// endSink tells when its session ends.
type endSink struct {
	siprec.NopSink
	ended chan siprec.EndReason
}

func (k *endSink) End(reason siprec.EndReason, _ time.Time) { k.ended <- reason }

// Two tenants on one recording server, told apart by the Request-URI host:
// acme at 127.0.0.1, globex at globex.test. A globex client that learnt
// the Call-ID and tags of an acme session cannot end it: its BYE, addressed
// to globex's realm, is answered as a request of an unknown dialog. The
// Server knows whose dialog it is (DialogIdentity), which a sip.Guard asks
// to check such requests against the owner's allowlist and digest user.
func ExampleServer_DialogIdentity() {
	loopback, _ := sip.ParseAllowlist("127.0.0.0/8")
	guard, err := sip.NewGuard(sip.GuardConfig{
		Tenants: sip.Tenants{
			"127.0.0.1":   {ID: "acme", Allowlist: loopback, NoDigest: true},
			"globex.test": {ID: "globex", Allowlist: loopback, NoDigest: true},
		},
		PassInDialog: true,
		Logger:       exampleQuiet,
	})
	if err != nil {
		log.Fatal(err)
	}
	srs, port, stop := exampleSRS(siprec.Config{}, guard.Wrap)
	defer stop()
	src := newExampleSRC()
	defer src.stop()
	inv, res := src.invite("127.0.0.1", port, true)
	fmt.Println("acme: INVITE", res.StatusCode)

	forged := src.inDialog(sipgosip.BYE, inv, res, "globex.test", 2)
	if id, ok := srs.DialogIdentity(forged); ok {
		fmt.Println("the dialog belongs to tenant", id.Tenant)
	}
	ctx := context.Background()
	if res, err := src.client.Do(ctx, forged); err == nil {
		fmt.Println("globex: BYE", res.StatusCode)
	}
	if res, err := src.client.Do(ctx, src.inDialog(sipgosip.BYE, inv, res, "127.0.0.1", 3)); err == nil {
		fmt.Println("acme: BYE", res.StatusCode)
	}
	// Output:
	// acme: INVITE 200
	// the dialog belongs to tenant acme
	// globex: BYE 481
	// acme: BYE 200
}

// OnReject reports each refusal of an initial INVITE with a stable reason:
// what a gateway counts in its metrics.
func ExampleConfig_onReject() {
	reported := make(chan string, 1)
	_, port, stop := exampleSRS(siprec.Config{
		OnReject: func(_ context.Context, req *sipgosip.Request, code int, reason string) {
			reported <- fmt.Sprintf("%s refused: %d %s", req.Method, code, reason)
		},
	})
	defer stop()
	src := newExampleSRC()
	defer src.stop()
	_, res := src.invite("127.0.0.1", port, false) // marked SIPREC, but no metadata
	fmt.Println("client:", res.StatusCode, res.Reason)
	fmt.Println("metrics:", <-reported)
	// Output:
	// client: 400 Bad Request
	// metrics: INVITE refused: 400 bad_request
}

// A recording server that takes SRTP only: an offer that would record a
// stream in clear gets 488 with a Warning naming the line (an SRTP offer
// over TLS, RTP/SAVP with a=crypto, is answered with the server's own key
// per line and decrypted before the sink).
func ExampleSRTPConfig() {
	reported := make(chan string, 1)
	_, port, stop := exampleSRS(siprec.Config{
		SRTP: siprec.SRTPConfig{Require: true},
		OnReject: func(_ context.Context, _ *sipgosip.Request, code int, reason string) {
			reported <- fmt.Sprintf("%d %s", code, reason)
		},
	})
	defer stop()
	src := newExampleSRC()
	defer src.stop()
	_, res := src.invite("127.0.0.1", port, true) // RTP/AVP over TCP
	fmt.Println("client:", res.StatusCode, res.Reason)
	if w := res.GetHeader("Warning"); w != nil {
		fmt.Println("Warning:", w.Value())
	}
	fmt.Println("metrics:", <-reported)
	// Output:
	// client: 488 Not Acceptable Here
	// Warning: 399 voicegw "siprec: media: SRTP required: SRTP is required and m-line 0 (label '1') offers RTP/AVP"
	// metrics: 488 srtp_required
}
