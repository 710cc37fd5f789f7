package srs

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/internal/siptest"
	"github.com/voicegw/voicegw/media"
	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/recording"
	"github.com/voicegw/voicegw/sip"
	"github.com/voicegw/voicegw/siprec"
	"github.com/voicegw/voicegw/siprec/metadata"
	"github.com/voicegw/voicegw/storage/bucketconfig"
	"github.com/voicegw/voicegw/tenancy"
)

// recordingAccount returns an account recording WAV into dir, with one SIP
// user and a session webhook.
func recordingAccount(name, dir, hook string) *tenancy.Account {
	return &tenancy.Account{
		Name: name, SIPRealm: name + ".test", SessionWebhook: hook,
		SIP: tenancy.SIPAccess{Users: []tenancy.SIPUser{{Username: "src", Password: secret.String(name + "-password-1")}}},
		Recording: tenancy.RecordingConfig{Enabled: true, Format: tenancy.FormatWAV,
			Bucket: bucketconfig.Config{Vendor: bucketconfig.VendorFile, File: &bucketconfig.File{Dir: dir}}},
	}
}

// TestServerRecordsCall: a recording client with digest credentials
// records a two-party call through the Server; the stereo WAV lands in the
// account's bucket under ACCOUNT/APPLICATION/SESSION.wav with each party
// on its channel, the session document is stored (ended, status OK, the
// parties, the Call-ID and recording ID), the signed webhook arrives once
// (after a failed try), the licence is back, and the Observer heard each
// step once.
func TestServerRecordsCall(t *testing.T) {
	bucket := t.TempDir()
	secret := secret.String("whsec_srs_test_secret_0123456789")
	hooks := newWebhooks(t, secret)
	hooks.fail = 1
	acct := recordingAccount("acme", bucket, hooks.srv.URL)
	acct.WebhookSecret = secret
	acct.LicensedSessions = 1
	// The answer's Contact is the server's IP address: the client's BYE
	// goes there (sipgo resolves names with the system's DNS), and the
	// default account takes requests addressed to the IP address.
	ts := startServer(t, serverOptions{Accounts: []*tenancy.Account{acct}, Default: "acme", ContactIP: true})

	c, res, err := ts.dial(t, "acme.test", "src", "acme-password-1", "rec-42")
	if err != nil {
		t.Fatalf("Start: %v %v", res, err)
	}
	waitFor(t, "the session", func() bool { return ts.ActiveSessions() == 1 })
	if ids := ts.SessionsOf(acct.SID); len(ids) != 1 || ids[0] == "" {
		t.Fatalf("SessionsOf(acme) = %q during its call, want its one session", ids)
	}
	if ids := ts.SessionsOf("AC-none"); len(ids) != 0 {
		t.Fatalf("SessionsOf(another account) = %q, want none", ids)
	}
	c.send(1500 * time.Millisecond)
	c.stop(t)
	waitFor(t, "the upload", func() bool { return len(filesIn(t, bucket)) == 1 })
	waitFor(t, "the webhook", func() bool { return len(hooks.received()) == 1 })

	var key, path string
	for k, p := range filesIn(t, bucket) {
		key, path = k, p
	}
	id, f, err := recording.ParseKey(key)
	if err != nil || f != recording.WAV || id.Account != string(acct.SID) || id.Application != string(acct.SIPRECApplication) {
		t.Fatalf("object key %q: %+v %v %v", key, id, f, err)
	}
	stereoTones(t, path, time.Second)

	doc, err := ts.index.Find(context.Background(), string(acct.SID), id.Session)
	if err != nil {
		t.Fatal(err)
	}
	cd := doc.ChannelData
	if doc.Status != insights.StatusEnded || cd.AudioURL != key || cd.StatusCode == nil || *cd.StatusCode != insights.StatusCodeOK ||
		doc.Source != "alice@example.com" || doc.Destination != "bob@example.com" || cd.RecordingID != "rec-42" || cd.SIPCallID == "" {
		t.Fatalf("session document %+v", doc)
	}

	var ev WebhookEvent
	if err := json.Unmarshal([]byte(hooks.received()[0]), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Event != WebhookEventSessionEnded || ev.SessionID != id.Session || ev.AccountSID != string(acct.SID) ||
		ev.Recording == nil || ev.Recording.Key != key || !ev.Recording.Spooled || ev.Recording.Channels != 2 || ev.Session == nil {
		t.Fatalf("webhook event %+v", ev)
	}
	if hooks.bad != 0 {
		t.Fatalf("%d webhook requests did not verify", hooks.bad)
	}

	// the account's one licence is free again
	c2, _, err := ts.dial(t, "acme.test", "src", "acme-password-1", "")
	if err != nil {
		t.Fatalf("a second call after the first ended: %v", err)
	}
	c2.stop(t)
	waitFor(t, "both sessions completed and uploaded", func() bool {
		return ts.events.count("completed err=false") == 2 && ts.events.count("uploaded") == 2
	})
	for _, want := range []string{"refused challenged credentials_required 407", "started acme", "stream+ 1", "stream+ 2",
		"stream- 1", "stream- 2", "ended bye", "recorded wav err=<nil>", "uploaded", "webhook err=false"} {
		if !ts.events.has(want) {
			t.Errorf("the observer did not hear %q:\n%s", want, ts.events)
		}
	}
	if n := ts.events.count("started acme"); n != 2 {
		t.Errorf("%d sessions started, want 2", n)
	}
	if s := ts.Spool().Len(); s != 0 {
		t.Errorf("%d recordings left in the spool", s)
	}
	// The journal's row goes after the completion and the webhook are
	// reported (finish.go).
	waitFor(t, "the journal's rows deleted", func() bool {
		p, err := ts.Server.journal.Pending(context.Background())
		return err == nil && len(p) == 0
	})
}

// TestServerRefusals: each way a call is refused gets its SIP answer and is
// reported once with its reason: a wrong password, a realm no account has,
// an account that records nothing, the licensed sessions in use.
func TestServerRefusals(t *testing.T) {
	busy := recordingAccount("busy", t.TempDir(), "")
	busy.LicensedSessions = 1
	silent := recordingAccount("silent", t.TempDir(), "")
	silent.Recording.Enabled = false
	ts := startServer(t, serverOptions{Accounts: []*tenancy.Account{busy, silent}})

	holder, _, err := ts.dial(t, "busy.test", "src", "busy-password-1", "")
	if err != nil {
		t.Fatal(err)
	}
	// its BYE would go to the IP address, which no account serves
	defer func() { _, _ = holder.m.Stop(context.Background()) }()

	for _, tc := range []struct {
		name, host, user, password string
		code                       int
		reason                     string
	}{
		{"wrong password", "busy.test", "src", "not-the-password", 407, sip.ReasonBadCredentials},
		{"unknown realm", "nobody.test", "src", "x", 403, sip.ReasonUnknownRealm},
		{"not recorded", "silent.test", "src", "silent-password-1", 403, string(ReasonNotRecorded)},
		{"licensed sessions", "busy.test", "src", "busy-password-1", 486, string(ReasonLicensedSessions)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(ts.events.refusals)
			_, res, err := ts.dial(t, tc.host, tc.user, tc.password, "")
			if !errors.Is(err, siprec.ErrAllRecordersFailed) || len(res) != 1 {
				t.Fatalf("Start: %v %v, want a refusal", res, err)
			}
			// the report follows the answer (OnReject runs after it was
			// handed to the transaction)
			var refused *Refusal
			var n int
			waitFor(t, "the refusal reported", func() bool {
				ts.events.mu.Lock()
				defer ts.events.mu.Unlock()
				for _, r := range ts.events.refusals[before:] {
					if r.Result == Refused {
						refused = &r
					}
				}
				n = len(ts.events.refusals) - before
				return refused != nil
			})
			if refused == nil || string(refused.Reason) != tc.reason || refused.Code != res[0].StatusCode {
				t.Fatalf("reported %+v for a %d answer, want reason %s", refused, res[0].StatusCode, tc.reason)
			}
			if tc.code != 407 && res[0].StatusCode != tc.code {
				t.Fatalf("answered %d, want %d", res[0].StatusCode, tc.code)
			}
			// one report per INVITE: a challenge for the first (without
			// credentials), and a refusal for each answer of the client
			// (it answers a fresh challenge once more)
			if n > 3 {
				t.Fatalf("%d reports for one call:\n%s", n, ts.events)
			}
		})
	}
}

