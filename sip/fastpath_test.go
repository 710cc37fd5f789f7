package sip

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"
)

// sippRegister is the REGISTER of sipp's register_auth.xml from
// 127.0.0.1:port (auth: an Authorization value, or "").
func sippRegister(b []byte, port int, callID string, branch string, cseq int, auth []byte) []byte {
	b = append(b, "REGISTER sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:"...)
	b = strconv.AppendInt(b, int64(port), 10)
	b = append(b, ";branch=z9hG4bK-"...)
	b = append(b, branch...)
	b = append(b, "\r\nMax-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1:5060>;tag=1SIPpTag00"...)
	b = append(b, callID...)
	b = append(b, "\r\nTo: <sip:alice@127.0.0.1:5060>\r\nCall-ID: "...)
	b = append(b, callID...)
	b = append(b, "@127.0.0.1\r\nCSeq: "...)
	b = strconv.AppendInt(b, int64(cseq), 10)
	b = append(b, " REGISTER\r\nContact: <sip:alice@127.0.0.1:"...)
	b = strconv.AppendInt(b, int64(port), 10)
	b = append(b, ";transport=UDP>\r\n"...)
	if auth != nil {
		b = append(b, "Authorization: "...)
		b = append(b, auth...)
		b = append(b, "\r\n"...)
	}
	return append(b, "Expires: 3600\r\nUser-Agent: SIPp register_auth\r\nContent-Length: 0\r\n\r\n"...)
}

// digestClient answers MD5 challenges of realm example.test for alice
// the way sipp does, into reused buffers.
type digestClient struct {
	ha1, ha2 string
	buf, out []byte
}

func newDigestClient(pass string) *digestClient {
	h1 := md5.Sum([]byte("alice:example.test:" + pass))
	h2 := md5.Sum([]byte("REGISTER:sip:127.0.0.1:5060"))
	return &digestClient{ha1: hex.EncodeToString(h1[:]), ha2: hex.EncodeToString(h2[:])}
}

// answer returns the Authorization value for the 401 in res (nc 1), or nil.
func (c *digestClient) answer(res []byte) []byte {
	i := bytes.Index(res, []byte(`nonce="`))
	if i < 0 {
		return nil
	}
	nonce := res[i+7:]
	nonce = nonce[:bytes.IndexByte(nonce, '"')]
	c.buf = append(c.buf[:0], c.ha1...)
	c.buf = append(c.buf, ':')
	c.buf = append(c.buf, nonce...)
	c.buf = append(c.buf, ":00000001:6b8b4567:auth:"...)
	c.buf = append(c.buf, c.ha2...)
	sum := md5.Sum(c.buf)
	var hx [32]byte
	hex.Encode(hx[:], sum[:])
	c.out = append(c.out[:0], `Digest username="alice",realm="example.test",cnonce="6b8b4567",nc=00000001,qop=auth,uri="sip:127.0.0.1:5060",nonce="`...)
	c.out = append(c.out, nonce...)
	c.out = append(c.out, `",response="`...)
	c.out = append(c.out, hx[:]...)
	c.out = append(c.out, `",algorithm=MD5`...)
	return c.out
}

