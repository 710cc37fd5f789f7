package siprec

import (
	"errors"
	"strings"
	"testing"
)

// uriSeeds are the examples of seed 003 (supported and refused), URIs from
// RFC 3261 §19.1.3, and the shapes the parser has special cases for.
var uriSeeds = []string{
	"sip:siprec.example.com",
	"sip:siprec.example.com:5060",
	"sip:3.208.57.175",
	"sips:siprec.example.com",
	"sip:srs1.example.com,sip:srs2.example.com",
	"wss://siprec.example.com", "ws://siprec.example.com", "https://siprec.example.com", "http://siprec.example.com",
	"siprec.example.com", "10.0.0.5",
	"sip:alice@atlanta.com",
	"sip:alice:secretword@atlanta.com;transport=tcp",
	"sips:alice@atlanta.com?subject=project%20x&priority=urgent",
	"sip:+1-212-555-1212:1234@gateway.com;user=phone",
	"sips:1212@gateway.com",
	"sip:alice@192.0.2.4",
	"sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com",
	"sip:alice;day=tuesday@atlanta.com",
	"sip:[2001:db8::10]:5060;transport=tcp, sips:[::1]",
	"sip:127.0.0.1:5060;transport=tcp",
	"SIP:SRS.EXAMPLE.COM.;LR;Transport=UDP",
	" sip:a.example.com ,  sip:b.example.com:5070 ",
	"sip:a,,sip:b", "sip:a,", ",",
}

// FuzzParseURIList checks that ParseURIList fails only with its documented
// errors, and that whatever it accepts round-trips: the canonical text
// parses back to the same URIs and gives the same text again, each URI
// parses alone to itself, and MarshalText/UnmarshalText agree.
func FuzzParseURIList(f *testing.F) {
	for _, s := range uriSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseURIList(s)
		if err != nil {
			var ue *URIError
			switch {
			case errors.Is(err, ErrNoRecorderURL):
				if strings.TrimSpace(s) != "" {
					t.Fatalf("ErrNoRecorderURL for non-empty %q", s)
				}
			case errors.As(err, &ue) && errors.Is(err, ErrInvalidURI):
				if ue.Item < 1 || ue.Column < 1 || ue.Column > len(s)+1 {
					t.Fatalf("error position item %d column %d out of range for %q", ue.Item, ue.Column, s)
				}
			default:
				t.Fatalf("ParseURIList(%q) = %v: not a documented error", s, err)
			}
			return
		}
		if len(l) == 0 {
			t.Fatalf("ParseURIList(%q) accepted an empty list", s)
		}
		text := l.String()
		again, err := ParseURIList(text)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", text, s, err)
		}
		if len(again) != len(l) {
			t.Fatalf("round trip of %q: %d URIs, want %d", s, len(again), len(l))
		}
		for i := range l {
			if again[i] != l[i] {
				t.Fatalf("round trip of %q: URI %d is %#v, want %#v", s, i, again[i], l[i])
			}
			one, err := ParseURI(l[i].String())
			if err != nil || one != l[i] {
				t.Fatalf("ParseURI(%q) = %#v, %v", l[i].String(), one, err)
			}
			var u URI
			b, _ := l[i].MarshalText()
			if err := u.UnmarshalText(b); err != nil || u != l[i] {
				t.Fatalf("text round trip of %q: %#v, %v", b, u, err)
			}
			if !u.IsValid() || (u.Scheme() != "sip" && u.Scheme() != "sips") {
				t.Fatalf("accepted URI %q has scheme %q", u, u.Scheme())
			}
		}
		if again.String() != text {
			t.Fatalf("canonical form is not stable: %q then %q", text, again.String())
		}
	})
}
