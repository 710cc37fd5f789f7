package siprec_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/media"
	"github.com/voicegw/voicegw/sip"
	"github.com/voicegw/voicegw/siprec"
	"github.com/voicegw/voicegw/siprec/metadata"
)

// The Call Recording Server field takes one SIP URI or a comma-separated
// list; anything else is refused with an error that says why.
func ExampleParseURIList() {
	list, err := siprec.ParseURIList("sip:srs1.example.com, SIP:SRS2.example.com:5070;Transport=TCP")
	fmt.Println(list, err)

	_, err = siprec.ParseURIList("wss://siprec.example.com")
	fmt.Println(errors.Is(err, siprec.ErrInvalidURI))
	var ue *siprec.URIError
	if errors.As(err, &ue) {
		fmt.Println(ue.Reason)
	}

	_, err = siprec.ParseURIList("")
	fmt.Println(errors.Is(err, siprec.ErrNoRecorderURL))
	// Output:
	// sip:srs1.example.com,sip:srs2.example.com:5070;transport=tcp <nil>
	// true
	// WebSocket URLs (wss://) are not supported: a recording server is reached over SIP, not WebSocket
	// true
}

// An IP address needs no DNS: the transport parameter (or UDP, or TLS for
// sips:) and the URI's port (or 5060 / 5061).
func ExampleResolve() {
	for _, s := range []string{"sip:192.0.2.10", "sip:192.0.2.10:5080;transport=tcp", "sips:[2001:db8::10]"} {
		uri, err := siprec.ParseURI(s)
		if err != nil {
			log.Fatal(err)
		}
		targets, err := siprec.Resolve(context.Background(), nil, uri)
		fmt.Println(targets, err)
	}
	// Output:
	// [udp:192.0.2.10:5060] <nil>
	// [tcp:192.0.2.10:5080] <nil>
	// [tls:[2001:db8::10]:5061] <nil>
}