// statelessRegistrar serves REGISTER statelessly on a PacketConn over
// loopback UDP: the Guard's fast path challenges, a Stateless handler
// behind Guard.Wrap answers 200. Nothing reads the PacketConn for sipgo
// but the test's own reader, which counts what reaches it.
func statelessRegistrar(t testing.TB, guardCfg GuardConfig) (addr string, pc *PacketConn, toSipgo *atomic.Int32) {
	t.Helper()
	if guardCfg.Tenants == nil {
		guardCfg.Tenants = SingleTenant(Tenant{ID: "t", Realm: "example.test", Credentials: Users{"alice": testPassword}})
	}
	guardCfg.Digest.Algorithms = []Algorithm{MD5}
	g, err := NewGuard(guardCfg)
	if err != nil {
		t.Fatal(err)
	}
	inner, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ok := g.Wrap(func(_ context.Context, req *sipgosip.Request, tx sipgosip.ServerTransaction) {
		_ = RespondStateless(tx, sipgosip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	pc = NewPacketConn(inner, PacketConnConfig{Guard: g, Stateless: map[sipgosip.RequestMethod]Handler{sipgosip.REGISTER: ok}})
	toSipgo = &atomic.Int32{}
	go func() {
		buf := make([]byte, 65535)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			toSipgo.Add(1)
		}
	}()
	t.Cleanup(func() { _ = pc.Close() })
	return inner.LocalAddr().String(), pc, toSipgo
}

// BenchmarkStatelessRegistration is one registration the way sipp's
// register_auth.xml makes it, over loopback UDP, against a PacketConn with
// the Guard's fast path (the 401) and a Stateless REGISTER handler behind
// Guard.Wrap (digest verification, then a 200): the server side of the
// registrar's UDP path without its binding store. The client builds its
// datagrams and digest in reused buffers; its cost, and the four system
// calls of each side, are in the figure.
func BenchmarkStatelessRegistration(b *testing.B) {
	addr, _, _ := statelessRegistrar(b, GuardConfig{})
	c, err := net.Dial("udp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	port := c.LocalAddr().(*net.UDPAddr).Port
	client := newDigestClient(testPassword)
	var out []byte
	in := make([]byte, 4096)
	callID := make([]byte, 0, 16)
	b.ReportAllocs()
	cpu0 := processCPU()
	i := 0
	for b.Loop() {
		i++
		callID = strconv.AppendInt(callID[:0], int64(i), 10)
		out = sippRegister(out[:0], port, string(callID), "a", 1, nil)
		if _, err := c.Write(out); err != nil {
			b.Fatal(err)
		}
		n, err := c.Read(in)
		if err != nil || !bytes.HasPrefix(in[:n], []byte("SIP/2.0 401")) {
			b.Fatalf("%q %v", in[:n], err)
		}
		out = sippRegister(out[:0], port, string(callID), "b", 2, client.answer(in[:n]))
		if _, err := c.Write(out); err != nil {
			b.Fatal(err)
		}
		if n, err = c.Read(in); err != nil || !bytes.HasPrefix(in[:n], []byte("SIP/2.0 200")) {
			b.Fatalf("%q %v", in[:n], err)
		}
	}
	if cpu := processCPU() - cpu0; cpu > 0 {
		// the process's CPU (client and server, every thread) per
		// registration: what the other processes on a shared machine
		// inflate less than the wall time
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "registrations/s")
}

// TestStatelessRegistrationOverUDP: the fast path answers the first
// REGISTER with one 401, the Stateless handler the second with one 200,
// and neither reaches sipgo; the 401 goes to the top Via's port (sipgo's
// choice) and, with an empty rport, to the source port with rport and
// received filled in (RFC 3581).
func TestStatelessRegistrationOverUDP(t *testing.T) {
	var decisions []Decision
	var mu sync.Mutex
	addr, pc, toSipgo := statelessRegistrar(t, GuardConfig{OnDecision: func(_ context.Context, req *sipgosip.Request, d Decision) {
		mu.Lock()
		defer mu.Unlock()
		if req == nil || req.CallID() == nil {
			t.Errorf("OnDecision without the request")
		}
		decisions = append(decisions, d)
	}})
	c := newRawUDP(t, addr)
	client := newDigestClient(testPassword)
	c.send(string(sippRegister(nil, c.port(), "1", "a", 1, nil)))
	got := c.collect(time.Second)
	if len(got) != 1 || !strings.HasPrefix(got[0], "SIP/2.0 401 Unauthorized\r\n") {
		t.Fatalf("first REGISTER: %q, want one 401", got)
	}
	c.send(string(sippRegister(nil, c.port(), "1", "b", 2, client.answer([]byte(got[0])))))
	if got = c.collect(time.Second); len(got) != 1 || !strings.HasPrefix(got[0], "SIP/2.0 200 OK\r\n") {
		t.Fatalf("REGISTER with the answer: %q, want one 200", got)
	}
	if s := pc.Stats(); s.Answered != 1 || s.Handled != 1 || s.Passed != 0 || toSipgo.Load() != 0 {
		t.Fatalf("stats %+v, %d datagrams to sipgo", s, toSipgo.Load())
	}
	mu.Lock()
	if len(decisions) != 2 || decisions[0].Reason != ReasonCredentialsRequired || decisions[0].Code != 401 ||
		decisions[0].Identity.Tenant != "t" || !decisions[1].Passed() || decisions[1].Identity.User != "alice" {
		t.Fatalf("decisions %+v", decisions)
	}
	mu.Unlock()

	// the answer's destination: the Via's port, not the source's
	other, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	req := sippRegister(nil, other.LocalAddr().(*net.UDPAddr).Port, "2", "c", 1, nil)
	c.send(string(req))
	buf := make([]byte, 4096)
	_ = other.SetReadDeadline(time.Now().Add(time.Second))
	n, _, err := other.ReadFromUDP(buf)
	if err != nil || !bytes.HasPrefix(buf[:n], []byte("SIP/2.0 401")) {
		t.Fatalf("answer at the Via's port: %q, %v", buf[:n], err)
	}
	// an empty rport: the source port, rport and received filled in
	req = bytes.Replace(req, []byte(";branch=z9hG4bK-c"), []byte(";rport;branch=z9hG4bK-d"), 1)
	c.send(string(req))
	got = c.collect(time.Second)
	want := fmt.Sprintf("v: SIP/2.0/UDP 127.0.0.1:%d;rport=%d;branch=z9hG4bK-d;received=127.0.0.1\r\n", other.LocalAddr().(*net.UDPAddr).Port, c.port())
	if len(got) != 1 || !strings.Contains(got[0], want) {
		t.Fatalf("answer with rport: %q, want %q in it", got, want)
	}
}

// TestFastPathMatchesCheck: for every request the fast path answers, its
// answer is the one Guard.Check builds for the same datagram parsed by
// sipgo (status, Via, From, To with the same tag, Call-ID, CSeq, the
// challenges' realm, algorithms and qop, a nonce bound to the source,
// compact names), and it leaves alone what Check would pass or verify.
func TestFastPathMatchesCheck(t *testing.T) {
	list, _ := ParseAllowlist("192.0.2.0/24")
	tenants := Tenants{
		"example.test": {ID: "ex", Realm: "example.test", Allowlist: list, Credentials: Users{"alice": testPassword}},
		"open.test":    {ID: "open", Realm: "open.test", NoDigest: true},
	}
	src := netip.MustParseAddrPort("192.0.2.7:5070")
	base := "REGISTER sip:example.test SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.7:5070;branch=z9hG4bK-1\r\n" +
		"From: <sip:alice@example.test>;tag=f1\r\nTo: <sip:alice@example.test>\r\nCall-ID: c1@192.0.2.7\r\n" +
		"CSeq: 1 REGISTER\r\nContact: <sip:alice@192.0.2.7:5070>\r\nMax-Forwards: 70\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n"
	edit := func(old, new string) string { return strings.Replace(base, old, new, 1) }
	invite := strings.NewReplacer("REGISTER sip:", "INVITE sip:bob@", "1 REGISTER", "1 INVITE").Replace(base)
	answered := []struct{ name, msg string }{
		{"REGISTER", base},
		{"INVITE", invite},
		{"compact names, several Vias", strings.NewReplacer("Via:", "v:", "From:", "f:", "To:", "t:", "Call-ID:", "i:").Replace(
			edit("Via: SIP/2.0/UDP 192.0.2.7:5070;branch=z9hG4bK-1\r\n", "Via: SIP/2.0/UDP 192.0.2.7:5070;branch=z9hG4bK-1\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-x, SIP/2.0/UDP 10.0.0.2:5062;branch=z9hG4bK-y\r\n"))},
		{"empty rport", edit(";branch=z9hG4bK-1", ";rport;branch=z9hG4bK-1")},
		{"rport with a value", edit(";branch=z9hG4bK-1", ";branch=z9hG4bK-1;rport=5080")},
		{"unknown realm", edit("REGISTER sip:example.test", "REGISTER sip:nowhere.test")},
		{"upper-case realm", edit("REGISTER sip:example.test", "REGISTER sip:Example.TEST:5060;transport=udp")},
		{"display names and URI parameters", edit("To: <sip:alice@example.test>", `To: "Alice, A." <sip:alice@example.test;user=phone>;x=1`)},
	}
	g, err := NewGuard(GuardConfig{Tenants: tenants, Lockout: LockoutConfig{MaxFailures: 1, Block: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	parser := sipgosip.NewParser()
	parse := func(data []byte, from netip.AddrPort) *sipgosip.Request {
		msg, err := parser.ParseSIP(data)
		if err != nil {
			t.Fatalf("sipgo: %v\n%s", err, data)
		}
		req := msg.(*sipgosip.Request)
		req.SetSource(from.String())
		req.SetTransport("UDP")
		return req
	}
	check := func(name string, data []byte, from netip.AddrPort) {
		t.Helper()
		ans := g.answerRaw(context.Background(), data, from, nil, nil)
		if !ans.handled || ans.msg == nil {
			t.Fatalf("%s: not answered by the fast path", name)
		}
		_, slow, _ := g.Check(context.Background(), parse(data, from))
		fast, err := parser.ParseSIP(ans.msg)
		if err != nil {
			t.Fatalf("%s: the fast answer does not parse: %v\n%s", name, err, ans.msg)
		}
		fres := fast.(*sipgosip.Response)
		var sb bytes.Buffer
		slow.StringWrite(&sb)
		if fres.StatusCode != slow.StatusCode || fres.Reason != slow.Reason {
			t.Fatalf("%s: %d %s, Check %d %s", name, fres.StatusCode, fres.Reason, slow.StatusCode, slow.Reason)
		}
		for _, h := range []string{"Via", "From", "To", "Call-ID", "CSeq", "Content-Length"} {
			if f, s := headerValues(fres, h), headerValues(slow, h); f != s {
				t.Fatalf("%s: %s %q, Check %q\nfast:\n%s\nCheck:\n%s", name, h, f, s, ans.msg, sb.String())
			}
		}
		fch, sch := fres.GetHeaders("WWW-Authenticate"), slow.GetHeaders("WWW-Authenticate")
		if len(fch) != len(sch) {
			t.Fatalf("%s: %d challenges, Check %d", name, len(fch), len(sch))
		}
		for i := range fch {
			fc, _ := ParseChallenge(fch[i].Value())
			sc, _ := ParseChallenge(sch[i].Value())
			if fc.Nonce == sc.Nonce {
				t.Fatalf("%s: the same nonce twice", name)
			}
			if _, _, err := g.digest.checkNonce(g.digest.getScratch(), fc.Realm, from.Addr(), fc.Nonce); err != nil {
				t.Fatalf("%s: nonce not bound to %s: %v", name, from, err)
			}
			fc.Nonce, sc.Nonce = "", ""
			if fc.String() != sc.String() {
				t.Fatalf("%s: challenge %s, Check %s", name, fc, sc)
			}
		}
		if !bytes.Contains(ans.msg, []byte("\r\nv: ")) || !bytes.Contains(ans.msg, []byte("\r\nl: 0\r\n")) {
			t.Fatalf("%s: not in compact form:\n%s", name, ans.msg)
		}
		if want := responseDestination(parse(data, from), from); ans.dst != want {
			t.Fatalf("%s: sent to %s, sipgo would send to %s", name, ans.dst, want)
		}
	}
	for i, c := range answered {
		// a source of its own per case: an unknown realm counts towards its
		// source's block (MaxFailures 1), which would answer the next cases
		from := src
		if i > 0 {
			from = netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(100 + i)}), src.Port())
		}
		check(c.name, []byte(c.msg), from)
	}
	check("source off the allowlist", []byte(base), netip.MustParseAddrPort("198.51.100.1:5070"))
	// a source blocked after a wrong password gets 403 without a look at the
	// realm (another source than src, which the unknown realms above count
	// towards its own block)
	other := netip.MustParseAddrPort("192.0.2.77:5060")
	ch := g.digest.ChallengesFor("example.test", other.Addr(), false)[0]
	wrong := edit("Content-Length", "Authorization: "+answer(t, ch, "REGISTER", "sip:example.test", "alice", "guess", 1, true).String()+"\r\nContent-Length")
	if _, _, err := g.Check(context.Background(), parse([]byte(wrong), other)); !errors.Is(err, ErrBadCredentials) || !g.Blocked(other.Addr()) {
		t.Fatalf("wrong password: %v, blocked %v", err, g.Blocked(other.Addr()))
	}
	check("blocked source", []byte(base), other)

	g2, err := NewGuard(GuardConfig{Tenants: tenants, AllowlistOnlyMethods: []sipgosip.RequestMethod{sipgosip.OPTIONS}})
	if err != nil {
		t.Fatal(err)
	}
	// the ACK of an answer of the Guard's is dropped before anything else
	ans := g2.answerRaw(context.Background(), []byte(base), src, nil, nil)
	fres, _ := parser.ParseSIP(ans.msg)
	tag, _ := fres.(*sipgosip.Response).To().Params.Get("tag")
	ack := strings.NewReplacer("REGISTER sip:", "ACK sip:", "1 REGISTER", "1 ACK", "To: <sip:alice@example.test>", "To: <sip:alice@example.test>;tag="+tag).Replace(base)
	if a := g2.answerRaw(context.Background(), []byte(ack), src, nil, nil); !a.handled || a.msg != nil {
		t.Fatalf("ACK of the Guard's answer: %+v, want dropped", a)
	}
	left := []struct{ name, msg string }{
		{"credentials", wrong},
		{"in a dialog", edit("To: <sip:alice@example.test>", "To: <sip:alice@example.test>;tag=x")},
		{"another ACK", strings.Replace(ack, tag, "other", 1)},
		{"CANCEL", strings.NewReplacer("REGISTER sip:", "CANCEL sip:", "1 REGISTER", "1 CANCEL").Replace(base)},
		{"allowlist-only method", strings.NewReplacer("REGISTER sip:", "OPTIONS sip:", "1 REGISTER", "1 OPTIONS").Replace(base)},
		{"tenant without digest", edit("REGISTER sip:example.test", "REGISTER sip:open.test")},
		{"over TCP", edit("SIP/2.0/UDP 192.0.2.7", "SIP/2.0/TCP 192.0.2.7")},
		{"folded line", edit("Expires: 3600\r\n", "Expires:\r\n 3600\r\n")},
		{"two To", edit("Max-Forwards", "To: <sip:bob@example.test>\r\nMax-Forwards")},
		{"IPv6 Request-URI", edit("REGISTER sip:example.test", "REGISTER sip:[2001:db8::1]")},
		{"tel URI", edit("REGISTER sip:example.test", "REGISTER tel:+15551234")},
		{"CSeq of another method", edit("1 REGISTER", "1 INVITE")},
		{"Content-Length off", edit("Content-Length: 0", "Content-Length: 5")},
		{"no branch", edit(";branch=z9hG4bK-1", "")},
		{"received in the Via", edit(";branch=z9hG4bK-1", ";branch=z9hG4bK-1;received=10.0.0.9")},
		{"unknown method", strings.NewReplacer("REGISTER sip:", "FOO sip:", "1 REGISTER", "1 FOO").Replace(base)},
		{"not SIP", "GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
	}
	for _, c := range left {
		if a := g2.answerRaw(context.Background(), []byte(c.msg), src, nil, nil); a.handled {
			t.Errorf("%s: handled by the fast path: %q", c.name, a.msg)
		}
	}
	custom, err := NewGuard(GuardConfig{Tenants: tenants, Realm: FromHost})
	if err != nil {
		t.Fatal(err)
	}
	if a := custom.answerRaw(context.Background(), []byte(base), src, nil, nil); a.handled {
		t.Errorf("GuardConfig.Realm of the caller's: handled by the fast path")
	}
}

// headerValues joins the values of a response's headers of name.
func headerValues(res *sipgosip.Response, name string) string {
	var vs []string
	for _, h := range res.GetHeaders(name) {
		vs = append(vs, h.Value())
	}
	return strings.Join(vs, " | ")
}

// BenchmarkGuardFastPath is the Guard's fast path on sipp's first
// REGISTER (no credentials): read the datagram, lockout, tenant,
// allowlist, a nonce bound to the source, the 401 with its challenge.
func BenchmarkGuardFastPath(b *testing.B) {
	g, err := NewGuard(GuardConfig{Tenants: SingleTenant(Tenant{ID: "t", Realm: "example.test", Credentials: Users{"alice": testPassword}}),
		Digest: DigestConfig{Algorithms: []Algorithm{MD5}}})
	if err != nil {
		b.Fatal(err)
	}
	data := sippRegister(nil, 5070, "1", "a", 1, nil)
	src := netip.MustParseAddrPort("127.0.0.1:5070")
	buf := make([]byte, 0, 2048)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if a := g.answerRaw(ctx, data, src, buf, nil); !a.handled {
			b.Fatal("not answered")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "challenges/s")
}

// TestFastPathChallengeDoesNotAllocate: the fast path's challenge (read
// the datagram, tenant, allowlist, lockout, nonce, the 401) allocates
// nothing. (Not under the race detector, whose instrumentation allocates.)
func TestFastPathChallengeDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates: allocation counts are checked without -race")
	}
	g, err := NewGuard(GuardConfig{Tenants: SingleTenant(Tenant{ID: "t", Realm: "example.test", Credentials: Users{"alice": testPassword}})})
	if err != nil {
		t.Fatal(err)
	}
	data := sippRegister(nil, 5070, "1", "a", 1, nil)
	src := netip.MustParseAddrPort("127.0.0.1:5070")
	buf := make([]byte, 0, 2048)
	ctx := context.Background()
	allocs := testing.AllocsPerRun(1000, func() {
		if a := g.answerRaw(ctx, data, src, buf, nil); !a.handled || !bytes.HasPrefix(a.msg, []byte("SIP/2.0 401")) {
			t.Fatal("not challenged")
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per challenge", allocs)
	}
}

// FuzzRawRequest: the fast path reads a request the way sipgo does. For
// every datagram readRawRequest takes that sipgo parses, sipgo reads the
// same method, Request-URI host, Call-ID, CSeq, To tag, top Via (UDP, its
// branch) and credentials. (sipgo may refuse a datagram whose other
// headers, which the fast path neither reads nor copies, are malformed:
// the fast path still answers its well-formed part.) And whatever it
// takes, the answer appendRawAnswer builds parses back with sipgo as a
// response carrying the request's Call-ID, CSeq, From and top Via branch,
// with the Guard's To tag: a round trip.
func FuzzRawRequest(f *testing.F) {
	f.Add(sippRegister(nil, 5070, "1", "a", 1, nil))
	f.Add(sippRegister(nil, 5070, "2", "b", 2, []byte(`Digest username="alice",realm="example.test",nonce="x",uri="sip:a",response="00",qop=auth,nc=00000001,cnonce="c"`)))
	f.Add([]byte("INVITE sip:bob@Example.TEST:5060;transport=udp SIP/2.0\r\nv: SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bK-7, SIP/2.0/UDP 10.0.0.2\r\n" +
		"f: \"A, B\" <sip:a@x>;tag=1\r\nt: <sip:bob@example.test;user=phone>;x=y\r\ni: abc@10.0.0.1\r\nCSeq: 7 INVITE\r\nl: 0\r\n\r\n"))
	f.Add([]byte("ACK sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\nTo: sip:b@x;tag=vg0123456789.00000000\r\nCall-ID: 1\r\nCSeq: 1 ACK\r\n\r\n"))
	g, err := NewGuard(GuardConfig{Tenants: SingleTenant(Tenant{ID: "t", Realm: "example.test"})})
	if err != nil {
		f.Fatal(err)
	}
	parser := sipgosip.NewParser()
	src := netip.MustParseAddrPort("192.0.2.1:5060")
	f.Fuzz(func(t *testing.T, data []byte) {
		var r rawRequest
		if !readRawRequest(data, &r) {
			return
		}
		var req *sipgosip.Request
		if msg, err := parser.ParseSIP(data); err == nil {
			req, _ = msg.(*sipgosip.Request)
			if req == nil {
				t.Fatalf("not a request for sipgo:\n%q", data)
			}
			checkSameReading(t, &r, req, data)
		}
		out := g.appendRawAnswer(nil, &r, src, 401, "Unauthorized", "example.test")
		rmsg, err := parser.ParseSIP(out)
		if err != nil {
			t.Fatalf("the answer does not parse (%v):\n%s", err, out)
		}
		res, ok := rmsg.(*sipgosip.Response)
		if !ok || res.StatusCode != 401 {
			t.Fatalf("answer %q", out)
		}
		rvia, rto := res.Via(), res.To()
		if res.CallID() == nil || string(*res.CallID()) != string(r.callID) || res.CSeq() == nil ||
			uint32(cseqNumber(r.cseq)) != res.CSeq().SeqNo || res.From() == nil || rvia == nil || rto == nil {
			t.Fatalf("answer does not carry the request's headers:\n%s\nrequest:\n%q", out, data)
		}
		if b, _ := rvia.Params.Get("branch"); b != string(r.branch) {
			t.Fatalf("answer's branch %q, request's %q", b, r.branch)
		}
		if tag, _ := rto.Params.Get("tag"); !r.hasTag && tag != string(appendTag(nil, g.tags.prefix, r.callID, r.branch)) {
			t.Fatalf("answer's To tag %q, not the Guard's", tag)
		}
		if req != nil {
			if f := res.From().Value(); f != req.From().Value() {
				t.Fatalf("answer's From %q, request's %q", f, req.From().Value())
			}
			if tag, _ := rto.Params.Get("tag"); !r.hasTag && tag != g.tags.tag(req) {
				t.Fatalf("answer's To tag %q, Check's %q", tag, g.tags.tag(req))
			}
		}
	})
}

// cseqNumber is the number of a CSeq value.
func cseqNumber(v []byte) int {
	n, _, _ := bytes.Cut(v, []byte{' '})
	return atoiBytes(n)
}

// checkSameReading fails t unless sipgo's req reads as r.
func checkSameReading(t *testing.T, r *rawRequest, req *sipgosip.Request, data []byte) {
	t.Helper()
	via, cseq, to := req.Via(), req.CSeq(), req.To()
	switch {
	case req.Method != r.method:
		t.Fatalf("method %q, sipgo %q", r.method, req.Method)
	case !strings.EqualFold(req.Recipient.Host, string(r.host)):
		t.Fatalf("host %q, sipgo %q", r.host, req.Recipient.Host)
	case req.CallID() == nil || string(*req.CallID()) != string(r.callID):
		t.Fatalf("Call-ID %q, sipgo %v", r.callID, req.CallID())
	case cseq == nil || cseq.MethodName != r.method || uint32(cseqNumber(r.cseq)) != cseq.SeqNo:
		t.Fatalf("CSeq %q, sipgo %v", r.cseq, cseq)
	case via == nil || !strings.EqualFold(via.Transport, "UDP"):
		t.Fatalf("top Via %q, sipgo %v", r.vias[0], via)
	case to == nil || to.Params.Has("tag") != r.hasTag:
		t.Fatalf("To tag %v %q, sipgo %v\n%q", r.hasTag, r.toTag, to, data)
	}
	if b, _ := via.Params.Get("branch"); b != string(r.branch) {
		t.Fatalf("branch %q, sipgo %q", r.branch, b)
	}
	if tag, _ := to.Params.Get("tag"); r.hasTag && tag != string(r.toTag) {
		t.Fatalf("To tag %q, sipgo %q", r.toTag, tag)
	}
	creds := false
	for _, h := range req.Headers() {
		creds = creds || strings.EqualFold(h.Name(), "Authorization") || strings.EqualFold(h.Name(), "Proxy-Authorization")
	}
	if creds != r.credentials {
		t.Fatalf("credentials %v, sipgo %v", r.credentials, creds)
	}
}

// FuzzDigestURIHost: where digestURIHost reads a host, sipgo's URI parser
// reads the same one (it may refuse more: the Guard then answers 400, as
// for a URI sipgo refuses; TestCheckDigestURI has the URIs clients send);
// and the host it reads, written back into a URI, reads again the same (a
// round trip).
func FuzzDigestURIHost(f *testing.F) {
	for _, s := range []string{"sip:example.test", "sip:127.0.0.1:5060", "sips:alice@[2001:db8::1]:5061;transport=tls",
		"sip:a@b@c", "sip:alice:pw@host;lr?x=y", "sip:@", "sip:[::1", "sip:host:99999", "sip://x@y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		if !strings.HasPrefix(uri, "sip:") && !strings.HasPrefix(uri, "sips:") {
			return
		}
		host, ok := digestURIHost(uri)
		var u sipgosip.Uri
		err := sipgosip.ParseUri(uri, &u)
		sipgoHost := u.Host
		if len(sipgoHost) >= 2 && sipgoHost[0] == '[' && sipgoHost[len(sipgoHost)-1] == ']' {
			sipgoHost = sipgoHost[1 : len(sipgoHost)-1]
		}

		if ok && (err != nil || sipgoHost != host) {
			t.Fatalf("%q: host %q, sipgo %q (%v)", uri, host, u.Host, err)
		}
		if !ok {
			return
		}
		again := "sip:user@" + host + ":5060;transport=udp"
		if strings.Contains(host, ":") {
			again = "sip:user@[" + host + "]:5060;transport=udp"
		}
		if h2, ok2 := digestURIHost(again); !ok2 || h2 != host {
			t.Fatalf("%q: host %q, written back as %q reads %q %v", uri, host, again, h2, ok2)
		}
	})
}

// TestPacketConnCloseStopsReaders: closing a PacketConn with readers
// (Guard or Stateless) ends them at once — on Linux they wait in the
// kernel, and the close wakes them — and gives back every descriptor
// (on Linux, the readers' duplicate of the socket's); sipgo's ReadFrom
// then fails with net.ErrClosed.
func TestPacketConnCloseStopsReaders(t *testing.T) {
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skipf("no /proc/self/fd: %v", err)
		}
		return len(ents)
	}
	before := fds()
	_, pc, _ := statelessRegistrar(t, GuardConfig{})
	errc := make(chan error, 1)
	go func() {
		_, _, err := pc.ReadFrom(make([]byte, 2048))
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond) // the readers wait in recvfrom
	start := time.Now()
	if err := pc.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("ReadFrom after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("ReadFrom still blocked 3 s after Close")
	}
	t.Logf("readers stopped %s after Close", time.Since(start).Round(time.Millisecond))
	deadline := time.Now().Add(3 * time.Second)
	for fds() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := fds(); n > before {
		t.Fatalf("%d descriptors open after Close, %d before the PacketConn", n, before)
	}
}

