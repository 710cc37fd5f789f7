package sip_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/emiago/sipgo"
	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/sip"
)

// A sipgo server behind the edge defences: the TCP listener and UDP socket
// it serves are wrapped, the tenants' allowlists applied before sipgo
// parses anything, and what sipgo logs filtered.
func ExampleNewListener() {
	allow, _ := sip.ParseAllowlist("192.0.2.0/24, 2001:db8::/32") // for a gateway: the union of its tenants' lists
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	sipgoLog := sip.FilterLogger(log, sip.LogFilterConfig{})

	ua, _ := sipgo.NewUA(
		sipgo.WithUserAgentParser(sip.NewSipgoParser(sip.DefaultMaxMessageSize)),
		sipgo.WithUserAgentTransportLayerOptions(sipgosip.WithTransportLayerLogger(sipgoLog)),
		sipgo.WithUserAgentTransactionLayerOptions(sipgosip.WithTransactionLayerLogger(sipgoLog)),
	)
	defer ua.Close()
	srv, _ := sipgo.NewServer(ua, sipgo.WithServerLogger(sipgoLog))

	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	l := sip.NewListener(tcp, sip.ListenerConfig{Allow: allow.Allows, Logger: log}) // defaults: 4096 connections, 128 per source, 30 s, 2 h
	defer l.Close()
	go func() { _ = srv.ServeTCP(l) }() // returns only when l is closed

	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	pc := sip.NewPacketConn(udp, sip.PacketConnConfig{Allow: allow.Allows, Logger: log})
	defer pc.Close()
	go func() { _ = srv.ServeUDP(pc) }()

	// a connection from outside the allowlist is closed at accept
	c, _ := net.Dial("tcp", tcp.Addr().String())
	_, err = c.Read(make([]byte, 1))
	fmt.Println("from 127.0.0.1:", err)
	_ = c.Close()
	// Output: from 127.0.0.1: EOF
}

// A PacketConn drops datagrams from refused sources and answers
// oversized ones with 513 Message Too Large.
func ExampleNewPacketConn() {
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	pc := sip.NewPacketConn(udp, sip.PacketConnConfig{MaxMessageSize: 1000})
	defer pc.Close()

	client, _ := net.Dial("udp", udp.LocalAddr().String())
	defer client.Close()
	big := "OPTIONS sip:example.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n" +
		"From: <sip:a@example.test>;tag=1\r\nTo: <sip:example.test>\r\nCall-ID: big\r\nCSeq: 1 OPTIONS\r\n" +
		"Content-Length: 2000\r\n\r\n" + strings.Repeat("x", 2000)
	_, _ = client.Write([]byte(big))
	small := "OPTIONS sip:example.test SIP/2.0\r\nCall-ID: small\r\n\r\n"
	_, _ = client.Write([]byte(small))

	buf := make([]byte, 2048)
	n, _, _ := pc.ReadFrom(buf) // what sipgo would get: the small one only
	fmt.Printf("%q\n", strings.SplitN(string(buf[:n]), "\r\n", 2)[1][:14])
	n, _ = client.Read(buf) // the big one's sender got an answer
	fmt.Println(strings.SplitN(string(buf[:n]), "\r\n", 2)[0])
	fmt.Printf("%+v\n", pc.Stats())
	// Output:
	// "Call-ID: small"
	// SIP/2.0 513 Message Too Large
	// {Passed:1 Refused:0 TooLarge:1 Answered:0 Handled:0}
}

// What the filter does to a message sipgo failed to parse.
func ExampleFilterLogger() {
	log := sip.FilterLogger(slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	})), sip.LogFilterConfig{MaxValueLen: 80})
	data := "REGISTER sip:example.test SIP/2.0\r\nAuthorization: Digest username=\"alice\", nonce=\"abc\", response=\"6629fae49393a05397450978507c4ef1\"\r\n" + strings.Repeat("junk", 100)
	log.Error("failed to parse", "data", data, "error", errors.New("field name with no value in header"))
	// Output:
	// level=ERROR msg="failed to parse" data="REGISTER sip:example.test SIP/2.0\r\nAuthorization:[redacted]\r\njunkjunkjunkjunkjun…[461 bytes]" error="field name with no value in header"
}

func ExampleRedactSIP() {
	fmt.Println(sip.RedactSIP(`Proxy-Authorization: Digest username="alice", response="6629fae49393a05397450978507c4ef1"`))
	fmt.Println(sip.RedactSIP(`qop=auth, cnonce="0a4f113b", nc=00000001`))
	fmt.Println(sip.RedactSIP("nothing to hide"))
	// Output:
	// Proxy-Authorization:[redacted]
	// qop=auth, c[redacted]
	// nothing to hide
}