// A gateway records a call: one Client for the process, a Manager per
// call, the call legs' audio written to the Manager's forks as it comes.
// The recording server here is the package's own Server, in process
// (recordingServer); its sink tells what the server saw.
func ExampleManager() {
	sink := newEventSink()
	recorder, shutdown := recordingServer(sink)
	defer shutdown()

	client, err := siprec.NewClient(siprec.ClientConfig{
		ListenAddr: netip.MustParseAddrPort("127.0.0.1:0"), // a port the system picks
		// Username, Password: secret.String(...) for recorders that challenge.
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	m, err := client.NewManager(siprec.ManagerConfig{Call: metadata.Call{
		SIPSessionIDs: []string{"ab30317f1a784dc48ff824d0d3715d86"},
		Parties: []metadata.Party{
			{AOR: "sip:+15551230001@carrier.example", Name: "Caller", Label: "1"},
			{AOR: "sip:agent@pbx.example", Name: "Agent", Label: "2"},
		},
	}})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	// Recorders usually come from ParseURIList (the Call Recording Server
	// field, or an X-Srs-Url header): "sip:srs1.example.com;transport=tcp,...".
	results, err := m.Start(ctx, siprec.StartRequest{Recorders: siprec.URIList{recorder}, RecordingID: "rec-2024-0001"})
	for _, r := range results {
		fmt.Println("recorder accepted:", r.OK(), r.StatusCode) // r.String() also names the address
	}
	if err != nil {
		log.Fatal(err) // no recorder accepted
	}
	fmt.Println(sink.next(), "|", sink.next())
	fmt.Println("recording:", m.Recording(), "paused:", m.Paused())

	// The media path calls WriteEncoded for every packet of each leg: 20 ms
	// of μ-law (silence here), until the server has heard every stream.
	frame := bytes.Repeat([]byte{0xff}, 160)
	for i := 0; i < 250 && !sink.heardAll("1", "2"); i++ { // at most 5 s
		for _, f := range m.Forks() {
			_ = f.WriteEncoded(media.EncodingPCMU, frame)
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Println("server heard every stream:", sink.heardAll("1", "2"))

	if _, err := m.Pause(ctx); err != nil { // re-INVITE a=inactive: nothing is sent
		log.Fatal(err)
	}
	fmt.Println("paused:", m.Paused(), "|", sink.next())
	if _, err := m.Resume(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("paused:", m.Paused(), "|", sink.next())
	if _, err := m.Stop(ctx); err != nil { // BYE to every recorder
		log.Fatal(err)
	}
	fmt.Println("recording:", m.Recording(), "|", sink.next())
	// Output:
	// recorder accepted: true 200
	// server: stream 1 | server: stream 2
	// recording: true paused: false
	// server heard every stream: true
	// paused: true | server: pause
	// paused: false | server: resume
	// recording: false | server: end, bye
}

// The SBC side of the Call Recording Node: INFO requests with X-Reason
// startCallRecording, stopCallRecording... go to the call's Manager. Here
// a call controller (sendInfo) sends them to the SBC's sipgo server
// (infoServer), and an in-process recording server records.
func ExampleInfoAdapter() {
	recorder, shutdown := recordingServer(newEventSink())
	defer shutdown()
	client, err := siprec.NewClient(siprec.ClientConfig{ListenAddr: netip.MustParseAddrPort("127.0.0.1:0")})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	m, _ := client.NewManager(siprec.ManagerConfig{})
	calls := map[string]*siprec.Manager{"call-1": m} // by Call-ID, filled as calls arrive
	adapter := &siprec.InfoAdapter{
		Manager: func(_ context.Context, req *sipgosip.Request) (*siprec.Manager, error) {
			if m, ok := calls[req.CallID().Value()]; ok {
				return m, nil
			}
			return nil, errors.New("unknown call")
		},
	}
	ctx := context.Background()
	// srv.OnInfo(sip.Handler(adapter.Handle).Sipgo(ctx)), or guard.Wrap(adapter.Handle).
	sbc, stop := infoServer(sip.Handler(adapter.Handle).Sipgo(ctx))
	defer stop()

	for _, cmd := range []struct{ callID, reason, srsURL string }{
		{"call-1", siprec.ReasonStart, recorder.String()},
		{"call-1", siprec.ReasonStart, recorder.String()}, // a duplicate
		{"call-1", siprec.ReasonPause, ""},
		{"call-1", siprec.ReasonResume, ""},
		{"call-1", siprec.ReasonStop, ""},
		{"call-1", siprec.ReasonStop, ""}, // no longer recording
		{"call-2", siprec.ReasonStop, ""}, // a call the gateway does not know
	} {
		res, err := sendInfo(ctx, sbc, cmd.callID, cmd.reason, cmd.srsURL)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(cmd.callID, cmd.reason+":", res.StatusCode, res.Reason)
	}
	// Output:
	// call-1 startCallRecording: 200 OK
	// call-1 startCallRecording: 400 Duplicate Start Discarded
	// call-1 pauseCallRecording: 200 OK
	// call-1 resumeCallRecording: 200 OK
	// call-1 stopCallRecording: 200 OK
	// call-1 stopCallRecording: 400 Not Recording
	// call-2 stopCallRecording: 481 Call/Transaction Does Not Exist
}

// eventSink is the recording server's sink in these examples: it reports
// what the server saw, in order (next), and whether audio arrived on a
// stream (heardAll).
type eventSink struct {
	siprec.NopSink
	events chan string
	mu     sync.Mutex
	heard  map[string]bool // by label
}

func newEventSink() *eventSink {
	return &eventSink{events: make(chan string, 64), heard: map[string]bool{}}
}

func (s *eventSink) AddStream(st *siprec.Stream) media.Handler {
	label := st.Label()
	s.events <- "server: stream " + label
	return media.HandlerFuncs{Audio: func(media.Audio) {
		s.mu.Lock()
		s.heard[label] = true
		s.mu.Unlock()
	}}
}

func (s *eventSink) Pause(time.Time)  { s.events <- "server: pause" }
func (s *eventSink) Resume(time.Time) { s.events <- "server: resume" }
func (s *eventSink) End(reason siprec.EndReason, _ time.Time) {
	s.events <- "server: end, " + reason.String()
}

// next returns the server's next event, waiting at most 5 s.
func (s *eventSink) next() string {
	select {
	case e := <-s.events:
		return e
	case <-time.After(5 * time.Second):
		return "no event"
	}
}

func (s *eventSink) heardAll(labels ...string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range labels {
		if !s.heard[l] {
			return false
		}
	}
	return true
}

// quietUA is a sipgo user agent on 127.0.0.1 that logs nothing.
func quietUA() *sipgo.UserAgent {
	quiet := slog.New(slog.DiscardHandler)
	ua, err := sipgo.NewUA(sipgo.WithUserAgentHostname("127.0.0.1"),
		sipgo.WithUserAgentTransportLayerOptions(sipgosip.WithTransportLayerLogger(quiet)),
		sipgo.WithUserAgentTransactionLayerOptions(sipgosip.WithTransactionLayerLogger(quiet)))
	if err != nil {
		log.Fatal(err)
	}
	return ua
}

// recordingServer starts a recording server (a siprec.Server on a sipgo
// server) on 127.0.0.1, over TCP on a port the system picks, its sessions
// going to sink. It returns the server's URI and a function that shuts it
// down.
func recordingServer(sink siprec.SessionSink) (siprec.URI, func()) {
	ports, err := media.NewPortPool(media.PortPoolConfig{Address: netip.MustParseAddr("127.0.0.1"), MinPort: 32000, MaxPort: 32999})
	if err != nil {
		log.Fatal(err)
	}
	srs, err := siprec.NewServer(siprec.Config{
		Ports: ports,
		Sinks: siprec.SinkFactoryFunc(func(context.Context, *siprec.Session) (siprec.SessionSink, error) { return sink, nil }),
	})
	if err != nil {
		log.Fatal(err)
	}
	ua := quietUA()
	server, err := sipgo.NewServer(ua, sipgo.WithServerLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	if err := srs.Register(ctx, server); err != nil {
		log.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go func() { _ = server.ServeTCP(l) }()
	uri, err := siprec.ParseURI(fmt.Sprintf("sip:srs@%s;transport=tcp", l.Addr()))
	if err != nil {
		log.Fatal(err)
	}
	return uri, func() {
		_ = srs.Shutdown(ctx)
		_ = l.Close()
		_ = ua.Close()
	}
}

// infoServer starts the SBC's sipgo server on 127.0.0.1 (UDP, a port the
// system picks) with onInfo answering INFO requests. It returns the
// server's address and a function that stops it.
func infoServer(onInfo sipgo.RequestHandler) (netip.AddrPort, func()) {
	ua := quietUA()
	server, err := sipgo.NewServer(ua, sipgo.WithServerLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		log.Fatal(err)
	}
	server.OnInfo(onInfo)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go func() { _ = server.ServeUDP(pc) }()
	return pc.LocalAddr().(*net.UDPAddr).AddrPort(), func() { _ = pc.Close(); _ = ua.Close() }
}

// sendInfo is the call controller: it sends the SBC an INFO in call
// callID's dialog with X-Reason reason and, when set, X-Srs-Url srsURL,
// and returns the final response.
func sendInfo(ctx context.Context, sbc netip.AddrPort, callID, reason, srsURL string) (*sipgosip.Response, error) {
	ua := quietUA()
	defer ua.Close()
	c, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		return nil, err
	}
	req := sipgosip.NewRequest(sipgosip.INFO, sipgosip.Uri{Scheme: "sip", User: "sbc", Host: sbc.Addr().String(), Port: int(sbc.Port())})
	cid := sipgosip.CallIDHeader(callID)
	req.AppendHeader(&cid)
	from := &sipgosip.FromHeader{Address: sipgosip.Uri{Scheme: "sip", User: "controller", Host: "127.0.0.1"}}
	from.Params.Add("tag", "controller-tag")
	req.AppendHeader(from)
	to := &sipgosip.ToHeader{Address: sipgosip.Uri{Scheme: "sip", User: "sbc", Host: sbc.Addr().String()}}
	to.Params.Add("tag", "sbc-tag")
	req.AppendHeader(to)
	req.AppendHeader(sipgosip.NewHeader(siprec.HeaderReason, reason))
	if srsURL != "" {
		req.AppendHeader(sipgosip.NewHeader(siprec.HeaderSrsURL, srsURL))
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return c.Do(ctx, req)
}

// SRTP keyed by SDES goes to recorders reached over TLS: a sips: URI (or
// transport=tls) gets RTP/SAVP lines with a key per stream, other
// transports plain RTP, unless the keys may cross clear signalling
// (tests only) or SRTP is disabled.
func ExampleClientSRTPConfig() {
	for _, cfg := range []siprec.ClientSRTPConfig{{}, {AllowClearSignalling: true}, {Disable: true}} {
		for _, s := range []string{"sips:192.0.2.10", "sip:192.0.2.10;transport=tcp"} {
			uri, err := siprec.ParseURI(s)
			if err != nil {
				log.Fatal(err)
			}
			targets, err := siprec.Resolve(context.Background(), nil, uri)
			if err != nil {
				log.Fatal(err)
			}
			fmt.Printf("%+v %s: SRTP %v\n", cfg, s, cfg.Offers(targets[0]))
		}
	}
	// Output:
	// {Disable:false Suite: AllowClearSignalling:false} sips:192.0.2.10: SRTP true
	// {Disable:false Suite: AllowClearSignalling:false} sip:192.0.2.10;transport=tcp: SRTP false
	// {Disable:false Suite: AllowClearSignalling:true} sips:192.0.2.10: SRTP true
	// {Disable:false Suite: AllowClearSignalling:true} sip:192.0.2.10;transport=tcp: SRTP true
	// {Disable:true Suite: AllowClearSignalling:false} sips:192.0.2.10: SRTP false
	// {Disable:true Suite: AllowClearSignalling:false} sip:192.0.2.10;transport=tcp: SRTP false
}
