package siprec_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/media"
	"github.com/voicegw/voicegw/siprec"
	"github.com/voicegw/voicegw/siprec/metadata"
)

// printSink is a SessionSink that prints what it is told. A gateway's sink
// feeds a recorder instead: AddStream returns a handler writing the stream's
// audio and gaps, Pause and Resume pause the recording at the given time,
// End finishes the file and uploads it.
type printSink struct {
	siprec.NopSink
	ended chan siprec.EndReason
}

func (p *printSink) AddStream(st *siprec.Stream) media.Handler {
	var senders []string
	for _, s := range st.Senders() {
		senders = append(senders, s.AOR())
	}
	fmt.Printf("sink: stream %s from %s\n", st.Label(), strings.Join(senders, ", "))
	return nil // a recorder's stream handler goes here
}

func (p *printSink) End(reason siprec.EndReason, _ time.Time) {
	p.ended <- reason // printed by the example, after the client's lines
}

// account is what a gateway's policy looks up for each INVITE (its tenant's
// recording settings) and hands to the session's sink, typed.
type account struct {
	name   string
	format string
}

// A recording server on a sipgo server: a policy that admits the session
// and gives it a sink that knows its account, and a recording client
// (sipgo's, standing for an SBC) that sends a SIPREC INVITE with two
// labelled streams and ends with BYE.
func ExampleServer() {
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	ports, err := media.NewPortPool(media.PortPoolConfig{Address: netip.MustParseAddr("127.0.0.1"), MinPort: 31000, MaxPort: 31999})
	if err != nil {
		log.Fatal(err)
	}
	sink := &printSink{ended: make(chan siprec.EndReason, 1)}
	released := make(chan struct{})
	srs, err := siprec.NewServer(siprec.Config{
		Ports: ports,
		Policy: siprec.PolicyFunc(func(ctx context.Context, o *siprec.Offer) (siprec.Admission, error) {
			// A gateway looks up the tenant's account here
			// (sip.IdentityFrom(ctx) when a sip.Guard is in front) and
			// counts a licensed session.
			acct := &account{name: "demo", format: "wav"}
			fmt.Println("policy: admit", len(o.SDP.Media), "streams for account", acct.name)
			return siprec.Admission{
				// The sink constructor closes over the account: no
				// lookup again, no type assertion.
				Sink: func(ctx context.Context, s *siprec.Session) (siprec.SessionSink, error) {
					fmt.Println("sink: recording", s.CallID() != "", "as", acct.format)
					return sink, nil
				},
				Release: func() { close(released) },
			}, nil
		}),
		Logger: quiet,
	})
	if err != nil {
		log.Fatal(err)
	}

	// The sipgo server the gateway runs; Register adds the SRS's handlers
	// (pass a sip.Guard's Wrap as a third argument to guard them).
	ua, _ := sipgo.NewUA(sipgo.WithUserAgentHostname("127.0.0.1"),
		sipgo.WithUserAgentTransportLayerOptions(sipgosip.WithTransportLayerLogger(quiet)),
		sipgo.WithUserAgentTransactionLayerOptions(sipgosip.WithTransactionLayerLogger(quiet)))
	defer ua.Close()
	server, _ := sipgo.NewServer(ua, sipgo.WithServerLogger(quiet))
	if err := srs.Register(ctx, server); err != nil {
		log.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	go server.ServeTCP(l)
	port := l.Addr().(*net.TCPAddr).Port

	// The recording client's INVITE: SDP with one sendonly m-line per
	// party, labelled, and the metadata saying who sends on which label.
	offer := &media.SessionDescription{Address: netip.MustParseAddr("127.0.0.1")}
	for i, label := range []string{"1", "2"} {
		offer.Media = append(offer.Media, media.Media{Type: "audio", Port: 40000 + 2*i, Protocol: "RTP/AVP",
			Codecs: media.DefaultCodecs()[:1], Label: label, Direction: media.SendOnly})
	}
	sdp, _ := offer.Marshal()
	md := metadata.NewComplete(metadata.Call{Parties: []metadata.Party{
		{AOR: "sip:alice@example.com", Label: "1"}, {AOR: "sip:bob@example.com", Label: "2"},
	}})
	contentType, body, _ := siprec.BuildBody(sdp, md, nil)

	cua, _ := sipgo.NewUA(sipgo.WithUserAgentHostname("127.0.0.1"),
		sipgo.WithUserAgentTransportLayerOptions(sipgosip.WithTransportLayerLogger(quiet)),
		sipgo.WithUserAgentTransactionLayerOptions(sipgosip.WithTransactionLayerLogger(quiet)))
	defer cua.Close()
	client, _ := sipgo.NewClient(cua, sipgo.WithClientLogger(quiet))
	invite := sipgosip.NewRequest(sipgosip.INVITE, sipgosip.Uri{Scheme: "sip", User: "srs", Host: "127.0.0.1", Port: port})
	invite.SetTransport("TCP")
	invite.AppendHeader(&sipgosip.ContactHeader{Address: sipgosip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: 5064},
		Params: sipgosip.HeaderParams{{K: "+sip.src"}}})
	invite.AppendHeader(sipgosip.NewHeader("Require", "siprec"))
	invite.AppendHeader(sipgosip.NewHeader("Content-Type", contentType))
	invite.SetBody(body)
	res, err := client.Do(ctx, invite)
	if err != nil {
		log.Fatal(err)
	}
	answer, _ := media.ParseSDP(res.Body())
	fmt.Println("client:", res.StatusCode, res.ContentType().Value())
	for _, m := range answer.Media {
		fmt.Printf("client: m-line label %s %s\n", m.Label, m.Direction)
	}

	// ACK, then BYE, in the dialog the 200 opened.
	inDialog := func(method sipgosip.RequestMethod, seq uint32) *sipgosip.Request {
		req := sipgosip.NewRequest(method, invite.Recipient)
		req.SetTransport("TCP")
		req.AppendHeader(sipgosip.HeaderClone(invite.From()))
		req.AppendHeader(sipgosip.HeaderClone(res.To()))
		req.AppendHeader(sipgosip.HeaderClone(invite.CallID()))
		req.AppendHeader(&sipgosip.CSeqHeader{SeqNo: seq, MethodName: method})
		return req
	}
	_ = client.WriteRequest(inDialog(sipgosip.ACK, invite.CSeq().SeqNo))
	bye, err := client.Do(ctx, inDialog(sipgosip.BYE, invite.CSeq().SeqNo+1))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("client: BYE", bye.StatusCode)
	fmt.Println("sink: end,", <-sink.ended)
	<-released
	fmt.Println("policy: released")

	// The gateway's graceful shutdown.
	_ = srs.Shutdown(ctx)
	// Output:
	// policy: admit 2 streams for account demo
	// sink: recording true as wav
	// sink: stream 1 from sip:alice@example.com
	// sink: stream 2 from sip:bob@example.com
	// client: 200 application/sdp
	// client: m-line label 1 recvonly
	// client: m-line label 2 recvonly
	// client: BYE 200
	// sink: end, bye
	// policy: released
}
