package sip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"
)

// tenantsFor serves realm 127.0.0.1 (the Request-URI host the tests use)
// as tenant "acme" with digest realm example.test and user alice.
func tenantsFor(t *testing.T, allow string) Tenants {
	t.Helper()
	list, err := ParseAllowlist(allow)
	if err != nil {
		t.Fatal(err)
	}
	return Tenants{"127.0.0.1": {ID: "acme", Realm: "example.test", Allowlist: list, Credentials: Users{"alice": testPassword}}}
}

var transports = []string{"UDP", "TCP"}

// TestGuardWithSipgoClient drives the Guard with sipgo's client over UDP and TCP.
func TestGuardWithSipgoClient(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			t.Run("REGISTER challenged then accepted", func(t *testing.T) {
				// the whole offer: see TestGuardAmplification for UDP's bound
				s := startServer(t, GuardConfig{Tenants: tenantsFor(t, ""), MaxAmplification: -1})
				c := newClient(t, s, tr)
				req := c.request(sipgosip.REGISTER, "", "127.0.0.1")
				res := c.do(req)
				if res.StatusCode != 401 || res.Reason != "Unauthorized" {
					t.Fatalf("first REGISTER: %d %s, want 401", res.StatusCode, res.Reason)
				}
				chs := challenges(t, res)
				if len(chs) != 3 || chs[0].Algorithm != "SHA-512-256" || chs[1].Algorithm != "SHA-256" || chs[2].Algorithm != "MD5" {
					t.Fatalf("challenges not strongest first: %v", chs)
				}
				for _, ch := range chs {
					if ch.Realm != "example.test" || ch.Stale || len(ch.QOP) != 1 || ch.QOP[0] != "auth" || ch.Nonce != chs[0].Nonce {
						t.Fatalf("challenge %v", ch)
					}
				}
				if res.GetHeader("Proxy-Authenticate") != nil {
					t.Fatal("REGISTER got a Proxy-Authenticate")
				}
				res = c.auth(req, res, "alice", testPassword)
				if res.StatusCode != 200 {
					t.Fatalf("REGISTER with credentials: %d %s", res.StatusCode, res.Reason)
				}
				got := s.seen()
				if len(got) != 1 || !got[0].ok || got[0].method != sipgosip.REGISTER {
					t.Fatalf("handler saw %+v", got)
				}
				id := got[0].id
				if id.User != "alice" || id.Tenant != "acme" || id.Realm != "example.test" || id.PassedBy != PassedDigest ||
					id.Algorithm != SHA512256 || id.Source.Addr() != netip.MustParseAddr("127.0.0.1") || id.Source.Port() == 0 {
					t.Fatalf("identity %+v", id)
				}
				s.checkLogsClean(t, sentResponse(req))
			})

			t.Run("INVITE challenged with 407 then accepted", func(t *testing.T) {
				s := startServer(t, GuardConfig{Tenants: tenantsFor(t, ""), MaxAmplification: -1})
				c := newClient(t, s, tr)
				req := c.request(sipgosip.INVITE, "bob", "127.0.0.1")
				res := c.do(req)
				if res.StatusCode != 407 || res.Reason != "Proxy Authentication Required" || len(challenges(t, res)) != 3 || res.GetHeader("WWW-Authenticate") != nil {
					t.Fatalf("first INVITE: %s", res.StartLine())
				}
				res = c.auth(req, res, "alice", testPassword)
				if res.StatusCode != 200 {
					t.Fatalf("INVITE with credentials: %s", res.StartLine())
				}
				if err := c.c.WriteRequest(inDialogRequest(c, req, res, sipgosip.ACK)); err != nil {
					t.Fatal(err)
				}
				waitFor(t, func() bool { return len(s.seen()) >= 2 })
				invites := 0
				for _, x := range s.seen() {
					switch {
					case x.method == sipgosip.INVITE && x.id.User == "alice" && x.id.PassedBy == PassedDigest:
						invites++
					case x.method == sipgosip.ACK && x.id.PassedBy == PassedUnchallengeable && x.id.Tenant == "acme":
					default:
						t.Fatalf("handler saw %+v", x)
					}
				}
				if invites != 1 {
					t.Fatalf("handler saw %d authenticated INVITEs", invites)
				}
				// in-dialog BYE without credentials: challenged by default
				bye := inDialogRequest(c, req, res, sipgosip.BYE)
				if res := c.do(bye); res.StatusCode != 407 {
					t.Fatalf("in-dialog BYE without credentials: %s, want 407", res.StartLine())
				}
				s.checkLogsClean(t, sentResponse(req))
			})

			t.Run("wrong password and unknown user get identical answers", func(t *testing.T) {
				s := startServer(t, GuardConfig{Tenants: tenantsFor(t, "")})
				c := newClient(t, s, tr)
				var answers []*sipgosip.Response
				var sent []string
				for _, cred := range [][2]string{{"alice", "guess"}, {"mallory", testPassword}} {
					req := c.request(sipgosip.REGISTER, "", "127.0.0.1")
					res := c.auth(req, c.do(req), cred[0], cred[1])
					answers = append(answers, res)
					sent = append(sent, sentResponse(req))
				}
				a, b := shape(t, answers[0]), shape(t, answers[1])
				if a != b {
					t.Fatalf("answers differ:\nwrong password: %s\nunknown user:   %s", a, b)
				}
				if answers[0].StatusCode != 401 {
					t.Fatalf("wrong password: %s", answers[0].StartLine())
				}
				if len(s.seen()) != 0 {
					t.Fatal("handler reached")
				}
				logs := s.logs.String()
				if strings.Count(logs, "authentication failed") != 2 {
					t.Fatalf("want two failure log lines:\n%s", logs)
				}
				s.checkLogsClean(t, sent...)
			})

			t.Run("replayed nonce count", func(t *testing.T) {
				s := startServer(t, GuardConfig{Tenants: tenantsFor(t, "")})
				c := newClient(t, s, tr)
				req := c.request(sipgosip.REGISTER, "", "127.0.0.1")
				if res := c.auth(req, c.do(req), "alice", testPassword); res.StatusCode != 200 {
					t.Fatalf("REGISTER: %s", res.StartLine())
				}
				res := c.resend(req) // same Authorization, nc=00000001 again
				if res.StatusCode != 401 || len(challenges(t, res)) != 3 {
					t.Fatalf("replay: %s, want a fresh 401 challenge", res.StartLine())
				}
				if len(s.seen()) != 1 {
					t.Fatalf("handler reached %d times", len(s.seen()))
				}
				if !strings.Contains(s.logs.String(), "nonce count replayed") {
					t.Fatalf("no replay log line:\n%s", s.logs.String())
				}
			})

			t.Run("expired nonce gets stale=true, then a fresh one passes", func(t *testing.T) {
				clock := newFakeClock()
				s := startServer(t, GuardConfig{Tenants: tenantsFor(t, ""), Now: clock.Now, Digest: DigestConfig{NonceLifetime: time.Minute}})
				c := newClient(t, s, tr)
				req := c.request(sipgosip.REGISTER, "", "127.0.0.1")
				res := c.do(req)
				clock.Advance(90 * time.Second)
				res = c.auth(req, res, "alice", testPassword)
				chs := challenges(t, res)
				if res.StatusCode != 401 || len(chs) != 3 || !chs[0].Stale {
					t.Fatalf("answer with an expired nonce: %s %v, want 401 stale=true", res.StartLine(), chs)
				}
				if res := c.auth(req, res, "alice", testPassword); res.StatusCode != 200 {
					t.Fatalf("answer to the stale challenge: %s", res.StartLine())
				}
				// wrong password with an expired nonce: no stale=true
				req = c.request(sipgosip.REGISTER, "", "127.0.0.1")
				res = c.do(req)
				clock.Advance(90 * time.Second)
				res = c.auth(req, res, "alice", "guess")
				if chs := challenges(t, res); res.StatusCode != 401 || chs[0].Stale {
					t.Fatalf("wrong password, expired nonce: %s %v", res.StartLine(), chs)
				}
			})

			t.Run("refused source gets 403, like an unknown realm", func(t *testing.T) {
				s := startServer(t, GuardConfig{Tenants: tenantsFor(t, "10.0.0.0/8, 2001:db8::/32")})
				c := newClient(t, s, tr)
				res := c.do(c.request(sipgosip.REGISTER, "", "127.0.0.1"))
				if res.StatusCode != 403 || res.GetHeader("WWW-Authenticate") != nil {
					t.Fatalf("refused source: %s", res.StartLine())
				}
				unknown := c.do(c.request(sipgosip.REGISTER, "", "unknown.test"))
				if shape(t, res) != shape(t, unknown) {
					t.Fatalf("refused source and unknown realm answer differently:\n%s\n%s", shape(t, res), shape(t, unknown))
				}
				if len(s.seen()) != 0 {
					t.Fatal("handler reached")
				}
				if !strings.Contains(s.logs.String(), "not on the tenant's allowlist") {
					t.Fatalf("no log line:\n%s", s.logs.String())
				}
			})

			t.Run("malformed Authorization headers", func(t *testing.T) {
				s := startServer(t, GuardConfig{Tenants: tenantsFor(t, "")})
				c := newClient(t, s, tr)
				nonce := challenges(t, c.do(c.request(sipgosip.REGISTER, "", "127.0.0.1")))[0].Nonce
				tests := []struct {
					header string
					want   int
				}{
					{`Digest username="alice`, 400},
					{`Digest username="alice", username="bob"`, 400},
					{`Digest realm="example.test", nc=1`, 400},
					{`Digest realm="example.test"`, 400},
					{`Digest username="alice", realm="example.test", nonce="` + nonce + `", uri="sip:127.0.0.1", qop=auth, response="00"`, 400},
					{`Digest username="alice", realm="example.test", nonce="` + nonce + `", uri="http://127.0.0.1/", response="00"`, 400},
					{`Digest username="alice", realm="example.test", nonce="` + nonce + `", uri="sip:evil.test", response="00"`, 400},
					{`Digest username="alice", realm="example.test", nonce="bogus", uri="sip:127.0.0.1", response="00"`, 401},
					{`Digest username="alice", realm="other.test", nonce="bogus", uri="sip:127.0.0.1", response="00"`, 401},
					{`Digest username="alice", realm="example.test", nonce="` + nonce + `", uri="sip:127.0.0.1", response="00", algorithm=SHA-1`, 401},
					{`Basic YWxpY2U6c2VjcmV0`, 401},
				}
				if tr == "TCP" { // too big for a UDP datagram
					tests = append(tests, struct {
						header string
						want   int
					}{`Digest ` + strings.Repeat("x", 9000), 400})
				}
				for _, tt := range tests {
					req := c.request(sipgosip.REGISTER, "", "127.0.0.1")
					req.AppendHeader(sipgosip.NewHeader("Authorization", tt.header))
					if res := c.do(req); res.StatusCode != tt.want {
						t.Errorf("Authorization: %.60s → %s, want %d", tt.header, res.StartLine(), tt.want)
					}
				}
				if len(s.seen()) != 0 {
					t.Fatal("handler reached")
				}
				if s.guard.Blocked(netip.MustParseAddr("127.0.0.1")) {
					t.Fatal("malformed requests counted as password guesses")
				}
			})

			t.Run("lockout after repeated failures", func(t *testing.T) {
				clock := newFakeClock()
				s := startServer(t, GuardConfig{Tenants: tenantsFor(t, ""), Now: clock.Now, Lockout: LockoutConfig{MaxFailures: 3, Block: 10 * time.Minute}})
				c := newClient(t, s, tr)
				for i := range 3 {
					req := c.request(sipgosip.REGISTER, "", "127.0.0.1")
					if res := c.auth(req, c.do(req), "alice", "guess"); res.StatusCode != 401 {
						t.Fatalf("guess %d: %s", i, res.StartLine())
					}
				}
				if !s.guard.Blocked(netip.MustParseAddr("127.0.0.1")) {
					t.Fatal("source not blocked after 3 failures")
				}
				res := c.do(c.request(sipgosip.REGISTER, "", "127.0.0.1"))
				if res.StatusCode != 403 {
					t.Fatalf("blocked source: %s, want 403", res.StartLine())
				}
				if !strings.Contains(s.logs.String(), "source blocked after repeated authentication failures") {
					t.Fatalf("no block log line:\n%s", s.logs.String())
				}
				clock.Advance(11 * time.Minute)
				req := c.request(sipgosip.REGISTER, "", "127.0.0.1")
				if res := c.auth(req, c.do(req), "alice", testPassword); res.StatusCode != 200 {
					t.Fatalf("after the block: %s", res.StartLine())
				}
			})

			t.Run("PassInDialog lets in-dialog requests through", func(t *testing.T) {
				s := startServer(t, GuardConfig{Tenants: tenantsFor(t, ""), PassInDialog: true})
				c := newClient(t, s, tr)
				req := c.request(sipgosip.INVITE, "bob", "127.0.0.1")
				res := c.auth(req, c.do(req), "alice", testPassword)
				if res.StatusCode != 200 {
					t.Fatalf("INVITE: %s", res.StartLine())
				}
				_ = c.c.WriteRequest(inDialogRequest(c, req, res, sipgosip.ACK))
				if res := c.do(inDialogRequest(c, req, res, sipgosip.BYE)); res.StatusCode != 200 {
					t.Fatalf("in-dialog BYE: %s", res.StartLine())
				}
				// a REGISTER with a To tag is still challenged
				reg := c.request(sipgosip.REGISTER, "", "127.0.0.1")
				reg.To().Params.Add("tag", "x")
				if res := c.do(reg); res.StatusCode != 401 {
					t.Fatalf("REGISTER with To tag: %s", res.StartLine())
				}
				// (sipgo may hand a late ACK of the 407 to the handler as well)
				var bye *seen
				for _, x := range s.seen() {
					if x.method == sipgosip.BYE {
						bye = &x
					}
				}
				if bye == nil || bye.id.PassedBy != PassedInDialog || bye.id.User != "" || bye.id.Tenant != "acme" {
					t.Fatalf("BYE identity %+v", bye)
				}
			})

			t.Run("CANCEL passes without a challenge", func(t *testing.T) {
				s := startServer(t, GuardConfig{Tenants: tenantsFor(t, "")})
				c := newClient(t, s, tr)
				if res := c.do(c.request(sipgosip.CANCEL, "bob", "127.0.0.1")); res.StatusCode != 200 {
					t.Fatalf("CANCEL: %s", res.StartLine())
				}
				if got := s.seen(); len(got) != 1 || got[0].id.PassedBy != PassedUnchallengeable {
					t.Fatalf("CANCEL: %+v", got)
				}
			})

			t.Run("allowlist-only methods and no-digest tenants", func(t *testing.T) {
				tenants := tenantsFor(t, "127.0.0.0/8")
				open := tenants["127.0.0.1"]
				open.ID, open.NoDigest = "open", true
				tenants["localhost"] = open
				s := startServer(t, GuardConfig{Tenants: tenants, AllowlistOnlyMethods: []sipgosip.RequestMethod{sipgosip.OPTIONS}})
				c := newClient(t, s, tr)
				if res := c.do(c.request(sipgosip.OPTIONS, "", "127.0.0.1")); res.StatusCode != 200 {
					t.Fatalf("OPTIONS: %s", res.StartLine())
				}
				if res := c.do(c.request(sipgosip.MESSAGE, "bob", "127.0.0.1")); res.StatusCode != 407 {
					t.Fatalf("MESSAGE: %s", res.StartLine())
				}
				if res := c.do(c.request(sipgosip.MESSAGE, "bob", "localhost")); res.StatusCode != 200 {
					t.Fatalf("MESSAGE to the no-digest tenant: %s", res.StartLine())
				}
				got := s.seen()
				if len(got) != 2 || got[0].id.PassedBy != PassedMethod || got[1].id.PassedBy != PassedNoDigest || got[1].id.Tenant != "open" {
					t.Fatalf("seen %+v", got)
				}
			})
		})
	}
}

