package sip

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	sipgosip "github.com/emiago/sipgo/sip"
)

// TestGuardQuietInitialInvites: with QuietInitialInvites the Guard's line
// about a refused initial INVITE is at Debug (its OnDecision owner logs the
// refusal); a refused REGISTER, and every refusal without the option, stay
// at Info.
func TestGuardQuietInitialInvites(t *testing.T) {
	list, err := ParseAllowlist("10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	tenants := Tenants{"127.0.0.1": {ID: "acme", Realm: "example.test", Allowlist: list, Credentials: Users{"alice": testPassword}}}
	request := func(m sipgosip.RequestMethod) *sipgosip.Request {
		req := sipgosip.NewRequest(m, sipgosip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: 5060})
		req.SetSource("127.0.0.1:5070")
		via := &sipgosip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "TCP", Host: "127.0.0.1", Port: 5070}
		via.Params.Add("branch", "z9hG4bK1")
		req.AppendHeader(via)
		from := &sipgosip.FromHeader{Address: sipgosip.Uri{Scheme: "sip", User: "alice", Host: "example.test"}}
		from.Params.Add("tag", "1")
		req.AppendHeader(from)
		req.AppendHeader(&sipgosip.ToHeader{Address: sipgosip.Uri{Scheme: "sip", User: "bob", Host: "example.test"}})
		cid := sipgosip.CallIDHeader("quiet-test")
		req.AppendHeader(&cid)
		req.AppendHeader(&sipgosip.CSeqHeader{SeqNo: 1, MethodName: m})
		return req
	}
	for _, tc := range []struct {
		name      string
		quiet     bool
		method    sipgosip.RequestMethod
		wantLevel string
	}{
		{"initial INVITE, quiet", true, sipgosip.INVITE, "DEBUG"},
		{"initial INVITE", false, sipgosip.INVITE, "INFO"},
		{"REGISTER, quiet", true, sipgosip.REGISTER, "INFO"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			g, err := NewGuard(GuardConfig{Tenants: tenants, Logger: log, QuietInitialInvites: tc.quiet})
			if err != nil {
				t.Fatal(err)
			}
			_, res, err := g.Check(context.Background(), request(tc.method))
			if res == nil || res.StatusCode != 403 || err == nil {
				t.Fatalf("Check = %v, %v; want a 403 refusal", res, err)
			}
			var line string
			for _, l := range strings.Split(buf.String(), "\n") {
				if strings.Contains(l, "refused: source not on the tenant's allowlist") {
					line = l
				}
			}
			if !strings.Contains(line, "level="+tc.wantLevel+" ") {
				t.Fatalf("refusal logged as %q, want level %s\nlog:\n%s", line, tc.wantLevel, buf.String())
			}
		})
	}
}