// TestServerInvalidate: a change to an account takes effect at the next
// call once Invalidate is called, without waiting for the cache's TTL: a
// user added to the account can record at once, and the next recording
// goes to the bucket the account names now.
func TestServerInvalidate(t *testing.T) {
	ctx := context.Background()
	old, fresh := t.TempDir(), t.TempDir()
	acct := recordingAccount("live", old, "")
	ts := startServer(t, serverOptions{Accounts: []*tenancy.Account{acct}, Default: "live", ContactIP: true,
		Edit: func(c *Config) {
			c.TenantCache = NewTenantCache(c.Tenants, &TenantCacheOptions{Default: c.DefaultAccount, TTL: time.Hour})
		}})
	c, _, err := ts.dial(t, "live.test", "src", "live-password-1", "")
	if err != nil {
		t.Fatal(err)
	}
	c.stop(t)
	waitFor(t, "the first recording", func() bool { return len(filesIn(t, old)) == 1 })

	cur, err := ts.tenants.Account(ctx, acct.SID)
	if err != nil {
		t.Fatal(err)
	}
	upd := cur.Clone()
	upd.Recording.Bucket.File.Dir = fresh
	upd.SIP.Users = append(upd.SIP.Users, tenancy.SIPUser{Username: "new", Password: "new-user-password-1"})
	if _, err := ts.tenants.UpdateAccount(ctx, upd); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ts.dial(t, "live.test", "new", "new-user-password-1", ""); err == nil {
		t.Fatal("the new user got in before Invalidate: the test proves nothing")
	}
	ts.Invalidate(acct.SID)
	c, _, err = ts.dial(t, "live.test", "new", "new-user-password-1", "")
	if err != nil {
		t.Fatalf("the new user after Invalidate: %v", err)
	}
	c.stop(t)
	waitFor(t, "the recording in the new bucket", func() bool { return len(filesIn(t, fresh)) == 1 })
	if n := len(filesIn(t, old)); n != 1 {
		t.Fatalf("%d recordings in the old bucket, want 1", n)
	}
}

