package sip

import (
	"net/netip"
	"strings"
	"testing"

	sipgosip "github.com/emiago/sipgo/sip"
)

func TestTooLargeReply(t *testing.T) {
	p := sipgosip.NewParser()
	src := netip.MustParseAddrPort("192.0.2.7:5070")
	invite := sipMessage("INVITE", "big-1", strings.Repeat("m", 5000), "Max-Forwards: 70")
	tests := []struct {
		name string
		head string
		want bool
	}{
		{"whole request", invite, true},
		{"cut in the body", invite[:1000], true},
		{"cut in a header line", invite[:strings.Index(invite, "Call-ID")+14] + "\r\nCSeq: 1 INVITE\r\nSubj", true},
		{"ACK", sipMessage("ACK", "a", ""), false},
		{"a response", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP x;branch=z9hG4bK1\r\nCSeq: 1 INVITE\r\n\r\n", false},
		{"no CSeq", "INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP x;branch=z9hG4bK1\r\n\r\n", false},
		{"garbage", "\x00\x01 junk", false},
		{"no line end", "INVITE sip:x SIP/2.0", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tooLargeReply(p, []byte(tt.head), src, "UDP")
			if (res != nil) != tt.want {
				t.Fatalf("reply %q", res)
			}
			if res == nil {
				return
			}
			m, err := sipgosip.ParseMessage(res)
			if err != nil {
				t.Fatal(err)
			}
			r := m.(*sipgosip.Response)
			if r.StatusCode != 513 || r.CallID().Value() != "big-1" || r.CSeq().MethodName != sipgosip.INVITE || r.Via() == nil {
				t.Fatalf("reply %q", res)
			}
			if tag, _ := r.To().Params.Get("tag"); tag == "" {
				t.Fatal("no To tag")
			}
		})
	}
}

// FuzzTooLargeReply: for any bytes, a reply is either nil or a 513 that
// sipgo parses, carrying the Call-ID, CSeq and top Via branch that sipgo
// reads from the same header lines (the round trip through sipgo).
func FuzzTooLargeReply(f *testing.F) {
	f.Add([]byte(sipMessage("INVITE", "f1", "body")))
	f.Add([]byte(sipMessage("REGISTER", "f2", "")[:60]))
	f.Add([]byte("MESSAGE sip:a SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bKq\r\ni: x\r\nCSeq: 9 MESSAGE\r\n"))
	p := sipgosip.NewParser()
	src := netip.MustParseAddrPort("192.0.2.7:5070")
	f.Fuzz(func(t *testing.T, head []byte) {
		res := tooLargeReply(p, head, src, "UDP")
		if res == nil {
			return
		}
		m, err := sipgosip.ParseMessage(res)
		if err != nil {
			t.Fatalf("reply does not parse: %v\n%q", err, res)
		}
		r, ok := m.(*sipgosip.Response)
		if !ok || r.StatusCode != 513 {
			t.Fatalf("reply %q", res)
		}
		// what sipgo reads in the request's header lines
		end := strings.LastIndex(string(head), "\r\n")
		if i := strings.Index(string(head), "\r\n\r\n"); i >= 0 {
			end = i
		}
		reqMsg, _, err := p.ParseHeaders([]byte(string(head[:end+2])+"\r\n"), false)
		if err != nil {
			t.Fatalf("reply to a request sipgo cannot read: %v", err)
		}
		req := reqMsg.(*sipgosip.Request)
		if req.CSeq().SeqNo != r.CSeq().SeqNo || req.CSeq().MethodName != r.CSeq().MethodName {
			t.Fatalf("CSeq %v, reply %v", req.CSeq(), r.CSeq())
		}
		if (req.CallID() == nil) != (r.CallID() == nil) || (req.CallID() != nil && req.CallID().Value() != r.CallID().Value()) {
			t.Fatalf("Call-ID %v, reply %v", req.CallID(), r.CallID())
		}
		rb, _ := req.Via().Params.Get("branch")
		sb, _ := r.Via().Params.Get("branch")
		if rb != sb {
			t.Fatalf("branch %q, reply %q", rb, sb)
		}
	})
}
