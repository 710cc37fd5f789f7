package siprec

import (
	"encoding/json"
	"errors"
	"flag"
	"net/netip"
	"strings"
	"testing"
)

func TestParseURI(t *testing.T) {
	for _, tc := range []struct {
		in, canon          string
		scheme, user, host string
		port               uint16
		transport          string
		ip                 bool
	}{
		// The supported formats of seed 003.
		{in: "sip:siprec.example.com", canon: "sip:siprec.example.com", scheme: "sip", host: "siprec.example.com"},
		{in: "sip:siprec.example.com:5060", canon: "sip:siprec.example.com:5060", scheme: "sip", host: "siprec.example.com", port: 5060},
		{in: "sip:3.208.57.175", canon: "sip:3.208.57.175", scheme: "sip", host: "3.208.57.175", ip: true},
		{in: "sips:siprec.example.com", canon: "sips:siprec.example.com", scheme: "sips", host: "siprec.example.com"},
		// Parameters, user parts, IPv6, case.
		{in: "sip:127.0.0.1:5060;transport=tcp", canon: "sip:127.0.0.1:5060;transport=tcp", scheme: "sip", host: "127.0.0.1", port: 5060, transport: "tcp", ip: true},
		{in: "SIP:SRS.Example.COM;Transport=TCP", canon: "sip:srs.example.com;transport=tcp", scheme: "sip", host: "srs.example.com", transport: "tcp"},
		{in: "sip:recorder@srs.example.com:5080;transport=udp;lr", canon: "sip:recorder@srs.example.com:5080;transport=udp;lr", scheme: "sip", user: "recorder", host: "srs.example.com", port: 5080, transport: "udp"},
		{in: "sip:[2001:db8::10]:5060", canon: "sip:[2001:db8::10]:5060", scheme: "sip", host: "2001:db8::10", port: 5060, ip: true},
		{in: "sips:[2001:DB8::10];transport=tls", canon: "sips:[2001:db8::10];transport=tls", scheme: "sips", host: "2001:db8::10", transport: "tls", ip: true},
		{in: "sip:alice;day=tuesday@chicago.com", canon: "sip:alice;day=tuesday@chicago.com", scheme: "sip", user: "alice;day=tuesday", host: "chicago.com"}, // RFC 3261 §19.1.3
		{in: "sip:srs.example.com.:05060", canon: "sip:srs.example.com.:5060", scheme: "sip", host: "srs.example.com.", port: 5060},
		{in: "  sip:localhost  ", canon: "sip:localhost", scheme: "sip", host: "localhost"},
		{in: "sip:%61lice@atlanta.com;maddr=239.255.255.1;ttl=15", canon: "sip:%61lice@atlanta.com;maddr=239.255.255.1;ttl=15", scheme: "sip", user: "%61lice", host: "atlanta.com"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			u, err := ParseURI(tc.in)
			if err != nil {
				t.Fatalf("ParseURI(%q): %v", tc.in, err)
			}
			if got := u.String(); got != tc.canon {
				t.Errorf("String() = %q, want %q", got, tc.canon)
			}
			if u.Scheme() != tc.scheme || u.User() != tc.user || u.Host() != tc.host || u.Port() != tc.port || u.Transport() != tc.transport {
				t.Errorf("parts = %q %q %q %d %q", u.Scheme(), u.User(), u.Host(), u.Port(), u.Transport())
			}
			if _, ok := u.Addr(); ok != tc.ip {
				t.Errorf("Addr() ok = %v, want %v", ok, tc.ip)
			}
			if u.IsSecure() != (tc.scheme == "sips") || !u.IsValid() {
				t.Errorf("IsSecure() = %v, IsValid() = %v", u.IsSecure(), u.IsValid())
			}
			again, err := ParseURI(u.String())
			if err != nil || again != u {
				t.Errorf("the canonical form does not parse back: %v, %v", again, err)
			}
		})
	}
}