// TestServerMixedStream: a third stream that the metadata says carries
// two participants (a conference mix: RFC 7865 lets several participants
// send one stream) is recorded to a file of its own, uploaded beside the
// parties' stereo file (SESSION.3.wav), not mixed into their channels. The
// INVITE and RTP are written by hand (siprec.Client sends one party per
// stream); the Guard lets the call in without digest.
func TestServerMixedStream(t *testing.T) {
	ctx := context.Background()
	bucket := t.TempDir()
	acct := recordingAccount("mix", bucket, "")
	ts := startServer(t, serverOptions{Accounts: []*tenancy.Account{acct}, Edit: func(c *Config) {
		c.Guard.Tenants = sip.SingleTenant(sip.Tenant{ID: string(acct.SID), Realm: "mix.test", NoDigest: true})
	}})

	// the client's three RTP sockets, one per labelled m-line
	offer := &media.SessionDescription{Address: netip.MustParseAddr("127.0.0.1")}
	var conns []*net.UDPConn
	for _, label := range []string{"1", "2", "3"} {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		conns = append(conns, c)
		offer.Media = append(offer.Media, media.Media{Type: "audio", Port: c.LocalAddr().(*net.UDPAddr).Port, Protocol: "RTP/AVP",
			Codecs: media.DefaultCodecs()[:1], Label: label, Direction: media.SendOnly})
	}
	sdp, err := offer.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	md := metadata.NewComplete(metadata.Call{Parties: []metadata.Party{
		{AOR: "sip:alice@example.com", Label: "1"}, {AOR: "sip:bob@example.com", Label: "2"},
		{ID: "carol", AOR: "sip:carol@example.com", Label: "3", StreamID: "mixed"},
	}})
	md.Participants = append(md.Participants, metadata.Participant{ID: "dave", Send: []string{"mixed"}})
	contentType, body, err := siprec.BuildBody(sdp, md, nil)
	if err != nil {
		t.Fatal(err)
	}

	client, _ := siptest.NewClient(t, siptest.Config{})
	invite := sipgosip.NewRequest(sipgosip.INVITE, sipgosip.Uri{Scheme: "sip", User: "srs", Host: "127.0.0.1", Port: int(ts.sipAddr.Port())})
	invite.SetTransport("TCP")
	invite.AppendHeader(&sipgosip.ContactHeader{Address: sipgosip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: 5064},
		Params: sipgosip.HeaderParams{{K: "+sip.src"}}})
	invite.AppendHeader(sipgosip.NewHeader("Require", "siprec"))
	invite.AppendHeader(sipgosip.NewHeader("Content-Type", contentType))
	invite.SetBody(body)
	res, err := client.Do(ctx, invite)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("INVITE: %v %v", res, err)
	}
	answer, err := media.ParseSDP(res.Body())
	if err != nil || len(answer.Media) != 3 {
		t.Fatalf("answer %v, %v", answer, err)
	}
	inDialog := func(method sipgosip.RequestMethod, seq uint32) *sipgosip.Request {
		req := sipgosip.NewRequest(method, invite.Recipient)
		req.SetTransport("TCP")
		req.AppendHeader(sipgosip.HeaderClone(invite.From()))
		req.AppendHeader(sipgosip.HeaderClone(res.To()))
		req.AppendHeader(sipgosip.HeaderClone(invite.CallID()))
		req.AppendHeader(&sipgosip.CSeqHeader{SeqNo: seq, MethodName: method})
		return req
	}
	if err := client.WriteRequest(inDialog(sipgosip.ACK, invite.CSeq().SeqNo)); err != nil {
		t.Fatal(err)
	}

	// 1.2 s of 440, 880 and 660 Hz in real time, PCMU, 20 ms packets
	pcm, ulaw := make([]int16, 160), make([]byte, 160)
	start := time.Now()
	for k := range 60 {
		for i, c := range conns {
			for j := range pcm {
				pcm[j] = int16(8000 * math.Sin(2*math.Pi*[]float64{440, 880, 660}[i]*float64(k*160+j)/8000))
			}
			media.EncodePCMU(ulaw, pcm)
			pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(k), Timestamp: uint32(k * 160),
				SSRC: uint32(1000 + i)}, Payload: ulaw}
			b, _ := pkt.Marshal()
			dst := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: answer.Media[i].Port}
			if _, err := c.WriteToUDP(b, dst); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Until(start.Add(time.Duration(k+1) * 20 * time.Millisecond)))
	}
	if bye, err := client.Do(ctx, inDialog(sipgosip.BYE, invite.CSeq().SeqNo+1)); err != nil || bye.StatusCode != 200 {
		t.Fatalf("BYE: %v %v", bye, err)
	}

	waitFor(t, "two files in the bucket", func() bool { return len(filesIn(t, bucket)) == 2 })
	var mainFile, mixed string
	for key, path := range filesIn(t, bucket) {
		if strings.HasSuffix(key, ".3.wav") {
			mixed = path
		} else {
			mainFile = path
		}
	}
	if mainFile == "" || mixed == "" {
		t.Fatalf("files %v, want SESSION.wav and SESSION.3.wav", filesIn(t, bucket))
	}
	stereoTones(t, mainFile, time.Second) // 440 and 880 Hz alone: no 660 Hz mixed in
	info, err := recording.Inspect(mixed)
	if err != nil || info.Channels != 1 || info.Duration < time.Second {
		t.Fatalf("the mixed stream's file: %+v, %v", info, err)
	}
}
