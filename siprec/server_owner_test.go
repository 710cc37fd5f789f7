package siprec

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/media"
	"github.com/voicegw/voicegw/sip"
)

// ownerTenants are two tenants told apart by the Request-URI host (the
// Guard's default realm): acme, whose SBC is 127.0.0.1 alone, and globex,
// which allows all of loopback.
func ownerTenants(t *testing.T) sip.Tenants {
	t.Helper()
	acme, err := sip.ParseAllowlist("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	globex, err := sip.ParseAllowlist("127.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	return sip.Tenants{
		"127.0.0.1":   {ID: "acme", Realm: "127.0.0.1", Allowlist: acme, NoDigest: true},
		"globex.test": {ID: "globex", Realm: "globex.test", Allowlist: globex, NoDigest: true},
	}
}

// TestSRSInDialogOtherTenant runs the attack of issue 14 item 4 over real
// SIP (TCP): a session of tenant acme is recording; a client of tenant
// globex, from another address (127.0.0.2, outside acme's allowlist), who
// learnt the session's Call-ID and tags, sends in its dialog a re-INVITE
// with a=inactive, an UPDATE and a BYE addressed to globex's realm. Behind
// a Guard given the Server as its dialog owner (GuardConfig.Dialogs), the
// Guard refuses them by acme's allowlist (403). Behind a Guard without one
// (PassInDialog), they pass as globex's and the Server itself refuses each
// as a request of an unknown dialog (481). Either way the session is
// neither paused nor ended and keeps recording, and acme's own client then
// pauses, resumes and ends it as usual.
func TestSRSInDialogOtherTenant(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		dialogs bool
		code    int
	}{
		{"guard with the Server as dialog owner", true, 403},
		{"guard without a dialog owner", false, 481},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var srs *Server // the Guard asks it, once made
			cfg := sip.GuardConfig{Tenants: ownerTenants(t), PassInDialog: true, Logger: srsDiscard}
			if c.dialogs {
				cfg.Dialogs = sip.DialogOwnerFunc(func(req *sipgosip.Request) (sip.Identity, bool) { return srs.DialogIdentity(req) })
			}
			guard, err := sip.NewGuard(cfg)
			if err != nil {
				t.Fatal(err)
			}
			e := newSRSEnv(t, Config{}, guard.Wrap)
			srs = e.srs
			srsInDialogAttack(t, e, c.code)
		})
	}
}

func srsInDialogAttack(t *testing.T, e *srsEnv, code int) {
	victim := newSRSClient(t, e)
	legs := srsLegs(t, "1", "2")
	ans := srsAnswerOf(t, victim.invite(srsOfferOf(1, legs...), srsMetadataFor("", "1", "2"), false))
	k := e.sinks.wait(t)
	if id, ok := k.sess.Identity(); !ok || id.Tenant != "acme" {
		t.Fatalf("session identity %+v %v, want tenant acme", id, ok)
	}

	attacker := newSRSClientAt(t, e, "127.0.0.2")
	attacker.uriHost = "globex.test"
	attacker.callID, attacker.fromTag, attacker.to = victim.callID, victim.fromTag, victim.to
	attacker.cseq = victim.cseq + 100
	paused := []*srsLeg{{label: "1", ep: legs[0].ep, dir: media.Inactive}, {label: "2", ep: legs[1].ep, dir: media.Inactive}}
	for _, req := range []*sipgosip.Request{
		attacker.offerRequest(sipgosip.INVITE, srsOfferOf(7, paused...), nil),
		attacker.offerRequest(sipgosip.UPDATE, srsOfferOf(8, paused...), nil),
		attacker.request(sipgosip.BYE, "", nil),
	} {
		if res := attacker.do(req, true); res.StatusCode != code {
			t.Errorf("%s from another tenant: %d %s, want %d", req.Method, res.StatusCode, res.Reason, code)
		}
	}
	if k.sess.Paused() || k.sess.Ended() {
		t.Fatalf("after the attack: paused %v, ended %v", k.sess.Paused(), k.sess.Ended())
	}
	if got := k.kinds(); !slices.Equal(got, []string{"add 1", "add 2"}) {
		t.Fatalf("sink events %v after the attack, want only the streams added", got)
	}
	// Still recording.
	t0 := time.Now()
	tone := srsTone(600, 800)
	legs[0].send(t, ans, 0, 0x41, tone)
	srsEventually(t, "audio after the attack", func() bool { return len(k.audioSince("1", t0)) >= len(tone) })

	// acme's own requests still act on the session: pause, resume, BYE.
	srsAnswerOf(t, victim.do(victim.offerRequest(sipgosip.INVITE, srsOfferOf(2, paused...), nil), false))
	srsAnswerOf(t, victim.do(victim.offerRequest(sipgosip.INVITE, srsOfferOf(3, legs...), nil), false))
	if res := victim.do(victim.request(sipgosip.BYE, "", nil), false); res.StatusCode != 200 {
		t.Fatalf("acme's BYE: %d", res.StatusCode)
	}
	if r := k.waitEnd(t); r != EndBye {
		t.Fatalf("end reason %v, want bye", r)
	}
	if got := k.kinds(); !slices.Equal(got, []string{"add 1", "add 2", "pause", "resume", "end"}) {
		t.Errorf("sink events %v", got)
	}
	e.waitPortsFree()
}