// FuzzMayHaveCredentials: mayHaveCredentials, which looks only around z
// and Z, says yes exactly when the header section holds "authorization"
// in any case (the reference: lower-case the section and search), so no
// request with credentials is taken by the fast path for one without.
func FuzzMayHaveCredentials(f *testing.F) {
	f.Add(sippRegister(nil, 5070, "1", "a", 1, nil))
	f.Add(sippRegister(nil, 5070, "2", "b", 2, []byte(`Digest username="alice"`)))
	f.Add([]byte("OPTIONS sip:x SIP/2.0\r\nPROXY-AUTHORIZATION: Digest\r\n\r\n"))
	f.Add([]byte("authorizatioN"))
	f.Add([]byte("x: authorizaZ\r\n\r\nAuthorization: in the body"))
	f.Fuzz(func(t *testing.T, data []byte) {
		head := data
		if end := bytes.Index(data, endOfHead); end >= 0 {
			head = data[:end]
		}
		want := bytes.Contains(bytes.ToLower(head), []byte("authorization"))
		if got := mayHaveCredentials(data); got != want {
			t.Fatalf("mayHaveCredentials(%q) = %v, want %v", data, got, want)
		}
	})
}

// TestFastPathTenantBusy: a lookup that declines (ErrTenantBusy) is
// answered by the fast path itself, 503 with Retry-After, after one lookup:
// handing it to the Guard would ask the lookup again (a second budget
// token, a second count).
func TestFastPathTenantBusy(t *testing.T) {
	lookups := 0
	var reasons []string
	g, err := NewGuard(GuardConfig{
		Tenants: TenantFunc(func(_ context.Context, realm string) (Tenant, error) {
			lookups++
			return Tenant{}, fmt.Errorf("realm %q: %w", realm, ErrTenantBusy)
		}),
		OnDecision: func(_ context.Context, _ *sipgosip.Request, d Decision) { reasons = append(reasons, d.Reason) },
	})
	if err != nil {
		t.Fatal(err)
	}
	msg := "REGISTER sip:new.test SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.7:5070;branch=z9hG4bK-1\r\n" +
		"From: <sip:alice@new.test>;tag=f1\r\nTo: <sip:alice@new.test>\r\nCall-ID: c1@192.0.2.7\r\n" +
		"CSeq: 1 REGISTER\r\nContact: <sip:alice@192.0.2.7:5070>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	parser := sipgosip.NewParser()
	parse := func(data []byte) *sipgosip.Request {
		m, err := parser.ParseSIP(data)
		if err != nil {
			t.Fatal(err)
		}
		return m.(*sipgosip.Request)
	}
	ans := g.answerRaw(context.Background(), []byte(msg), netip.MustParseAddrPort("192.0.2.7:5070"), nil, parse)
	if !ans.handled || ans.msg == nil {
		t.Fatal("not answered by the fast path")
	}
	res, err := parser.ParseSIP(ans.msg)
	if err != nil {
		t.Fatalf("the answer does not parse: %v\n%s", err, ans.msg)
	}
	r := res.(*sipgosip.Response)
	if r.StatusCode != sipgosip.StatusServiceUnavailable || r.GetHeader("Retry-After") == nil || r.GetHeader("Retry-After").Value() != tenantBusyRetryAfter {
		t.Fatalf("answer:\n%s\nwant 503 with Retry-After %s", ans.msg, tenantBusyRetryAfter)
	}
	if lookups != 1 || len(reasons) != 1 || reasons[0] != ReasonUnavailable {
		t.Fatalf("%d lookups, decisions %v; want one lookup and one decision %q", lookups, reasons, ReasonUnavailable)
	}
}
