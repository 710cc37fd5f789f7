package sip_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"

	"github.com/emiago/sipgo"
	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/sip"
)

// A Guard in front of a sipgo server: every request passes the allowlist and
// digest of its tenant before the handler sees it, with the identity in ctx.
func ExampleGuard_Wrap() {
	allow, err := sip.ParseAllowlist("203.0.113.0/24, 2001:db8::/32")
	if err != nil {
		fmt.Println(err)
		return
	}
	guard, err := sip.NewGuard(sip.GuardConfig{
		Tenants: sip.Tenants{
			"pbx.example.test": {ID: "acme", Realm: "pbx.example.test", Allowlist: allow, Credentials: sip.Users{"alice": "secret"}},
		},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	invite := guard.Wrap(func(ctx context.Context, req *sipgosip.Request, tx sipgosip.ServerTransaction) {
		id, _ := sip.IdentityFrom(ctx)
		slog.Info("call", "user", id.User, "tenant", id.Tenant)
		_ = tx.Respond(sipgosip.NewResponseFromRequest(req, 486, "Busy Here", nil))
	})

	ua, _ := sipgo.NewUA()
	srv, _ := sipgo.NewServer(ua)
	ctx := context.Background() // cancel it to stop the handlers
	srv.OnInvite(invite.Sipgo(ctx))
	// srv.ListenAndServe(ctx, "udp", "0.0.0.0:5060")
}

// Check answers a REGISTER without credentials with a challenge per
// offered algorithm, strongest first.
func ExampleGuard_Check() {
	guard, _ := sip.NewGuard(sip.GuardConfig{
		Tenants: sip.SingleTenant(sip.Tenant{ID: "acme", Realm: "example.test", Credentials: sip.Users{"alice": "secret"}}),
	})
	req := sipgosip.NewRequest(sipgosip.REGISTER, sipgosip.Uri{Scheme: "sip", Host: "example.test"})
	req.SetTransport("TCP") // over UDP a request this small would get fewer challenges: see GuardConfig.MaxAmplification
	req.SetSource("192.0.2.10:5060")

	_, res, err := guard.Check(context.Background(), req)
	fmt.Println(err)
	fmt.Println(res.StartLine())
	for _, h := range res.GetHeaders("WWW-Authenticate") {
		ch, _ := sip.ParseChallenge(h.Value())
		fmt.Println(h.Name(), ch.Realm, ch.Algorithm, ch.QOP)
	}
	// Output:
	// sip: no credentials for the realm
	// SIP/2.0 401 Unauthorized
	// WWW-Authenticate example.test SHA-512-256 [auth]
	// WWW-Authenticate example.test SHA-256 [auth]
	// WWW-Authenticate example.test MD5 [auth]
}

func ExampleParseAuthorization() {
	// what sipp sends: its uri is always sip:REMOTE_IP:REMOTE_PORT
	a, err := sip.ParseAuthorization(`Digest username="alice",realm="example.test",cnonce="6b8b4567",nc=00000001,qop=auth,uri="sip:127.0.0.1:5060",nonce="abc",response="0123456789abcdef0123456789abcdef",algorithm=MD5`)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(a.Username, a.Realm, a.URI, a.Algorithm, a.QOP, a.NC)
	fmt.Println(a)

	_, err = sip.ParseAuthorization(`Digest username="alice`)
	fmt.Println(err)
	// Output:
	// alice example.test sip:127.0.0.1:5060 MD5 auth 1
	// Digest username="alice", realm="example.test", nonce="abc", uri="sip:127.0.0.1:5060", response="0123456789abcdef0123456789abcdef", algorithm=MD5, cnonce="6b8b4567", qop=auth, nc=00000001
	// sip: malformed digest header: at byte 16 ("\"alice"): unterminated quoted string
}

// OnDecision counts the Guard's outcomes, for example as metrics labelled
// by Decision.Reason, without re-implementing Wrap.
func ExampleGuardConfig_onDecision() {
	allow, _ := sip.ParseAllowlist("192.0.2.0/24")
	refused := map[string]int{}
	guard, _ := sip.NewGuard(sip.GuardConfig{
		Tenants: sip.SingleTenant(sip.Tenant{ID: "acme", Realm: "example.test", Allowlist: allow, Credentials: sip.Users{"alice": "secret"}}),
		OnDecision: func(_ context.Context, _ *sipgosip.Request, d sip.Decision) {
			if !d.Passed() && d.InitialInvite {
				refused[d.Reason]++ // runs on the request's goroutine: use a counter safe for concurrent use
			}
		},
	})
	for _, source := range []string{"192.0.2.10:5060", "203.0.113.9:5060"} {
		req := sipgosip.NewRequest(sipgosip.INVITE, sipgosip.Uri{Scheme: "sip", User: "srs", Host: "example.test"})
		req.SetTransport("TCP")
		req.SetSource(source)
		_, res, _ := guard.Check(context.Background(), req)
		fmt.Println(source, res.StartLine())
	}
	fmt.Println(refused)
	// Output:
	// 192.0.2.10:5060 SIP/2.0 407 Proxy Authentication Required
	// 203.0.113.9:5060 SIP/2.0 403 Forbidden
	// map[credentials_required:1 source_not_allowed:1]
}

// dialogs is a DialogOwner over a map of To tags, standing in for a server
// that keeps its dialogs (siprec.Server is one).
type dialogs map[string]sip.Identity

func (d dialogs) DialogIdentity(req *sipgosip.Request) (sip.Identity, bool) {
	tag, _ := req.To().Params.Get("tag")
	id, ok := d[tag]
	return id, ok
}

// With GuardConfig.Dialogs, an in-dialog request is checked against the
// dialog's tenant and user, whatever its Request-URI says.
func ExampleGuardConfig_dialogs() {
	acme, _ := sip.ParseAllowlist("192.0.2.0/24")
	other, _ := sip.ParseAllowlist("198.51.100.0/24")
	guard, _ := sip.NewGuard(sip.GuardConfig{
		Tenants: sip.Tenants{
			"acme.test":  {ID: "acme", Allowlist: acme, Credentials: sip.Users{"alice": "secret"}},
			"other.test": {ID: "other", Allowlist: other, Credentials: sip.Users{"mallory": "pw"}},
		},
		Dialogs: dialogs{"t1": {User: "alice", Tenant: "acme", Realm: "acme.test", Source: netip.MustParseAddrPort("192.0.2.10:5060")}},
	})
	bye := func(source string) {
		// a BYE for acme's dialog, addressed to the other tenant's realm
		req := sipgosip.NewRequest(sipgosip.BYE, sipgosip.Uri{Scheme: "sip", Host: "other.test"})
		to := &sipgosip.ToHeader{Address: sipgosip.Uri{Scheme: "sip", Host: "other.test"}}
		to.Params.Add("tag", "t1")
		req.AppendHeader(to)
		req.SetTransport("TCP")
		req.SetSource(source)
		id, res, err := guard.Check(context.Background(), req)
		if err != nil {
			fmt.Println(source, res.StartLine())
			return
		}
		fmt.Println(source, "passed as", id.User, "of", id.Tenant, id.PassedBy)
	}
	bye("192.0.2.10:5060")   // the dialog's own address
	bye("198.51.100.7:5060") // on the other tenant's allowlist only
	bye("192.0.2.99:5060")   // acme's allowlist, but not the dialog's address: alice must authenticate
	// Output:
	// 192.0.2.10:5060 passed as alice of acme in-dialog
	// 198.51.100.7:5060 SIP/2.0 403 Forbidden
	// 192.0.2.99:5060 SIP/2.0 407 Proxy Authentication Required
}