// TestSRSDialogIdentity: the Server as a sip.DialogOwner answers for the
// dialogs of its sessions (Call-ID and both tags) with the identity the
// INVITE was admitted with and the INVITE's source, whatever tenant the
// asking request names; it does not know other dialogs, nor sessions
// admitted without a Guard.
func TestSRSDialogIdentity(t *testing.T) {
	t.Parallel()
	guard, err := sip.NewGuard(sip.GuardConfig{Tenants: ownerTenants(t), PassInDialog: true, Logger: srsDiscard})
	if err != nil {
		t.Fatal(err)
	}
	e := newSRSEnv(t, Config{}, guard.Wrap)
	var owner sip.DialogOwner = e.srs
	cl := newSRSClient(t, e)
	srsAnswerOf(t, cl.invite(srsOfferOf(1, srsLegs(t, "1")...), srsMetadataFor("", "1"), false))
	k := e.sinks.wait(t)

	probe := newSRSClientAt(t, e, "127.0.0.2")
	probe.uriHost = "globex.test"
	probe.callID, probe.fromTag, probe.to = cl.callID, cl.fromTag, cl.to
	id, ok := owner.DialogIdentity(probe.request(sipgosip.BYE, "", nil))
	if !ok || id.Tenant != "acme" || id.Realm != "127.0.0.1" || id.Source != k.sess.Source() || !id.Source.IsValid() {
		t.Errorf("DialogIdentity %+v %v, want acme's identity with the INVITE's source %v", id, ok, k.sess.Source())
	}
	otherTo := sipgosip.HeaderClone(cl.to).(*sipgosip.ToHeader)
	otherTo.Params = sipgosip.HeaderParams{{K: "tag", V: "x" + toTagOf(cl.to)}}
	for _, c := range []struct {
		name            string
		callID, fromTag string
		to              *sipgosip.ToHeader
	}{
		{"other Call-ID", cl.callID + "x", cl.fromTag, cl.to},
		{"other From tag", cl.callID, cl.fromTag + "x", cl.to},
		{"other To tag", cl.callID, cl.fromTag, otherTo},
		{"no To tag", cl.callID, cl.fromTag, nil},
	} {
		probe.callID, probe.fromTag, probe.to = c.callID, c.fromTag, c.to
		if id, ok := owner.DialogIdentity(probe.request(sipgosip.BYE, "", nil)); ok {
			t.Errorf("%s: DialogIdentity %+v, want unknown", c.name, id)
		}
	}

	// Without a Guard there is no identity to check against.
	bare := newSRSEnv(t, Config{})
	bc := newSRSClient(t, bare)
	srsAnswerOf(t, bc.invite(srsOfferOf(1, srsLegs(t, "1")...), srsMetadataFor("", "1"), false))
	bare.sinks.wait(t)
	if id, ok := bare.srs.DialogIdentity(bc.request(sipgosip.BYE, "", nil)); ok {
		t.Errorf("unguarded session: DialogIdentity %+v, want false", id)
	}
}

func toTagOf(h *sipgosip.ToHeader) string {
	v, _ := h.Params.Get("tag")
	return v
}

