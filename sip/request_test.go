package sip

import (
	"net"
	"net/netip"
	"strconv"
	"testing"

	sipgosip "github.com/emiago/sipgo/sip"
)

// requestWithVia parses an OPTIONS with the given Via value: a request
// whose source was not set by a transport.
func requestWithVia(t testing.TB, via string) *sipgosip.Request {
	t.Helper()
	raw := "OPTIONS sip:srs@192.0.2.1 SIP/2.0\r\nVia: " + via + "\r\nFrom: <sip:src@example.test>;tag=1\r\n" +
		"To: <sip:srs@192.0.2.1>\r\nCall-ID: src-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
	m, err := sipgosip.ParseMessage([]byte(raw))
	if err != nil {
		t.Fatalf("%q: %v", via, err)
	}
	return m.(*sipgosip.Request)
}

func TestSourceOf(t *testing.T) {
	t.Run("transport", func(t *testing.T) {
		// What sipgo's transports record: net.Addr.String() of the peer.
		cases := []struct {
			src  string
			want string // "" for invalid
		}{
			{"203.0.113.7:5060", "203.0.113.7:5060"},
			{"[2001:db8::7]:5062", "[2001:db8::7]:5062"},
			{"[::ffff:203.0.113.7]:5060", "203.0.113.7:5060"}, // a dual-stack socket's IPv4 peer
			{"[fe80::1%eth0]:5060", "[fe80::1%eth0]:5060"},
			{"203.0.113.7:0", "203.0.113.7:0"},
			// Not addresses a transport writes: invalid, never a guess.
			{"2001:db8::7:5062", ""}, // sipgo's Via-derived form of an IPv6 host
			{"pbx.example.test:5060", ""},
			{"203.0.113.7:99999", ""}, // not clamped to 65535
			{"203.0.113.7:", ""},      // not port 0
			{"203.0.113.7:+5060", ""},
			{"[203.0.113.7]:5060", ""},
			{"203.0.113.7", ""},
		}
		for _, c := range cases {
			req := requestWithVia(t, "SIP/2.0/UDP 198.51.100.1:5070;branch=z9hG4bK1")
			req.SetSource(c.src)
			got := SourceOf(req)
			if c.want == "" {
				if got.IsValid() {
					t.Errorf("%q: %v, want invalid", c.src, got)
				}
				continue
			}
			if got.String() != c.want {
				t.Errorf("%q: %v, want %s", c.src, got, c.want)
			}
		}
	})
	t.Run("via", func(t *testing.T) {
		// A request parsed locally (no transport source): the top Via.
		cases := []struct {
			via  string
			want string
		}{
			{"SIP/2.0/UDP 198.51.100.1:5070;branch=z9hG4bK1", "198.51.100.1:5070"},
			{"SIP/2.0/UDP [2001:db8::1]:5070;branch=z9hG4bK1", "[2001:db8::1]:5070"},
			{"SIP/2.0/UDP [2001:db8::1];branch=z9hG4bK1", "[2001:db8::1]:5060"},
			{"SIP/2.0/TLS 198.51.100.1;branch=z9hG4bK1", "198.51.100.1:5061"},
			{"SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;received=198.51.100.9;rport=7000", "198.51.100.9:7000"},
			{"SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK1;received=2001:db8::9;rport=7000", "[2001:db8::9]:7000"},
			{"SIP/2.0/UDP 198.51.100.1:5070;branch=z9hG4bK1;rport", "198.51.100.1:5070"},
			{"SIP/2.0/TCP pbx.example.test;branch=z9hG4bK1", ""},
			{"SIP/2.0/UDP 198.51.100.1;branch=z9hG4bK1;rport=70000", ""},
		}
		for _, c := range cases {
			got := SourceOf(requestWithVia(t, c.via))
			if c.want == "" {
				if got.IsValid() {
					t.Errorf("%q: %v, want invalid", c.via, got)
				}
				continue
			}
			if got.String() != c.want {
				t.Errorf("%q: %v, want %s", c.via, got, c.want)
			}
		}
	})
	if SourceOf(nil).IsValid() || SourceOf(&sipgosip.Request{}).IsValid() {
		t.Error("a request without source or Via has a valid source")
	}
}

// FuzzSourceOf: whatever a transport recorded, SourceOf is what
// netip.ParseAddrPort reads (unmapped) or invalid; what it returns, written
// back as a transport would write it or as a request's Via, reads back the
// same.
func FuzzSourceOf(f *testing.F) {
	for _, s := range []string{"203.0.113.7:5060", "[2001:db8::7]:5062", "[::ffff:203.0.113.7]:5060",
		"[fe80::1%eth0]:5060", "2001:db8::7:5062", "pbx.example.test:5060", "203.0.113.7:99999", "[203.0.113.7]:5060"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		if src == "" {
			return // no transport source: the Via is read (TestSourceOf)
		}
		req := requestWithVia(t, "SIP/2.0/UDP 198.51.100.1:5070;branch=z9hG4bK1")
		req.SetSource(src)
		got := SourceOf(req)
		want, err := netip.ParseAddrPort(src)
		if err != nil {
			if got.IsValid() {
				t.Fatalf("%q: %v from a source that does not parse", src, got)
			}
			return
		}
		want = netip.AddrPortFrom(want.Addr().Unmap(), want.Port())
		if got != want {
			t.Fatalf("%q: %v, want %v", src, got, want)
		}
		// Round trip through what a transport writes.
		req.SetSource(net.JoinHostPort(got.Addr().String(), strconv.Itoa(int(got.Port()))))
		if again := SourceOf(req); again != got {
			t.Fatalf("%q: %v, then %v from its own string", src, got, again)
		}
		// Round trip through a Via (zones cannot be written in one).
		if got.Addr().Zone() != "" {
			return
		}
		host := got.Addr().String()
		if got.Addr().Is6() {
			host = "[" + host + "]"
		}
		v := requestWithVia(t, "SIP/2.0/UDP "+host+":"+strconv.Itoa(int(got.Port()))+";branch=z9hG4bK1;rport="+strconv.Itoa(int(got.Port())))
		if again := SourceOf(v); again != got {
			t.Fatalf("%q: %v, then %v from a Via", src, got, again)
		}
	})
}
