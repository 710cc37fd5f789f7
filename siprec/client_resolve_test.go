package siprec

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// dnsServer is a tiny authoritative DNS server on loopback UDP (RFC 1035
// wire format, answering A, AAAA and SRV from a table), so that Resolve is
// tested through a real net.Resolver speaking DNS rather than a fake.
type dnsServer struct {
	pc      net.PacketConn
	mu      sync.Mutex
	a       map[string][]netip.Addr // name (lower-case, with the final dot) → addresses
	srv     map[string][]net.SRV    // _service._proto.name. → records
	queries []string                // "TYPE name" in arrival order
}

const (
	dnsTypeA    = 1
	dnsTypeAAAA = 28
	dnsTypeSRV  = 33
)

func newDNSServer(t testing.TB) *dnsServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &dnsServer{pc: pc, a: map[string][]netip.Addr{}, srv: map[string][]net.SRV{}}
	go s.serve()
	t.Cleanup(func() { _ = pc.Close() })
	return s
}

func (s *dnsServer) addA(name string, addrs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range addrs {
		s.a[name+"."] = append(s.a[name+"."], netip.MustParseAddr(a))
	}
}

func (s *dnsServer) addSRV(name string, recs ...net.SRV) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.srv[name+"."] = append(s.srv[name+"."], recs...)
}

func (s *dnsServer) log() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.queries...)
}

// resolver returns a net.Resolver that asks only this server.
func (s *dnsServer) resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", s.pc.LocalAddr().String())
	}}
}

func (s *dnsServer) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := s.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if resp := s.answer(buf[:n]); resp != nil {
			_, _ = s.pc.WriteTo(resp, from)
		}
	}
}

// answer builds the response to one query.
func (s *dnsServer) answer(q []byte) []byte {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:]) != 1 {
		return nil
	}
	name, end, ok := readName(q, 12)
	if !ok || end+4 > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[end:])
	question := q[12 : end+4]
	key := strings.ToLower(name)

	s.mu.Lock()
	s.queries = append(s.queries, map[uint16]string{dnsTypeA: "A", dnsTypeAAAA: "AAAA", dnsTypeSRV: "SRV"}[qtype]+" "+key)
	var answers [][]byte
	_, knownA := s.a[key]
	_, knownSRV := s.srv[key]
	switch qtype {
	case dnsTypeA, dnsTypeAAAA:
		for _, a := range s.a[key] {
			if a.Is4() && qtype == dnsTypeA {
				answers = append(answers, rr(dnsTypeA, a.AsSlice()))
			} else if a.Is6() && qtype == dnsTypeAAAA {
				answers = append(answers, rr(dnsTypeAAAA, a.AsSlice()))
			}
		}
	case dnsTypeSRV:
		for _, r := range s.srv[key] {
			data := binary.BigEndian.AppendUint16(nil, r.Priority)
			data = binary.BigEndian.AppendUint16(data, r.Weight)
			data = binary.BigEndian.AppendUint16(data, r.Port)
			answers = append(answers, rr(dnsTypeSRV, append(data, encodeName(r.Target)...)))
		}
	}
	s.mu.Unlock()

	rcode := byte(0)
	if !knownA && !knownSRV {
		rcode = 3 // NXDOMAIN
	}
	resp := make([]byte, 12, 512)
	copy(resp, q[:2])          // ID
	resp[2] = 0x84 | q[2]&0x01 // QR, AA, RD copied
	resp[3] = 0x80 | rcode     // RA
	binary.BigEndian.PutUint16(resp[4:], 1)
	binary.BigEndian.PutUint16(resp[6:], uint16(len(answers)))
	resp = append(resp, question...)
	for _, a := range answers {
		resp = append(resp, a...)
	}
	return resp
}

// rr is a resource record for the question's name (a pointer to offset
// 12), class IN, TTL 60.
func rr(typ uint16, data []byte) []byte {
	b := []byte{0xc0, 12}
	b = binary.BigEndian.AppendUint16(b, typ)
	b = binary.BigEndian.AppendUint16(b, 1)
	b = binary.BigEndian.AppendUint32(b, 60)
	b = binary.BigEndian.AppendUint16(b, uint16(len(data)))
	return append(b, data...)
}

func encodeName(name string) []byte {
	var b []byte
	for l := range strings.SplitSeq(strings.TrimSuffix(name, "."), ".") {
		if l == "" {
			continue
		}
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	return append(b, 0)
}

// readName reads an uncompressed name (queries never compress).
func readName(b []byte, off int) (string, int, bool) {
	var sb strings.Builder
	for off < len(b) {
		n := int(b[off])
		off++
		if n == 0 {
			if sb.Len() == 0 {
				sb.WriteByte('.')
			}
			return sb.String(), off, true
		}
		if n > 63 || off+n > len(b) {
			return "", 0, false
		}
		sb.Write(b[off : off+n])
		sb.WriteByte('.')
		off += n
	}
	return "", 0, false
}

// noDNS is a Resolver that fails the test when asked anything.
type noDNS struct{ t *testing.T }

func (r noDNS) LookupSRV(context.Context, string, string, string) (string, []*net.SRV, error) {
	r.t.Error("SRV lookup for an IP address")
	return "", nil, errors.New("no DNS")
}

func (r noDNS) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	r.t.Error("A/AAAA lookup for an IP address")
	return nil, errors.New("no DNS")
}