// FuzzInDialogMatch fuzzes the in-dialog matcher (Server.dialogOf, what
// Handle uses for ACK, BYE, re-INVITE, UPDATE and OPTIONS) against sessions
// of two tenants and one unguarded session. Property: a request acts on a
// session if and only if its Call-ID, To tag and From tag are the session's
// and its ctx speaks for the session's tenant (or neither has an identity);
// it never acts on another tenant's session. DialogIdentity knows the
// dialog iff the three identifiers match and the session has an identity.
// The request goes through sipgo's writer and parser first, as over the wire.
func FuzzInDialogMatch(f *testing.F) {
	type known struct {
		id     dialogID
		tenant string // "" for the unguarded session
	}
	sessions := []known{
		{dialogID{"call-1@src.example", "a1b2c3", "f00d"}, "acme"},
		{dialogID{"call-2@src.example", "d4e5f6", "beef"}, "globex"},
		{dialogID{"call-1@src.example", "a1b2c4", "f00d"}, "globex"}, // one tag away from acme's
		{dialogID{"call-3", "0011", "2233"}, ""},
	}
	// pick: bits 0-1 the session whose identifiers are taken, bit 2 its
	// Call-ID, bit 3 its To tag, bit 4 its From tag, bit 5 its tenant,
	// bit 6 no identity at all in ctx.
	f.Add(uint8(0b0111100), "", "", "", "")
	f.Add(uint8(0b0011100), "", "", "", "globex")
	f.Add(uint8(0b1011111), "", "", "", "")
	f.Add(uint8(0b0011110), "", "", "", "acme")
	f.Add(uint8(0b0101100), "", "", "f00d ", "")
	f.Add(uint8(0b0110100), "", "A1B2C3", "", "")
	f.Add(uint8(0b0100000), "call-1@src.example\x00a1b2c3", "f00d", "", "")
	f.Add(uint8(0), "call-2@src.example", "d4e5f6", "beef", "Globex")
	f.Fuzz(func(t *testing.T, pick uint8, cid, to, from, tenant string) {
		base := sessions[pick&3]
		if pick&4 != 0 {
			cid = base.id.callID
		}
		if pick&8 != 0 {
			to = base.id.local
		}
		if pick&16 != 0 {
			from = base.id.remote
		}
		if pick&32 != 0 {
			tenant = base.tenant
		}
		guarded := pick&64 == 0
		req := fuzzDialogRequest(cid, to, from)
		if req == nil {
			return // not a message sipgo would read
		}

		srv := &Server{log: srsDiscard, peerLog: srsDiscard, sessions: map[dialogID]*Session{}}
		for _, k := range sessions {
			sess := &Session{srv: srv, id: k.tenant + "/" + k.id.callID, key: k.id, callID: k.id.callID,
				source: netip.MustParseAddrPort("192.0.2.1:5060")}
			if k.tenant != "" {
				sess.identity, sess.hasIdentity = sip.Identity{Tenant: k.tenant, Realm: k.tenant + ".test"}, true
			}
			srv.sessions[k.id] = sess
		}
		ctx := context.Background()
		if guarded {
			ctx = sip.ContextWithIdentity(ctx, sip.Identity{Tenant: tenant})
		}

		// What the request carries, as the Server reads it.
		got := dialogID{callID: callID(req), local: toTag(req), remote: fromTag(req)}
		var want *Session
		for _, k := range sessions {
			if k.id != got || got.local == "" {
				continue
			}
			owner := srv.sessions[k.id]
			if guarded == owner.hasIdentity && (!guarded || tenant == k.tenant) {
				want = owner
			}
		}
		match := srv.dialogOf(ctx, req)
		if match != want {
			t.Fatalf("request %+v (tenant %q, guarded %v) matched %v, want %v", got, tenant, guarded, sessName(match), sessName(want))
		}
		if match != nil {
			if match.key != got {
				t.Fatalf("matched session %v for request %+v", match.key, got)
			}
			if guarded && match.identity.Tenant != tenant {
				t.Fatalf("tenant %q acted on a session of tenant %q", tenant, match.identity.Tenant)
			}
		}
		id, ok := srv.DialogIdentity(req)
		owner := srv.sessions[got]
		if wantOK := got.local != "" && owner != nil && owner.hasIdentity; ok != wantOK || ok && id.Tenant != owner.identity.Tenant {
			t.Fatalf("DialogIdentity of %+v: %+v %v", got, id, ok)
		}
	})
}

func sessName(s *Session) string {
	if s == nil {
		return "none"
	}
	return s.id
}

// fuzzDialogRequest writes a BYE with the given identifiers and parses it
// back with sipgo, or returns nil when sipgo would not read it.
func fuzzDialogRequest(callID, to, from string) *sipgosip.Request {
	for _, v := range []string{callID, to, from} {
		if strings.ContainsAny(v, "\r\n") {
			return nil
		}
	}
	toHdr := "To: <sip:srs@192.0.2.9>"
	if to != "" {
		toHdr += ";tag=" + to
	}
	raw := "BYE sip:srs@192.0.2.9 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n" +
		"From: <sip:src@192.0.2.1>;tag=" + from + "\r\n" + toHdr + "\r\nCall-ID: " + callID + "\r\n" +
		"CSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
	m, err := sipgosip.ParseMessage([]byte(raw))
	if err != nil {
		return nil
	}
	req, ok := m.(*sipgosip.Request)
	if !ok {
		return nil
	}
	return req
}