func TestGuardTenantWithoutCredentialsAuthenticatesNobody(t *testing.T) {
	s := startServer(t, GuardConfig{Tenants: Tenants{"127.0.0.1": {ID: "empty"}}})
	c := newClient(t, s, "UDP")
	req := c.request(sipgosip.REGISTER, "", "127.0.0.1")
	res := c.do(req)
	if chs := challenges(t, res); res.StatusCode != 401 || chs[0].Realm != "127.0.0.1" {
		t.Fatalf("%s %v", res.StartLine(), chs)
	}
	if res := c.auth(req, res, "alice", testPassword); res.StatusCode != 401 {
		t.Fatalf("%s", res.StartLine())
	}
}

func TestGuardLookupFailure(t *testing.T) {
	s := startServer(t, GuardConfig{Tenants: TenantFunc(func(context.Context, string) (Tenant, error) {
		return Tenant{}, errors.New("store unreachable")
	})})
	c := newClient(t, s, "UDP")
	if res := c.do(c.request(sipgosip.REGISTER, "", "127.0.0.1")); res.StatusCode != 500 {
		t.Fatalf("%s", res.StartLine())
	}
}

func TestNewGuardNeedsTenants(t *testing.T) {
	if _, err := NewGuard(GuardConfig{}); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "Tenants") {
		t.Fatalf("NewGuard without Tenants = %v, want ErrInvalidConfig naming Tenants", err)
	}
	_, err := NewGuard(GuardConfig{Tenants: Tenants{}, Digest: DigestConfig{Algorithms: []Algorithm{MD5, MD5}}})
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("NewGuard with a bad DigestConfig = %v, want ErrInvalidConfig", err)
	}
}