func TestResolve(t *testing.T) {
	dns := newDNSServer(t)
	dns.addA("srs1.test", "192.0.2.11")
	dns.addA("srs2.test", "192.0.2.12", "2001:db8::12")
	dns.addA("plain.test", "192.0.2.20")
	// RFC 3263 §4.1 / RFC 2782: UDP and TCP records, lower priority first.
	dns.addSRV("_sip._udp.both.test", net.SRV{Target: "srs2.test.", Port: 5070, Priority: 20, Weight: 10}, net.SRV{Target: "srs1.test.", Port: 5060, Priority: 10, Weight: 10})
	dns.addSRV("_sip._tcp.both.test", net.SRV{Target: "srs1.test.", Port: 5080, Priority: 10, Weight: 10})
	dns.addA("both.test", "192.0.2.99")
	dns.addSRV("_sip._tcp.tcponly.test", net.SRV{Target: "srs1.test.", Port: 5090, Priority: 1, Weight: 1})
	dns.addA("tcponly.test", "192.0.2.98")
	dns.addSRV("_sips._tcp.secure.test", net.SRV{Target: "srs2.test.", Port: 5061, Priority: 1, Weight: 1})
	dns.addA("secure.test", "192.0.2.97")
	r := dns.resolver()

	for _, tc := range []struct {
		uri     string
		want    []string
		queries []string // SRV and A queries expected, in order (AAAA left out: the resolver sends it in parallel)
	}{
		{"sip:both.test", []string{"udp:192.0.2.11:5060", "udp:192.0.2.12:5070", "udp:[2001:db8::12]:5070"},
			[]string{"SRV _sip._udp.both.test.", "A srs1.test.", "A srs2.test."}},
		{"sip:both.test;transport=tcp", []string{"tcp:192.0.2.11:5080"}, []string{"SRV _sip._tcp.both.test.", "A srs1.test."}},
		{"sip:tcponly.test", []string{"tcp:192.0.2.11:5090"}, []string{"SRV _sip._udp.tcponly.test.", "SRV _sip._tcp.tcponly.test.", "A srs1.test."}},
		{"sips:secure.test", []string{"tls:192.0.2.12:5061", "tls:[2001:db8::12]:5061"}, []string{"SRV _sips._tcp.secure.test.", "A srs2.test."}},
		{"sip:plain.test", []string{"udp:192.0.2.20:5060"}, []string{"SRV _sip._udp.plain.test.", "SRV _sip._tcp.plain.test.", "A plain.test."}},
		{"sips:plain.test", []string{"tls:192.0.2.20:5061"}, []string{"SRV _sips._tcp.plain.test.", "A plain.test."}},
		{"sip:both.test:5099;transport=tcp", []string{"tcp:192.0.2.99:5099"}, []string{"A both.test."}}, // a port: no SRV (§4.2)
	} {
		t.Run(tc.uri, func(t *testing.T) {
			before := len(dns.log())
			got, err := Resolve(t.Context(), r, mustParseURI(tc.uri))
			if err != nil {
				t.Fatal(err)
			}
			var gotS []string
			for _, g := range got {
				gotS = append(gotS, g.String())
			}
			if !slices.Equal(gotS, tc.want) {
				t.Errorf("targets %v, want %v", gotS, tc.want)
			}
			var qs []string
			for _, q := range dns.log()[before:] {
				if !strings.HasPrefix(q, "AAAA") && !slices.Contains(qs, q) {
					qs = append(qs, q)
				}
			}
			if !slices.Equal(qs, tc.queries) {
				t.Errorf("queries %v, want %v", qs, tc.queries)
			}
		})
	}

	t.Run("unknown host", func(t *testing.T) {
		_, err := Resolve(t.Context(), r, mustParseURI("sip:nowhere.test"))
		var de *net.DNSError
		if !errors.Is(err, ErrResolve) || !errors.As(err, &de) || !de.IsNotFound || !strings.Contains(err.Error(), "nowhere.test") {
			t.Errorf("Resolve(nowhere.test) = %v, want ErrResolve naming the host, wrapping a not-found DNSError", err)
		}
	})

	t.Run("IP address", func(t *testing.T) {
		for uri, want := range map[string]string{
			"sip:192.0.2.1":                    "udp:192.0.2.1:5060",
			"sip:192.0.2.1:5080;transport=tcp": "tcp:192.0.2.1:5080",
			"sips:[2001:db8::1]":               "tls:[2001:db8::1]:5061",
		} {
			got, err := Resolve(t.Context(), noDNS{t}, mustParseURI(uri))
			if err != nil || len(got) != 1 || got[0].String() != want {
				t.Errorf("Resolve(%s) = %v, %v, want %s", uri, got, err, want)
			}
		}
	})

	t.Run("zero URI", func(t *testing.T) {
		if _, err := Resolve(t.Context(), noDNS{t}, URI{}); !errors.Is(err, ErrInvalidURI) {
			t.Errorf("Resolve(URI{}) = %v", err)
		}
	})
}

