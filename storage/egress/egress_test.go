package egress_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/voicegw/voicegw/storage/egress"
)

func TestCheck(t *testing.T) {
	strict := &egress.Policy{RefusePrivate: true}
	allowLo := &egress.Policy{}
	if err := allowLo.AddAllow("127.0.0.0/8", "::1", "[::1]:9000", "10.1.2.3:443"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		policy *egress.Policy
		addr   string
		want   string // "" permitted, else the Range named
	}{
		{&egress.Policy{}, "127.0.0.1:80", "loopback"},
		{&egress.Policy{}, "127.255.0.9:80", "loopback"},
		{&egress.Policy{}, "[::1]:80", "loopback"},
		{&egress.Policy{}, "[::ffff:127.0.0.1]:80", "loopback"},
		{&egress.Policy{}, "[64:ff9b::7f00:1]:80", "loopback"},
		{&egress.Policy{}, "169.254.169.254:80", "link-local"},
		{&egress.Policy{}, "[::ffff:169.254.169.254]:80", "link-local"},
		{&egress.Policy{}, "[fe80::1%eth0]:80", "link-local"},
		{&egress.Policy{}, "[fd00:ec2::254]:80", "cloud metadata"}, // AWS, over IPv6
		{&egress.Policy{}, "100.100.100.200:80", "cloud metadata"}, // Alibaba Cloud
		{&egress.Policy{}, "[fd00::1]:80", ""},                     // unique local: private, permitted by default
		{&egress.Policy{}, "0.0.0.0:80", "unspecified"},
		{&egress.Policy{}, "0.1.2.3:80", "unspecified"},
		{&egress.Policy{}, "[::]:80", "unspecified"},
		{&egress.Policy{}, "[::127.0.0.1]:80", "reserved"},
		{&egress.Policy{}, "224.0.0.1:80", "multicast"},
		{&egress.Policy{}, "239.255.255.250:1900", "multicast"},
		{&egress.Policy{}, "[ff02::1]:80", "multicast"},
		{&egress.Policy{}, "255.255.255.255:80", "broadcast"},
		{&egress.Policy{}, "10.0.0.1:80", ""},
		{&egress.Policy{}, "93.184.216.34:443", ""},
		{&egress.Policy{}, "[2606:2800:220:1::1]:443", ""},
		{strict, "10.0.0.1:80", "private"},
		{strict, "172.20.1.1:80", "private"},
		{strict, "192.168.1.1:80", "private"},
		{strict, "100.64.0.1:80", "private"},
		{strict, "[fd00::1]:80", "private"},
		{strict, "[::ffff:10.0.0.1]:80", "private"},
		{strict, "93.184.216.34:443", ""},
		{allowLo, "127.0.0.1:80", ""},
		{allowLo, "[::ffff:127.0.0.1]:80", ""},
		{allowLo, "[::1]:80", ""},
		{allowLo, "169.254.169.254:80", "link-local"},
		{&egress.Policy{AllowAddrPorts: []netip.AddrPort{netip.MustParseAddrPort("[::1]:9000")}}, "[::1]:9000", ""},
		{&egress.Policy{AllowAddrPorts: []netip.AddrPort{netip.MustParseAddrPort("[::1]:9000")}}, "[::1]:9001", "loopback"},
		{&egress.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("::ffff:127.0.0.0/104")}}, "127.0.0.1:80", ""},
		{nil, "127.0.0.1:80", ""},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			err := tc.policy.Check(netip.MustParseAddrPort(tc.addr))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			var re *egress.RefusedError
			if !errors.Is(err, egress.ErrRefused) || !errors.As(err, &re) || re.Range != tc.want {
				t.Fatalf("Check = %v, want a refusal for %s", err, tc.want)
			}
			if !strings.Contains(err.Error(), re.Addr.Addr().String()) {
				t.Fatalf("error %q does not name the address", err)
			}
		})
	}
}

func TestAddAllowBad(t *testing.T) {
	for _, e := range []string{"", "localhost", "10.0.0.0/33", "127.0.0.1:http", "1.2.3"} {
		var p egress.Policy
		err := p.AddAllow(e)
		if !errors.Is(err, egress.ErrBadAllow) || !strings.Contains(err.Error(), e) {
			t.Errorf("AddAllow(%q) = %v, want ErrBadAllow naming it", e, err)
		}
	}
}

// server counts the connections it accepts.
func server(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("secret metadata"))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			n.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &n
}

// TestClientRefusesAtConnect proves the check runs on the resolved address
// at connect time: a URL with the literal address and one with a host
// name that resolves to it ("localhost") are both refused, nothing reaches
// the server, and an allowlisted policy does reach it.
func TestClientRefusesAtConnect(t *testing.T) {
	srv, conns := server(t)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	for _, u := range []string{srv.URL, "http://localhost:" + strconv.Itoa(port) + "/"} {
		res, err := (&egress.Policy{}).Client(0).Get(u)
		if err == nil {
			res.Body.Close()
			t.Fatalf("GET %s: reached the server", u)
		}
		if !errors.Is(err, egress.ErrRefused) {
			t.Fatalf("GET %s = %v, want ErrRefused", u, err)
		}
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("%d connections reached the server", n)
	}
	var ok egress.Policy
	if err := ok.AddAllow("127.0.0.0/8", "::1/128"); err != nil {
		t.Fatal(err)
	}
	res, err := ok.Client(0).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if conns.Load() != 1 {
		t.Fatalf("allowlisted: %d connections, want 1", conns.Load())
	}
}

// TestRedirectRefused: a permitted server that redirects to a refused one
// does not get the client there.
func TestRedirectRefused(t *testing.T) {
	target, conns := server(t)
	port := target.Listener.Addr().(*net.TCPAddr).Port
	front := httptest.NewServer(http.RedirectHandler("http://127.0.0.1:"+strconv.Itoa(port)+"/", http.StatusFound))
	defer front.Close()
	p := &egress.Policy{AllowAddrPorts: []netip.AddrPort{netip.MustParseAddrPort(front.Listener.Addr().String())}}
	_, err := p.Client(0).Get(front.URL)
	if !errors.Is(err, egress.ErrRefused) {
		t.Fatalf("GET = %v, want ErrRefused", err)
	}
	if conns.Load() != 0 {
		t.Fatal("the redirect reached the refused server")
	}
}

// TestDialerChainsBaseControl: the base dialer's ControlContext still runs
// on permitted addresses, and not on refused ones.
func TestDialerChainsBaseControl(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var calls atomic.Int64
	base := &net.Dialer{ControlContext: func(context.Context, string, string, syscall.RawConn) error { calls.Add(1); return nil }}
	refusing := (&egress.Policy{}).Dialer(base)
	if _, err := refusing.Dial("tcp", l.Addr().String()); !errors.Is(err, egress.ErrRefused) {
		t.Fatalf("Dial = %v, want ErrRefused", err)
	}
	if calls.Load() != 0 {
		t.Fatal("base control ran on a refused address")
	}
	allowing := (&egress.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}).Dialer(base)
	c, err := allowing.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if calls.Load() != 1 {
		t.Fatalf("base control ran %d times, want 1", calls.Load())
	}
}