func TestParseURIRefused(t *testing.T) {
	for _, tc := range []struct {
		in   string
		why  string // in the error
		item int
		col  int
	}{
		// The unsupported formats of seed 003.
		{"wss://siprec.example.com", "WebSocket URLs (wss://) are not supported", 1, 1},
		{"ws://siprec.example.com:8080/rec", "WebSocket URLs (ws://)", 1, 1},
		{"https://siprec.example.com", "HTTP URLs (https://) are not supported", 1, 1},
		{"http://10.0.0.5", "HTTP URLs (http://)", 1, 1},
		{"siprec.example.com", "a bare host name is not a SIP URI: the sip: or sips: scheme is missing (write sip:siprec.example.com)", 1, 1},
		{"10.0.0.5", "a bare IP address is not a SIP URI", 1, 1},
		{"siprec.example.com:5060", "a bare host name", 1, 1},
		{"localhost:5060", "a bare host name", 1, 1},
		{"[2001:db8::1]:5060", "a bare IP address", 1, 1},
		// Other mistakes.
		{"sip://srs.example.com", `a sip: URI has no "//" after the scheme`, 1, 5},
		{"tel:+15551234567", "a tel: URI names a phone number", 1, 1},
		{"mailto:srs@example.com", `the scheme "mailto" is not supported`, 1, 1},
		{"sip:", "the host is missing", 1, 5},
		{"sip:srs.example.com:", "the port after ':' is empty", 1, 20},
		{"sip:srs.example.com:0", `the port "0" is not a number from 1 to 65535`, 1, 21},
		{"sip:srs.example.com:70000", "not a number from 1 to 65535", 1, 21},
		{"sip:srs.example.com:50a0", "not a number", 1, 21},
		{"sip:10.0.0.999", `"10.0.0.999" is not a valid IPv4 address`, 1, 5},
		{"sip:srs_1.example.com", `is not a valid host name: '_' is not allowed`, 1, 5},
		{"sip:-srs.example.com", "a label starts or ends with '-'", 1, 5},
		{"sip:srs..example.com", "it has an empty label", 1, 5},
		{"sip:[2001:db8::1", "has no closing ']'", 1, 5},
		{"sip:[10.0.0.1]", "is not an IPv6 address", 1, 5},
		{"sip:user:pw@srs.example.com", "a password in the URI", 1, 9},
		{"sip:@srs.example.com", "the user part before '@' is empty", 1, 5},
		{"sip:srs.example.com?subject=x", "URI headers", 1, 20},
		{"sip:srs.example.com;transport=ws", "transport=ws (WebSocket) is not supported", 1, 21},
		{"sip:srs.example.com;transport=sctp", `transport="sctp" is not supported`, 1, 21},
		{"sips:srs.example.com;transport=udp", "a sips: URI needs TLS", 1, 22},
		{"sip:srs.example.com;transport=tcp;transport=udp", `"transport" is given twice`, 1, 35},
		{"sip:srs.example.com;", "a URI parameter has no name", 1, 21},
		{"sip:srs.example.com;lr=", `"lr" has an empty value`, 1, 21},
		{"sip:srs.example.com;x=a b", "has a character not allowed", 1, 21},
	} {
		t.Run(tc.in, func(t *testing.T) {
			_, err := ParseURI(tc.in)
			var ue *URIError
			if !errors.Is(err, ErrInvalidURI) || !errors.As(err, &ue) {
				t.Fatalf("ParseURI(%q) = %v, want a *URIError matching ErrInvalidURI", tc.in, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.why) {
				t.Errorf("error %q does not say %q", msg, tc.why)
			}
			// Every error names the input and says what is accepted.
			if !strings.Contains(msg, `"`+maskPassword(strings.TrimSpace(tc.in))+`"`) || !strings.Contains(msg, "use sip:host[:port][;params] or sips:host") {
				t.Errorf("error %q does not name the input and the accepted forms", msg)
			}
			if ue.Item != tc.item || ue.Column != tc.col {
				t.Errorf("item %d column %d, want item %d column %d", ue.Item, ue.Column, tc.item, tc.col)
			}
		})
	}
}

// A refused URI with a password is quoted with the password masked, in the
// error's Input and text, with the column still pointing at the ':' before
// the mask.
func TestURIErrorMasksPassword(t *testing.T) {
	for _, tc := range []struct {
		in        string
		input     string // the error's Input
		item, col int
	}{
		{"sip:src:hunter2@srs.example.com", "sip:src:***@srs.example.com", 1, 8},
		{"  SIPS:src:hunter2@srs.example.com;transport=tcp", "SIPS:src:***@srs.example.com;transport=tcp", 1, 11},
		{"sip:src:hunter2@srs.example.com?subject=x", "sip:src:***@srs.example.com?subject=x", 1, 8},
		{"sip:src:hunter2@srs_bad.example.com", "sip:src:***@srs_bad.example.com", 1, 8},
		{"sip:srs1.example.com, sip:src:hunter2@srs2.example.com", "sip:src:***@srs2.example.com", 2, 30},
		{"src:hunter2@srs.example.com", "src:***@srs.example.com", 1, 1},
		{"https://src:hunter2@srs.example.com", "https://src:***@srs.example.com", 1, 1},
		{"wss://src:hunter2@srs.example.com", "wss://src:***@srs.example.com", 1, 1},
		{"sip:src:hunter2@srs.example.com,sip:other@srs.example.com", "sip:src:***@srs.example.com", 1, 8},
		// RFC 3261 allows ',' in a password: the list syntax splits it,
		// and neither piece may show.
		{"sip:src:hun,ter2@srs.example.com", "sip:src:***@srs.example.com", 1, 8},
		{"sip:src:5060,hunter2@srs.example.com", "sip:src:***@srs.example.com", 2, 8},
	} {
		t.Run(tc.in, func(t *testing.T) {
			_, err := ParseURIList(tc.in)
			var ue *URIError
			if !errors.As(err, &ue) {
				t.Fatalf("ParseURIList(%q) = %v, want a *URIError", tc.in, err)
			}
			for _, secret := range []string{"hunter2", "hun", "ter2"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error shows the password (%q): %v", secret, err)
				}
			}
			if ue.Input != tc.input || ue.Item != tc.item || ue.Column != tc.col {
				t.Errorf("Input %q item %d column %d, want %q item %d column %d", ue.Input, ue.Item, ue.Column, tc.input, tc.item, tc.col)
			}
			if !strings.Contains(err.Error(), `"`+tc.input+`"`) {
				t.Errorf("the error %q does not quote the masked input", err)
			}
			// The column points at the same character of the input as
			// given and of the masked Input.
			mask := strings.Index(ue.Input, "***")
			inputAt := strings.Index(tc.in, ue.Input[:mask]) // where Input starts in tc.in
			if i := ue.Column - 1 - inputAt; inputAt < 0 || i < 0 || i >= mask || ue.Input[i] != tc.in[ue.Column-1] {
				t.Errorf("column %d is not the same character in the input %q and in Input %q", ue.Column, tc.in, ue.Input)
			}
			if strings.Contains(tc.in, "@") && strings.HasPrefix(tc.in, "sip") {
				if _, err := ParseURI(tc.in); err != nil && strings.Contains(err.Error(), "hunter2") {
					t.Errorf("ParseURI's error shows the password: %v", err)
				}
			}
		})
	}
	for in, want := range map[string]string{
		"sip:a.example.com,sip:src:hunter2@b.example.com": "sip:a.example.com,sip:***@b.example.com",
		"sip:src:hunter2@a.example.com,sip:b.example.com": "sip:src:***@a.example.com,sip:b.example.com",
		"sip:src@a.example.com:5060;transport=tcp":        "sip:src@a.example.com:5060;transport=tcp",
	} {
		if got := maskPassword(in); got != want {
			t.Errorf("maskPassword(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseURIList(t *testing.T) {
	l, err := ParseURIList("sip:srs1.example.com, sip:srs2.example.com:5070;transport=tcp ,sips:10.1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	want := "sip:srs1.example.com,sip:srs2.example.com:5070;transport=tcp,sips:10.1.2.3"
	if len(l) != 3 || l.String() != want {
		t.Fatalf("list = %q (%d), want %q", l.String(), len(l), want)
	}

	for _, tc := range []struct {
		in        string
		item, col int
		why       string
	}{
		{"sip:srs1.example.com,wss://srs2.example.com", 2, 22, "WebSocket"},
		{"sip:srs1.example.com,,sip:srs2.example.com", 2, 22, "empty item"},
		{"sip:srs1.example.com,", 2, 22, "empty item"},
		{",sip:srs1.example.com", 1, 1, "empty item"},
		{"sip:a.example.com, sip:b.example.com,  srs.example.com", 3, 40, "bare host name"},
		{"sip:srs.example.com,SIP:SRS.example.com", 2, 21, "listed twice"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			_, err := ParseURIList(tc.in)
			var ue *URIError
			if !errors.As(err, &ue) || !errors.Is(err, ErrInvalidURI) {
				t.Fatalf("ParseURIList(%q) = %v, want a *URIError", tc.in, err)
			}
			if ue.Item != tc.item || ue.Column != tc.col || !strings.Contains(err.Error(), tc.why) {
				t.Errorf("error %v: item %d column %d, want item %d column %d saying %q", err, ue.Item, ue.Column, tc.item, tc.col, tc.why)
			}
		})
	}

	for _, empty := range []string{"", "   "} {
		if _, err := ParseURIList(empty); !errors.Is(err, ErrNoRecorderURL) {
			t.Errorf("ParseURIList(%q) = %v, want ErrNoRecorderURL", empty, err)
		}
		if _, err := ParseURI(empty); !errors.Is(err, ErrNoRecorderURL) {
			t.Errorf("ParseURI(%q) = %v, want ErrNoRecorderURL", empty, err)
		}
	}
}

func TestURIText(t *testing.T) {
	var zero URI
	if zero.IsValid() || zero.String() != "" || zero.Scheme() != "" {
		t.Errorf("zero URI: valid %v, %q", zero.IsValid(), zero.String())
	}
	if b, _ := zero.MarshalText(); len(b) != 0 {
		t.Errorf("zero URI marshals to %q", b)
	}

	type config struct {
		SRS  URI     `json:"srs"`
		List URIList `json:"list"`
	}
	in := config{SRS: mustParseURI("sip:srs.example.com;transport=tcp"), List: mustParseURIList("sip:a.example.com,sips:b.example.com")}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"srs":"sip:srs.example.com;transport=tcp","list":"sip:a.example.com,sips:b.example.com"}` {
		t.Errorf("JSON = %s", b)
	}
	var out config
	if err := json.Unmarshal(b, &out); err != nil || out.SRS != in.SRS || out.List.String() != in.List.String() {
		t.Errorf("JSON round trip = %+v, %v", out, err)
	}
	if err := json.Unmarshal([]byte(`{"srs":"wss://x.example.com"}`), &out); !errors.Is(err, ErrInvalidURI) {
		t.Errorf("unmarshalling a WebSocket URL: %v, want ErrInvalidURI", err)
	}

	// A URIList is a flag.
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var l URIList
	fs.TextVar(&l, "srs", URIList(nil), "recording servers")
	if err := fs.Parse([]string{"-srs", "sip:127.0.0.1:5060;transport=tcp,sip:127.0.0.1:5062"}); err != nil || len(l) != 2 {
		t.Errorf("flag: %v, %v", l, err)
	}
	fs.SetOutput(new(strings.Builder))
	if err := fs.Parse([]string{"-srs", "https://srs.example.com"}); err == nil || !strings.Contains(err.Error(), "HTTP URLs (https://) are not supported") {
		t.Errorf("flag with an HTTP URL: %v", err)
	}

	u := mustParseURI("sip:srs.example.com;transport=TCP;lr;maddr=10.0.0.1")
	if v, ok := u.Param("LR"); !ok || v != "" {
		t.Errorf("Param(LR) = %q, %v", v, ok)
	}
	if v, ok := u.Param("maddr"); !ok || v != "10.0.0.1" {
		t.Errorf("Param(maddr) = %q, %v", v, ok)
	}
	if _, ok := u.Param("ttl"); ok {
		t.Error("Param(ttl) present")
	}
	if a, ok := mustParseURI("sip:[::ffff:10.0.0.1]").Addr(); !ok || a != netip.MustParseAddr("::ffff:10.0.0.1") {
		t.Errorf("Addr of a mapped address = %v", a)
	}
}

// mustParseURI is ParseURI for tests: it panics on error.
func mustParseURI(s string) URI {
	u, err := ParseURI(s)
	if err != nil {
		panic(err)
	}
	return u
}

// mustParseURIList is ParseURIList for tests: it panics on error.
func mustParseURIList(s string) URIList {
	l, err := ParseURIList(s)
	if err != nil {
		panic(err)
	}
	return l
}