func ExampleExcerpt() {
	fmt.Println(sip.Excerpt("INVITE sip:srs@example.test SIP/2.0", 10))
	// Output: INVITE sip…[35 bytes]
}

// A handler that answers without keeping state: a 481 for a dialog it
// does not know, sent once (over UDP, never retransmitted).
func ExampleRespondStateless() {
	bye := func(_ context.Context, req *sipgosip.Request, tx sipgosip.ServerTransaction) {
		_ = sip.RespondStateless(tx, sipgosip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		// return at once: sipgo ends the transaction, nothing is kept
	}
	ua, _ := sipgo.NewUA()
	defer ua.Close()
	srv, _ := sipgo.NewServer(ua)
	srv.OnBye(sip.Handler(bye).Sipgo(context.Background()))
}

// A program whose messages may be larger than sipgo's default gives sipgo
// a parser, and its Listener and PacketConn, the same limit.
func ExampleNewSipgoParser() {
	const limit = 256 << 10 // room for SIPREC metadata up to 200 KiB and its SDP
	p := sip.NewSipgoParser(limit)
	fmt.Println(p.MaxMessageLength >= limit)
	_ = sip.ListenerConfig{MaxMessageSize: limit}
	_ = sip.PacketConnConfig{MaxMessageSize: 65507} // UDP: at most the largest datagram
	// Output: true
}

func ExampleDialogOwnerFunc() {
	owner := sip.DialogOwnerFunc(func(req *sipgosip.Request) (sip.Identity, bool) {
		if req.CallID() != nil && req.CallID().Value() == "call-1" {
			return sip.Identity{User: "alice", Tenant: "acme", Realm: "acme.test", Source: netip.MustParseAddrPort("192.0.2.10:5060")}, true
		}
		return sip.Identity{}, false
	})
	_, err := sip.NewGuard(sip.GuardConfig{Tenants: sip.Tenants{"acme.test": {ID: "acme"}}, Dialogs: owner})
	fmt.Println(err)
	// Output: <nil>
}

func ExampleTransportEventKind() {
	counts := map[string]int{}
	cfg := sip.ListenerConfig{OnEvent: func(ev sip.TransportEvent) {
		counts[ev.Kind.String()]++ // called from several goroutines: use a counter safe for concurrent use
	}}
	cfg.OnEvent(sip.TransportEvent{Kind: sip.EventOverSourceLimit})
	fmt.Println(counts)
	// Output: map[over_source_limit:1]
}

// A registrar's UDP path without sipgo's transaction layer: the Guard's
// fast path answers a REGISTER without credentials with its 401 as the
// datagram arrives, and a stateless REGISTER handler behind Guard.Wrap
// answers the rest (here, every request that got through: 200). Give
// sipgo the same PacketConn (sipgo.Server.ServeUDP) for everything else.
func ExamplePacketConnConfig_stateless() {
	guard, err := sip.NewGuard(sip.GuardConfig{
		Tenants: sip.SingleTenant(sip.Tenant{ID: "t", Realm: "example.test", Credentials: sip.Users{"alice": "secret"}}),
		Digest:  sip.DigestConfig{Algorithms: []sip.Algorithm{sip.MD5}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	register := guard.Wrap(func(_ context.Context, req *sipgosip.Request, tx sipgosip.ServerTransaction) {
		_ = sip.RespondStateless(tx, sipgosip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	pc := sip.NewPacketConn(udp, sip.PacketConnConfig{
		Guard:     guard,
		Stateless: map[sipgosip.RequestMethod]sip.Handler{sipgosip.REGISTER: register},
	})
	defer pc.Close()

	client, _ := net.Dial("udp", udp.LocalAddr().String())
	defer client.Close()
	port := client.LocalAddr().(*net.UDPAddr).Port
	_, _ = fmt.Fprintf(client, "REGISTER sip:example.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK1\r\n"+
		"From: <sip:alice@example.test>;tag=1\r\nTo: <sip:alice@example.test>\r\nCall-ID: reg-1\r\nCSeq: 1 REGISTER\r\n"+
		"Contact: <sip:alice@127.0.0.1:%d>\r\nContent-Length: 0\r\n\r\n", port, port)
	buf := make([]byte, 2048)
	n, _ := client.Read(buf)
	fmt.Println(strings.SplitN(string(buf[:n]), "\r\n", 2)[0])
	fmt.Printf("%+v\n", pc.Stats())
	// Output:
	// SIP/2.0 401 Unauthorized
	// {Passed:0 Refused:0 TooLarge:0 Answered:1 Handled:0}
}