func TestCheckDigestURI(t *testing.T) {
	req := sipgosip.NewRequest(sipgosip.INVITE, sipgosip.Uri{Scheme: "sip", User: "bob", Host: "Gw.Example.test", Port: 5060})
	for uri, ok := range map[string]bool{
		"sip:bob@gw.example.test":              true,
		"sip:gw.example.test:5070;transport=t": true,
		"SIPS:example.test":                    true, // the realm
		"sip:127.0.0.1:5060":                   false,
		"tel:+15550100":                        false,
		"sip:":                                 false,
		"/dir/index.html":                      false,
		"sip:bob@gw.example.test" + strings.Repeat("a", 2000): false,
	} {
		err := checkDigestURI(req, uri, "example.test")
		if (err == nil) != ok || (err != nil && !errors.Is(err, ErrDigestURI)) {
			t.Errorf("checkDigestURI(%.40q) = %v, want ok=%v", uri, err, ok)
		}
	}
}

// inDialogRequest builds a request inside the dialog INVITE req / 2xx res
// established.
func inDialogRequest(c *testClient, req *sipgosip.Request, res *sipgosip.Response, m sipgosip.RequestMethod) *sipgosip.Request {
	target := req.Recipient
	if ct := res.Contact(); ct != nil {
		target = ct.Address
	}
	r := sipgosip.NewRequest(m, target)
	r.SetTransport(c.tr)
	r.SetDestination(c.s.addr)
	from, to, callID := *req.From(), *res.To(), *req.CallID()
	r.AppendHeader(&from)
	r.AppendHeader(&to)
	r.AppendHeader(&callID)
	seq := req.CSeq().SeqNo + 1
	if m == sipgosip.ACK {
		seq-- // the ACK of a 2xx carries the INVITE's number
	}
	r.AppendHeader(&sipgosip.CSeqHeader{SeqNo: seq, MethodName: m})
	return r
}

