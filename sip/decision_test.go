package sip

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"

	sipgosip "github.com/emiago/sipgo/sip"
)

// decisions records what OnDecision saw.
type decisions struct {
	mu  sync.Mutex
	all []Decision
}

func (d *decisions) record(_ context.Context, _ *sipgosip.Request, x Decision) {
	d.mu.Lock()
	d.all = append(d.all, x)
	d.mu.Unlock()
}

func (d *decisions) last(t *testing.T) Decision {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.all) == 0 {
		t.Fatal("OnDecision not called")
	}
	return d.all[len(d.all)-1]
}

func (d *decisions) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.all)
}

// testRequest builds a request as sipgo's parser would hand it over: from
// source, to the Request-URI host, with a To tag when toTag is set.
func testRequest(method sipgosip.RequestMethod, host, source, toTag string) *sipgosip.Request {
	req := sipgosip.NewRequest(method, sipgosip.Uri{Scheme: "sip", User: "srs", Host: host})
	req.SetSource(source)
	req.SetTransport("TCP")
	via := &sipgosip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "TCP", Host: "192.0.2.1", Port: 5060}
	via.Params.Add("branch", sipgosip.GenerateBranch())
	req.AppendHeader(via)
	from := &sipgosip.FromHeader{Address: sipgosip.Uri{Scheme: "sip", User: "src", Host: "example.test"}}
	from.Params.Add("tag", "f1")
	req.AppendHeader(from)
	to := &sipgosip.ToHeader{Address: sipgosip.Uri{Scheme: "sip", User: "srs", Host: host}}
	if toTag != "" {
		to.Params.Add("tag", toTag)
	}
	req.AppendHeader(to)
	cid := sipgosip.CallIDHeader("call-1")
	req.AppendHeader(&cid)
	req.AppendHeader(&sipgosip.CSeqHeader{SeqNo: 2, MethodName: method})
	return req
}

// addAnswer adds a digest answer of user to a challenge of g for req.
func addAnswer(t *testing.T, g *Guard, req *sipgosip.Request, realm, user, pass string) {
	t.Helper()
	ch := g.DigestServer().ChallengesFor(realm, SourceOf(req).Addr(), false)[0]
	a := answer(t, ch, string(req.Method), "sip:srs@"+req.Recipient.Host, user, pass, 1, true)
	name := "Proxy-Authorization"
	if req.Method == sipgosip.REGISTER {
		name = "Authorization"
	}
	req.AppendHeader(sipgosip.NewHeader(name, a.String()))
}