// The Manager reaches a recorder by name: SRV _sip._tcp points at sipp.
func TestClientResolvesRecorderByName(t *testing.T) {
	dns := newDNSServer(t)
	c, _ := newTestClient(t, ClientConfig{Resolver: dns.resolver()})
	s1, s2 := newSink(t), newSink(t)
	srv := startSRS(t, "srs_uas.xml", map[string]string{"srs_p1": itoa(s1.port()), "srs_p2": itoa(s2.port())})
	dns.addSRV("_sip._tcp.recorder.test", net.SRV{Target: "sipp.recorder.test.", Port: uint16(srv.p.LocalPort()), Priority: 1, Weight: 1})
	dns.addA("sipp.recorder.test", "127.0.0.1")
	dns.addA("recorder.test", "192.0.2.1") // not used: SRV comes first
	m := newTestManager(t, c, ManagerConfig{})
	res, err := m.Start(t.Context(), StartRequest{Recorders: mustParseURIList("sip:recorder.test;transport=tcp")})
	if err != nil {
		t.Fatal(err)
	}
	if want := "tcp:127.0.0.1:" + itoa(srv.p.LocalPort()); res[0].Target.String() != want {
		t.Errorf("target %v, want %s", res[0].Target, want)
	}
	if _, err := m.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv.wait(t)
	if msgs := srv.messages(); !strings.Contains(msgs, "INVITE sip:recorder.test;transport=tcp SIP/2.0") {
		t.Errorf("the Request-URI is not the recorder's URI:\n%s", tail(msgs, 3000))
	}
}

// hostsOnly resolves the names it holds, like a hosts file (or
// siprec-client's -resolve), and nothing else: no SRV, no DNS.
type hostsOnly map[string]netip.Addr

func (h hostsOnly) LookupSRV(_ context.Context, _, _, name string) (string, []*net.SRV, error) {
	return "", nil, &net.DNSError{Err: "no SRV record", Name: name, IsNotFound: true}
}

func (h hostsOnly) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := h[host]; ok {
		return []netip.Addr{a}, nil
	}
	return nil, &net.DNSError{Err: "not in hostsOnly", Name: host, IsNotFound: true}
}

// A recorder that answers with its own name in Contact (as a multi-tenant
// one does, by the Request-URI's realm) gets its in-dialog requests where
// the INVITE went, though only Config.Resolver knows the name: the BYE of
// Stop reaches it.
func TestClientInDialogToRecorderNamedInContact(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "srs_uas.xml"))
	if err != nil {
		t.Fatal(err)
	}
	scenario := filepath.Join(t.TempDir(), "srs_uas_named.xml")
	named := strings.ReplaceAll(string(b), "Contact: <sip:srs@[local_ip]:[local_port];", "Contact: <sip:srs@recorder.test:[local_port];")
	if named == string(b) {
		t.Fatal("srs_uas.xml has no Contact to rename")
	}
	if err := os.WriteFile(scenario, []byte(named), 0o644); err != nil {
		t.Fatal(err)
	}
	c, _ := newTestClient(t, ClientConfig{Resolver: hostsOnly{"recorder.test": netip.MustParseAddr("127.0.0.1")}})
	s1, s2 := newSink(t), newSink(t)
	srv := startSRS(t, scenario, map[string]string{"srs_p1": itoa(s1.port()), "srs_p2": itoa(s2.port())})
	m := newTestManager(t, c, ManagerConfig{})
	uri := fmt.Sprintf("sip:recorder.test:%d;transport=tcp", srv.p.LocalPort())
	if _, err := m.Start(t.Context(), StartRequest{Recorders: mustParseURIList(uri)}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Stop(t.Context()); err != nil {
		t.Fatalf("Stop (the BYE to the Contact recorder.test): %v", err)
	}
	srv.wait(t)
	if msgs := srv.messages(); !strings.Contains(msgs, "BYE sip:srs@recorder.test:") {
		t.Errorf("no BYE to the Contact reached the recorder:\n%s", tail(msgs, 3000))
	}
}