var nonceParam = regexp.MustCompile(`nonce="[^"]*"`)

// shape is a response with what must differ removed: tags, nonces, the
// per-request headers.
func shape(t *testing.T, res *sipgosip.Response) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(res.StartLine())
	for _, h := range res.Headers() {
		b.WriteString("\n" + h.Name() + ": ")
		switch strings.ToLower(h.Name()) {
		case "www-authenticate", "proxy-authenticate":
			b.WriteString(nonceParam.ReplaceAllString(h.Value(), `nonce="…"`))
		case "via", "from", "to", "call-id", "cseq":
			// per request
		default:
			b.WriteString(h.Value())
		}
	}
	return b.String()
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestGuardSpoofedSourceIsNotLockedOut plays an attacker who takes a nonce
// at its own address and sends wrong answers under the (spoofed, over UDP)
// source of a PBX, to have the PBX blocked: each gets a fresh challenge, no
// failure is counted against the PBX, and the PBX still authenticates. The
// same wrong answers with a nonce sent to the PBX itself do block it (the
// lockout is on).
func TestGuardSpoofedSourceIsNotLockedOut(t *testing.T) {
	pbxList, err := ParseAllowlist("10.0.0.5")
	if err != nil {
		t.Fatal(err)
	}
	tenants := Tenants{
		"a.test": {ID: "a", Realm: "a.test", Allowlist: pbxList, Credentials: Users{"pbx": testPassword}},
		"b.test": {ID: "b", Realm: "b.test", Credentials: Users{"alice": testPassword}}, // open to every address
	}
	pbx, attacker := "10.0.0.5:5060", "192.0.2.66:5060"
	seq := uint32(0)
	request := func(realm, source, header string) *sipgosip.Request {
		seq++
		req := sipgosip.NewRequest(sipgosip.REGISTER, sipgosip.Uri{Scheme: "sip", Host: realm})
		req.SetSource(source)
		via := &sipgosip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: "192.0.2.1", Port: 5060}
		via.Params.Add("branch", fmt.Sprintf("z9hG4bK%d", seq))
		req.AppendHeader(via)
		from := &sipgosip.FromHeader{Address: sipgosip.Uri{Scheme: "sip", User: "x", Host: realm}}
		from.Params.Add("tag", "1")
		req.AppendHeader(from)
		req.AppendHeader(&sipgosip.ToHeader{Address: sipgosip.Uri{Scheme: "sip", User: "x", Host: realm}})
		cid := sipgosip.CallIDHeader("spoof")
		req.AppendHeader(&cid)
		req.AppendHeader(&sipgosip.CSeqHeader{SeqNo: seq, MethodName: sipgosip.REGISTER})
		req.AppendHeader(sipgosip.NewHeader("Max-Forwards", "70"))
		req.AppendHeader(&sipgosip.ContactHeader{Address: sipgosip.Uri{Scheme: "sip", User: "x", Host: "192.0.2.1", Port: 5060}})
		addUAHeaders(req)
		if header != "" {
			req.AppendHeader(sipgosip.NewHeader("Authorization", header))
		}
		return req
	}
	challenge := func(g *Guard, realm, source string) Challenge {
		t.Helper()
		_, res, err := g.Check(context.Background(), request(realm, source, ""))
		if !errors.Is(err, ErrNoCredentials) || res == nil || res.StatusCode != 401 {
			t.Fatalf("first REGISTER from %s: %v %v", source, res, err)
		}
		ch, err := ParseChallenge(res.GetHeader("WWW-Authenticate").Value())
		if err != nil {
			t.Fatal(err)
		}
		return ch
	}
	const maxFailures = 3
	newGuard := func() *Guard {
		g, err := NewGuard(GuardConfig{Tenants: tenants, Digest: DigestConfig{Algorithms: []Algorithm{MD5}}, Lockout: LockoutConfig{MaxFailures: maxFailures, Block: time.Hour}})
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	ctx := context.Background()

	t.Run("nonce taken at another address", func(t *testing.T) {
		g := newGuard()
		ch := challenge(g, "b.test", attacker)
		for i := range maxFailures + 2 {
			a := answer(t, ch, "REGISTER", "sip:b.test", "alice", "guess", i+1, true)
			_, res, err := g.Check(ctx, request("b.test", pbx, a.String()))
			if !errors.Is(err, ErrBadNonce) || res == nil || res.StatusCode != 401 || res.GetHeader("WWW-Authenticate") == nil {
				t.Fatalf("spoofed answer %d: %v, err %v; want a fresh 401 challenge and ErrBadNonce", i, res, err)
			}
			if fresh, _ := ParseChallenge(res.GetHeader("WWW-Authenticate").Value()); fresh.Nonce == ch.Nonce || fresh.Stale {
				t.Fatalf("spoofed answer %d: challenge %+v is not a fresh one", i, fresh)
			}
		}
		if g.Blocked(netip.MustParseAddr("10.0.0.5")) {
			t.Fatal("the PBX is blocked by answers sent under its address with a nonce it never got")
		}
		// even the right password does not pass with a nonce sent elsewhere
		a := answer(t, ch, "REGISTER", "sip:b.test", "alice", testPassword, 100, true)
		if _, _, err := g.Check(ctx, request("b.test", pbx, a.String())); !errors.Is(err, ErrBadNonce) {
			t.Fatalf("right password with another address's nonce: %v, want ErrBadNonce", err)
		}
		// the PBX itself goes through the RFC 3261 exchange as usual
		pch := challenge(g, "a.test", pbx)
		a = answer(t, pch, "REGISTER", "sip:a.test", "pbx", testPassword, 1, true)
		if id, _, err := g.Check(ctx, request("a.test", pbx, a.String())); err != nil || id.User != "pbx" || id.PassedBy != PassedDigest {
			t.Fatalf("PBX after the attack: %+v, %v", id, err)
		}
	})

	t.Run("nonce sent to the source itself", func(t *testing.T) {
		g := newGuard()
		ch := challenge(g, "b.test", pbx)
		for i := range maxFailures {
			a := answer(t, ch, "REGISTER", "sip:b.test", "alice", "guess", i+1, true)
			if _, _, err := g.Check(ctx, request("b.test", pbx, a.String())); !errors.Is(err, ErrBadCredentials) {
				t.Fatalf("wrong answer %d: %v, want ErrBadCredentials", i, err)
			}
		}
		if !g.Blocked(netip.MustParseAddr("10.0.0.5")) {
			t.Fatal("not blocked after repeated failures with its own nonce")
		}
	})
}