// TestGuardDialogs checks the in-dialog rule of GuardConfig.Dialogs: the
// dialog's tenant, not the Request-URI's, decides; an authenticated
// dialog reached from another address needs its own user's credentials.
func TestGuardDialogs(t *testing.T) {
	acmeList, _ := ParseAllowlist("192.0.2.0/24")
	otherList, _ := ParseAllowlist("198.51.100.0/24, 192.0.2.0/24")
	tenants := Tenants{
		"acme.test":  {ID: "acme", Realm: "acme.test", Allowlist: acmeList, Credentials: Users{"alice": testPassword, "bob": "bob-pw"}},
		"other.test": {ID: "other", Realm: "other.test", Allowlist: otherList, Credentials: Users{"mallory": "m-pw"}},
	}
	dialogs := map[string]Identity{
		// digest-authenticated dialog of acme, INVITE from 192.0.2.10
		"auth": {User: "alice", Tenant: "acme", Realm: "acme.test", Source: netip.MustParseAddrPort("192.0.2.10:5060"), Algorithm: SHA512256, PassedBy: PassedDigest},
		// acme dialog that passed on the allowlist alone
		"open": {Tenant: "acme", Realm: "acme.test", Source: netip.MustParseAddrPort("192.0.2.10:5060"), PassedBy: PassedNoDigest},
		// a dialog of a tenant deleted since (no "gone.test" in tenants)
		"gone": {User: "carol", Tenant: "gone", Realm: "gone.test", Source: netip.MustParseAddrPort("192.0.2.10:5060"), Algorithm: SHA512256, PassedBy: PassedDigest},
	}
	var rec decisions
	g, err := NewGuard(GuardConfig{
		Tenants: tenants,
		Dialogs: DialogOwnerFunc(func(req *sipgosip.Request) (Identity, bool) {
			tag, _ := req.To().Params.Get("tag")
			id, ok := dialogs[tag]
			return id, ok
		}),
		OnDecision: rec.record,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	tests := []struct {
		name   string
		req    func() *sipgosip.Request
		code   int // 0: passed (or an ACK dropped, see err)
		err    error
		reason string
		want   Identity // when passed
	}{
		{
			name: "same source, Request-URI of another tenant: the dialog's tenant decides",
			req:  func() *sipgosip.Request { return testRequest(sipgosip.BYE, "other.test", "192.0.2.10:5070", "auth") },
			want: Identity{User: "alice", Tenant: "acme", Realm: "acme.test", Source: netip.MustParseAddrPort("192.0.2.10:5070"), Algorithm: SHA512256, PassedBy: PassedInDialog},
		},
		{
			name: "source on the Request-URI tenant's allowlist only",
			req: func() *sipgosip.Request {
				return testRequest(sipgosip.INVITE, "other.test", "198.51.100.7:5060", "open")
			},
			code: 403, err: ErrSourceRefused, reason: ReasonSourceNotAllowed,
		},
		{
			name: "unauthenticated dialog from another address on the allowlist",
			req:  func() *sipgosip.Request { return testRequest(sipgosip.BYE, "acme.test", "192.0.2.99:5060", "open") },
			want: Identity{Tenant: "acme", Realm: "acme.test", Source: netip.MustParseAddrPort("192.0.2.99:5060"), PassedBy: PassedInDialog},
		},
		{
			name: "authenticated dialog, another address, no credentials",
			req:  func() *sipgosip.Request { return testRequest(sipgosip.BYE, "acme.test", "192.0.2.99:5060", "auth") },
			code: 407, err: ErrNoCredentials, reason: ReasonCredentialsRequired,
		},
		{
			name: "authenticated dialog, another address, the dialog's user",
			req: func() *sipgosip.Request {
				r := testRequest(sipgosip.BYE, "acme.test", "192.0.2.99:5060", "auth")
				addAnswer(t, g, r, "acme.test", "alice", testPassword)
				return r
			},
			want: Identity{User: "alice", Tenant: "acme", Realm: "acme.test", Source: netip.MustParseAddrPort("192.0.2.99:5060"), Algorithm: SHA512256, PassedBy: PassedInDialog},
		},
		{
			name: "authenticated dialog, another address, another user of the tenant",
			req: func() *sipgosip.Request {
				r := testRequest(sipgosip.INVITE, "acme.test", "192.0.2.99:5060", "auth")
				addAnswer(t, g, r, "acme.test", "bob", "bob-pw")
				return r
			},
			code: 403, err: ErrDialogUser, reason: ReasonDialogUser,
		},
		{
			name: "authenticated dialog, another address, wrong password",
			req: func() *sipgosip.Request {
				r := testRequest(sipgosip.BYE, "acme.test", "192.0.2.99:5060", "auth")
				addAnswer(t, g, r, "acme.test", "alice", "guess")
				return r
			},
			code: 407, err: ErrBadCredentials, reason: ReasonBadCredentials,
		},
		{
			name: "another tenant's credentials do not help",
			req: func() *sipgosip.Request {
				r := testRequest(sipgosip.BYE, "other.test", "192.0.2.99:5060", "auth")
				addAnswer(t, g, r, "other.test", "mallory", "m-pw")
				return r
			},
			code: 407, err: ErrNoCredentials, reason: ReasonCredentialsRequired,
		},
		{
			name: "CANCEL from another address of an authenticated dialog",
			req:  func() *sipgosip.Request { return testRequest(sipgosip.CANCEL, "acme.test", "192.0.2.99:5060", "auth") },
			code: 403, err: ErrDialogSource, reason: ReasonDialogSource,
		},
		{
			name: "ACK from another address of an authenticated dialog: dropped",
			req:  func() *sipgosip.Request { return testRequest(sipgosip.ACK, "acme.test", "192.0.2.99:5060", "auth") },
			code: 0, err: ErrDialogSource, reason: ReasonDialogSource,
		},
		{
			name: "tenant gone: a BYE from the dialog's source ends it",
			req:  func() *sipgosip.Request { return testRequest(sipgosip.BYE, "gone.test", "192.0.2.10:5070", "gone") },
			want: Identity{User: "carol", Tenant: "gone", Realm: "gone.test", Source: netip.MustParseAddrPort("192.0.2.10:5070"), Algorithm: SHA512256, PassedBy: PassedInDialog},
		},
		{
			name: "tenant gone: a BYE from another address",
			req:  func() *sipgosip.Request { return testRequest(sipgosip.BYE, "gone.test", "192.0.2.99:5060", "gone") },
			code: 403, err: ErrUnknownTenant, reason: ReasonUnknownRealm,
		},
		{
			name: "tenant gone: a re-INVITE from the dialog's source",
			req:  func() *sipgosip.Request { return testRequest(sipgosip.INVITE, "gone.test", "192.0.2.10:5060", "gone") },
			code: 403, err: ErrUnknownTenant, reason: ReasonUnknownRealm,
		},
		{
			name: "unknown dialog passes to its owner, which answers 481",
			req:  func() *sipgosip.Request { return testRequest(sipgosip.BYE, "acme.test", "203.0.113.5:5060", "nope") },
			want: Identity{Source: netip.MustParseAddrPort("203.0.113.5:5060"), PassedBy: PassedInDialog},
		},
		{
			name: "REGISTER with a To tag is not in a dialog",
			req: func() *sipgosip.Request {
				return testRequest(sipgosip.REGISTER, "acme.test", "192.0.2.10:5060", "auth")
			},
			code: 401, err: ErrNoCredentials, reason: ReasonCredentialsRequired,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := rec.count()
			req := tt.req()
			id, res, err := g.Check(ctx, req)
			if rec.count() != n+1 {
				t.Fatalf("OnDecision called %d times", rec.count()-n)
			}
			d := rec.last(t)
			if tt.err == nil {
				if err != nil || res != nil {
					t.Fatalf("refused: %v %v", err, res)
				}
				if id != tt.want || d.Identity != tt.want {
					t.Fatalf("identity %+v (decision %+v), want %+v", id, d.Identity, tt.want)
				}
				if !d.Passed() || d.Code != 0 || d.Reason != "" || d.InitialInvite {
					t.Fatalf("decision %+v", d)
				}
				return
			}
			if !errors.Is(err, tt.err) || !errors.Is(d.Err, tt.err) || d.Passed() {
				t.Fatalf("err %v (decision %v), want %v", err, d.Err, tt.err)
			}
			code := 0
			if res != nil {
				code = res.StatusCode
			}
			if code != tt.code || d.Code != tt.code || d.Reason != tt.reason {
				t.Fatalf("answer %d, decision code %d reason %q; want %d %q", code, d.Code, d.Reason, tt.code, tt.reason)
			}
			if d.Challenged() != (tt.code == 401 || tt.code == 407) {
				t.Fatalf("Challenged() = %v for %d", d.Challenged(), tt.code)
			}
			if id.Tenant != "acme" && tt.reason != ReasonUnknownRealm {
				t.Fatalf("refusal identity %+v: want the dialog's tenant", id)
			}
		})
	}
}

// TestGuardOnDecision checks the decision of requests outside dialogs:
// one call per request, with the code sent and whether it is a new call.
func TestGuardOnDecision(t *testing.T) {
	list, _ := ParseAllowlist("192.0.2.0/24")
	var rec decisions
	g, err := NewGuard(GuardConfig{
		Tenants:    Tenants{"acme.test": {ID: "acme", Allowlist: list, Credentials: Users{"alice": testPassword}}},
		OnDecision: rec.record,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tests := []struct {
		name    string
		req     *sipgosip.Request
		code    int
		reason  string
		initial bool
	}{
		{"new call without credentials", testRequest(sipgosip.INVITE, "acme.test", "192.0.2.1:5060", ""), 407, ReasonCredentialsRequired, true},
		{"re-INVITE without credentials", testRequest(sipgosip.INVITE, "acme.test", "192.0.2.1:5060", "x"), 407, ReasonCredentialsRequired, false},
		{"source outside the allowlist", testRequest(sipgosip.INVITE, "acme.test", "203.0.113.1:5060", ""), 403, ReasonSourceNotAllowed, true},
		{"unknown realm", testRequest(sipgosip.INVITE, "nobody.test", "192.0.2.1:5060", ""), 403, ReasonUnknownRealm, true},
		{"ACK outside the allowlist", testRequest(sipgosip.ACK, "acme.test", "203.0.113.1:5060", "x"), 0, ReasonSourceNotAllowed, false},
		{"CANCEL passes", testRequest(sipgosip.CANCEL, "acme.test", "192.0.2.1:5060", ""), 0, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := rec.count()
			_, res, err := g.Check(ctx, tt.req)
			d := rec.last(t)
			if rec.count() != n+1 {
				t.Fatalf("OnDecision called %d times", rec.count()-n)
			}
			code := 0
			if res != nil {
				code = res.StatusCode
			}
			if d.Code != tt.code || code != tt.code || d.Reason != tt.reason || d.InitialInvite != tt.initial || (err == nil) != d.Passed() || d.Err != err {
				t.Fatalf("decision %+v, answer %d, err %v", d, code, err)
			}
		})
	}
	// an authenticated call
	req := testRequest(sipgosip.INVITE, "acme.test", "192.0.2.1:5060", "")
	addAnswer(t, g, req, "acme.test", "alice", testPassword)
	if _, _, err := g.Check(ctx, req); err != nil {
		t.Fatal(err)
	}
	if d := rec.last(t); !d.Passed() || !d.InitialInvite || d.Identity.User != "alice" || d.Identity.PassedBy != PassedDigest || d.Code != 0 {
		t.Fatalf("decision %+v", d)
	}
}

// TestGuardRFC2069Replay sends one qop-less answer six times (issue 14
// item 5): refused by default; with AllowRFC2069 accepted once, then each
// repeat is challenged again and counted as a failure.
func TestGuardRFC2069Replay(t *testing.T) {
	ctx := context.Background()
	for _, allow := range []bool{false, true} {
		t.Run(map[bool]string{false: "default", true: "AllowRFC2069"}[allow], func(t *testing.T) {
			var rec decisions
			g, err := NewGuard(GuardConfig{
				Tenants:    Tenants{"acme.test": {ID: "acme", Realm: "acme.test", Credentials: Users{"alice": testPassword}}},
				Digest:     DigestConfig{Algorithms: []Algorithm{MD5}, AllowRFC2069: allow},
				Lockout:    LockoutConfig{MaxFailures: -1},
				OnDecision: rec.record,
			})
			if err != nil {
				t.Fatal(err)
			}
			first := testRequest(sipgosip.REGISTER, "acme.test", "192.0.2.1:5060", "")
			ch := g.DigestServer().ChallengesFor("acme.test", netip.MustParseAddr("192.0.2.1"), false)[0]
			header := answer(t, ch, "REGISTER", "sip:srs@acme.test", "alice", testPassword, 1, false).String()
			passed := 0
			for i := range 6 {
				req := first.Clone()
				req.AppendHeader(sipgosip.NewHeader("Authorization", header))
				_, res, err := g.Check(ctx, req)
				if err == nil {
					passed++
					continue
				}
				d := rec.last(t)
				want := ReasonCredentialsNotForUs
				if allow {
					want = ReasonNonceReplay
				}
				if res == nil || res.StatusCode != 401 || d.Reason != want {
					t.Fatalf("use %d: %v %v, reason %q, want a 401 challenge, %q", i+1, res, err, d.Reason, want)
				}
			}
			if want := map[bool]int{false: 0, true: 1}[allow]; passed != want {
				t.Fatalf("the same qop-less answer passed %d times, want %d", passed, want)
			}
		})
	}
}
