package siprec_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/netip"
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
func ExampleManager() {
	client, err := siprec.NewClient(siprec.ClientConfig{
		ListenAddr: netip.MustParseAddrPort("192.0.2.1:5070"),
		Username:   "src", Password: siprec.Secret("secret"), // for recorders that challenge
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
	recorders, _ := siprec.ParseURIList("sip:srs1.example.com;transport=tcp,sip:srs2.example.com")
	results, err := m.Start(ctx, siprec.StartRequest{Recorders: recorders, RecordingID: "rec-2024-0001"})
	for _, r := range results {
		fmt.Println(r) // one line per recorder: accepted, or why not
	}
	if err != nil {
		log.Fatal(err) // no recorder accepted
	}

	// The media path calls this for every packet of the caller's leg.
	caller, _ := m.Fork("1")
	var packet []byte // 160 bytes of μ-law, 20 ms
	_ = caller.WriteEncoded(media.EncodingPCMU, packet)

	_, _ = m.Pause(ctx) // re-INVITE a=inactive: nothing is sent
	_, _ = m.Resume(ctx)
	_, _ = m.Stop(ctx) // BYE to every recorder
}

// The SBC side of the Call Recording Node: INFO requests with X-Reason
// startCallRecording, stopCallRecording... go to the call's Manager.
func ExampleInfoAdapter() {
	client, err := siprec.NewClient(siprec.ClientConfig{})
	if err != nil {
		log.Fatal(err)
	}
	calls := map[string]*siprec.Manager{} // by Call-ID, filled as calls arrive
	adapter := &siprec.InfoAdapter{
		Manager: func(_ context.Context, req *sipgosip.Request) (*siprec.Manager, error) {
			if m, ok := calls[req.CallID().Value()]; ok {
				return m, nil
			}
			return nil, errors.New("unknown call")
		},
	}
	ua, _ := sipgo.NewUA()
	srv, _ := sipgo.NewServer(ua)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	srv.OnInfo(sip.Handler(adapter.Handle).Sipgo(ctx)) // or guard.Wrap(adapter.Handle)
	_ = client
}