// BenchmarkGuardCheck measures the Guard's per-request work outside the
// network: a REGISTER without credentials (challenge: 401 with three
// WWW-Authenticate headers) and a REGISTER with a right answer (allowlist,
// tenant lookup, header parse, digest verification, nonce count).
func BenchmarkGuardCheck(b *testing.B) {
	list, _ := ParseAllowlist("127.0.0.0/8, 10.0.0.0/8")
	tenants := Tenants{"127.0.0.1": {ID: "acme", Realm: "example.test", Allowlist: list, Credentials: Users{"alice": testPassword}}}
	newReq := func() *sipgosip.Request {
		req := sipgosip.NewRequest(sipgosip.REGISTER, sipgosip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: 5060})
		req.SetSource("127.0.0.1:5070")
		via := &sipgosip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: "127.0.0.1", Port: 5070}
		via.Params.Add("branch", "z9hG4bK1")
		req.AppendHeader(via)
		from := &sipgosip.FromHeader{Address: sipgosip.Uri{Scheme: "sip", User: "alice", Host: "example.test"}}
		from.Params.Add("tag", "1")
		req.AppendHeader(from)
		req.AppendHeader(&sipgosip.ToHeader{Address: sipgosip.Uri{Scheme: "sip", User: "alice", Host: "example.test"}})
		cid := sipgosip.CallIDHeader("bench")
		req.AppendHeader(&cid)
		req.AppendHeader(&sipgosip.CSeqHeader{SeqNo: 1, MethodName: sipgosip.REGISTER})
		// the rest of sipp's REGISTER (register_auth.xml), so that over UDP
		// the 401 fits GuardConfig.MaxAmplification
		req.AppendHeader(sipgosip.NewHeader("Max-Forwards", "70"))
		req.AppendHeader(&sipgosip.ContactHeader{Address: sipgosip.Uri{Scheme: "sip", User: "alice", Host: "127.0.0.1", Port: 5070}})
		req.AppendHeader(sipgosip.NewHeader("Expires", "3600"))
		req.AppendHeader(sipgosip.NewHeader("User-Agent", "SIPp register_auth"))
		return req
	}
	ctx := context.Background()
	b.Run("challenge", func(b *testing.B) {
		g, err := NewGuard(GuardConfig{Tenants: tenants})
		if err != nil {
			b.Fatal(err)
		}
		req := newReq()
		b.ReportAllocs()
		for b.Loop() {
			if _, res, _ := g.Check(ctx, req); res == nil || res.StatusCode != 401 {
				b.Fatal("no challenge")
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "challenges/s")
	})
	for _, alg := range []Algorithm{MD5, SHA256, SHA512256} {
		b.Run("verify/"+string(alg), func(b *testing.B) {
			g, err := NewGuard(GuardConfig{Tenants: tenants, Digest: DigestConfig{Algorithms: []Algorithm{alg}}})
			if err != nil {
				b.Fatal(err)
			}
			const n = 4096
			reqs := make([]*sipgosip.Request, n)
			var ch Challenge
			for i := range reqs {
				if i%1024 == 0 {
					ch = g.DigestServer().ChallengesFor("example.test", netip.MustParseAddr("127.0.0.1"), false)[0]
				}
				a := answer(b, ch, "REGISTER", "sip:127.0.0.1:5060", "alice", testPassword, i%1024+1, true)
				reqs[i] = newReq()
				reqs[i].AppendHeader(sipgosip.NewHeader("Authorization", a.String()))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i > 0 && i%n == 0 {
					b.StopTimer()
					g.digest.nc = ncTable{lifetime: g.digest.lifetime, max: 1 << 20}
					b.StartTimer()
				}
				if _, _, err := g.Check(ctx, reqs[i%n]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checks/s")
		})
	}
}

// TestGuardRetransmissionIsNotReplay: a handler that answers statelessly
// gets the retransmissions of a request it accepted (its client did not
// get the answer). The Guard passes them again, marked
// Identity.Retransmission, without counting a failure, for 32 s (64·T1);
// the same digest answer in another transaction, from another port, or
// later, is a replay: refused with a fresh challenge and counted. Over TCP
// (TestGuardRFC2069Replay) nothing is a retransmission.
func TestGuardRetransmissionIsNotReplay(t *testing.T) {
	clock := newFakeClock()
	tenants := Tenants{"b.test": {ID: "b", Realm: "b.test", Credentials: Users{"alice": testPassword}}}
	g, err := NewGuard(GuardConfig{Tenants: tenants, Digest: DigestConfig{Algorithms: []Algorithm{MD5}},
		Lockout: LockoutConfig{MaxFailures: 4, Block: time.Hour}, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	request := func(source, branch string, cseq uint32, header string) *sipgosip.Request {
		req := sipgosip.NewRequest(sipgosip.REGISTER, sipgosip.Uri{Scheme: "sip", Host: "b.test"})
		req.SetSource(source)
		via := &sipgosip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: "192.0.2.1", Port: 5060}
		via.Params.Add("branch", branch)
		req.AppendHeader(via)
		from := &sipgosip.FromHeader{Address: sipgosip.Uri{Scheme: "sip", User: "alice", Host: "b.test"}}
		from.Params.Add("tag", "1")
		req.AppendHeader(from)
		req.AppendHeader(&sipgosip.ToHeader{Address: sipgosip.Uri{Scheme: "sip", User: "alice", Host: "b.test"}})
		cid := sipgosip.CallIDHeader("retrans")
		req.AppendHeader(&cid)
		req.AppendHeader(&sipgosip.CSeqHeader{SeqNo: cseq, MethodName: sipgosip.REGISTER})
		req.AppendHeader(&sipgosip.ContactHeader{Address: sipgosip.Uri{Scheme: "sip", User: "alice", Host: "192.0.2.1", Port: 5060}})
		if header != "" {
			req.AppendHeader(sipgosip.NewHeader("Authorization", header))
		}
		return req
	}
	const src = "192.0.2.1:5060"
	_, res, err := g.Check(ctx, request(src, "z9hG4bK1", 1, ""))
	if !errors.Is(err, ErrNoCredentials) || res == nil {
		t.Fatalf("first REGISTER: %v", err)
	}
	ch, err := ParseChallenge(res.GetHeader("WWW-Authenticate").Value())
	if err != nil {
		t.Fatal(err)
	}
	auth := answer(t, ch, "REGISTER", "sip:b.test", "alice", testPassword, 1, true).String()

	id, _, err := g.Check(ctx, request(src, "z9hG4bK2", 2, auth))
	if err != nil || id.Retransmission || id.PassedBy != PassedDigest {
		t.Fatalf("the answer: %+v, %v; want a first acceptance", id, err)
	}
	// the client's retransmissions (Timer E: 0.5 s, 1 s, 2 s, 4 s, 4 s…),
	// more of them than the lockout allows failures
	for i, after := range []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second} {
		clock.Advance(after)
		id, res, err := g.Check(ctx, request(src, "z9hG4bK2", 2, auth))
		if err != nil || !id.Retransmission || id.User != "alice" || res != nil {
			t.Fatalf("retransmission %d: %+v, %v, %v; want it passed as a retransmission", i, id, res, err)
		}
	}
	src4 := netip.MustParseAddr("192.0.2.1")
	replays := []struct {
		name   string
		req    *sipgosip.Request
		before time.Duration
	}{
		{"another transaction", request(src, "z9hG4bK3", 2, auth), 0},
		{"another CSeq", request(src, "z9hG4bK2", 3, auth), 0},
		{"another port", request("192.0.2.1:5062", "z9hG4bK2", 2, auth), 0},
		{"after 64·T1", request(src, "z9hG4bK2", 2, auth), 25 * time.Second},
	}
	for i, r := range replays {
		clock.Advance(r.before)
		_, res, err := g.Check(ctx, r.req)
		if !errors.Is(err, ErrReplay) || res == nil || res.StatusCode != 401 {
			t.Fatalf("%s: %v, %v; want ErrReplay and a fresh challenge", r.name, res, err)
		}
		if blocked := g.Blocked(src4); blocked != (i >= 3) {
			t.Fatalf("after %d replays, blocked = %v; each replay counts a failure (4 block)", i+1, blocked)
		}
	}
}

// TestGuardLogsBounded: a flood of requests the Guard refuses (a source
// outside the tenant's allowlist, crafted Authorization headers) writes at
// most LogFilter.Burst lines of each kind per interval, the rest counted in
// the next line's "suppressed"; the crafted header's values never appear,
// and the Guard still answers every request.
func TestGuardLogsBounded(t *testing.T) {
	allow, err := ParseAllowlist("10.0.0.5")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	clock := newFakeClock()
	g, err := NewGuard(GuardConfig{
		Tenants:   Tenants{"a.test": {ID: "a", Realm: "a.test", Allowlist: allow, Credentials: Users{"pbx": testPassword}}},
		Logger:    slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})),
		LogFilter: LogFilterConfig{Burst: 5, Interval: time.Minute, Now: clock.Now},
	})
	if err != nil {
		t.Fatal(err)
	}
	const flood = 2000
	for i := range flood {
		req := sipgosip.NewRequest(sipgosip.REGISTER, sipgosip.Uri{Scheme: "sip", Host: "a.test"})
		req.SetSource(fmt.Sprintf("192.0.2.%d:5060", 1+i%200))
		via := &sipgosip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: "192.0.2.1", Port: 5060}
		via.Params.Add("branch", fmt.Sprintf("z9hG4bK%d", i))
		req.AppendHeader(via)
		from := &sipgosip.FromHeader{Address: sipgosip.Uri{Scheme: "sip", User: "x", Host: "a.test"}}
		from.Params.Add("tag", "1")
		req.AppendHeader(from)
		req.AppendHeader(&sipgosip.ToHeader{Address: sipgosip.Uri{Scheme: "sip", User: "x", Host: "a.test"}})
		cid := sipgosip.CallIDHeader(fmt.Sprintf("flood-%d", i))
		req.AppendHeader(&cid)
		req.AppendHeader(&sipgosip.CSeqHeader{SeqNo: 1, MethodName: sipgosip.REGISTER})
		req.AppendHeader(sipgosip.NewHeader("Authorization", `Digest username="pbx", realm="a.test", nonce="NONCE-FLOOD", uri="sip:a.test", response="0123456789abcdef0123456789abcdef"`))
		_, res, err := g.Check(context.Background(), req)
		if !errors.Is(err, ErrSourceRefused) || res == nil || res.StatusCode != 403 {
			t.Fatalf("request %d: %v, %v; want 403 and ErrSourceRefused", i, res, err)
		}
	}
	lines := strings.Count(buf.String(), "\n")
	if lines > 5 {
		t.Fatalf("%d log lines for %d refused requests, want at most the burst of 5:\n%s", lines, flood, buf.String())
	}
	clock.Advance(time.Minute)
	buf.Reset()
	req := sipgosip.NewRequest(sipgosip.REGISTER, sipgosip.Uri{Scheme: "sip", Host: "a.test"})
	req.SetSource("192.0.2.1:5060")
	via := &sipgosip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: "192.0.2.1", Port: 5060}
	via.Params.Add("branch", "z9hG4bKlast")
	req.AppendHeader(via)
	req.AppendHeader(&sipgosip.CSeqHeader{SeqNo: 1, MethodName: sipgosip.REGISTER})
	if _, _, err := g.Check(context.Background(), req); !errors.Is(err, ErrSourceRefused) {
		t.Fatalf("after the interval: %v, want ErrSourceRefused", err)
	}
	if want := fmt.Sprintf("suppressed=%d", flood-5); !strings.Contains(buf.String(), want) {
		t.Fatalf("after the interval: %q, want %s", buf.String(), want)
	}
	for _, s := range []string{"NONCE-FLOOD", "0123456789abcdef0123456789abcdef"} {
		if strings.Contains(buf.String(), s) {
			t.Fatalf("%q logged", s)
		}
	}
}

// TestGuardTenantBusy: a lookup that declines (ErrTenantBusy) gets 503
// Service Unavailable with Retry-After, the reason ReasonUnavailable, and
// counts no failure of the source, even over a connection and many times:
// a budget spent by someone else must not block a customer.
func TestGuardTenantBusy(t *testing.T) {
	var decided []Decision
	g, err := NewGuard(GuardConfig{
		Tenants: TenantFunc(func(_ context.Context, realm string) (Tenant, error) {
			return Tenant{}, fmt.Errorf("realm %q: %w", realm, ErrTenantBusy)
		}),
		Lockout:    LockoutConfig{MaxFailures: 2, Block: time.Hour},
		OnDecision: func(_ context.Context, _ *sipgosip.Request, d Decision) { decided = append(decided, d) },
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		req := sipgosip.NewRequest(sipgosip.OPTIONS, sipgosip.Uri{Scheme: "sip", Host: "new.test"})
		req.SetSource("192.0.2.7:5060")
		req.SetTransport("TCP")
		via := &sipgosip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "TCP", Host: "192.0.2.7", Port: 5060}
		via.Params.Add("branch", fmt.Sprintf("z9hG4bKbusy%d", i))
		req.AppendHeader(via)
		from := &sipgosip.FromHeader{Address: sipgosip.Uri{Scheme: "sip", User: "x", Host: "new.test"}}
		from.Params.Add("tag", "1")
		req.AppendHeader(from)
		req.AppendHeader(&sipgosip.ToHeader{Address: sipgosip.Uri{Scheme: "sip", Host: "new.test"}})
		cid := sipgosip.CallIDHeader(fmt.Sprintf("busy-%d", i))
		req.AppendHeader(&cid)
		req.AppendHeader(&sipgosip.CSeqHeader{SeqNo: 1, MethodName: sipgosip.OPTIONS})
		_, res, err := g.Check(context.Background(), req)
		if !errors.Is(err, ErrTenantBusy) || res == nil || res.StatusCode != sipgosip.StatusServiceUnavailable {
			t.Fatalf("request %d: %v, %v; want 503 and ErrTenantBusy", i, res, err)
		}
		if h := res.GetHeader("Retry-After"); h == nil || h.Value() != tenantBusyRetryAfter {
			t.Fatalf("request %d: Retry-After %v, want %s", i, h, tenantBusyRetryAfter)
		}
	}
	if g.Blocked(netip.MustParseAddr("192.0.2.7")) {
		t.Fatal("the source is blocked: a declined lookup counted as its failure")
	}
	if len(decided) != 5 || decided[0].Reason != ReasonUnavailable || decided[0].Code != sipgosip.StatusServiceUnavailable {
		t.Fatalf("decisions %+v; want 5 with ReasonUnavailable and 503", decided)
	}
}
