package siprec

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/media"
	"github.com/voicegw/voicegw/sip"
	"github.com/voicegw/voicegw/siprec/metadata"
)

// audioSince returns a label's audio samples that arrived at or after t0,
// concatenated.
func (k *srsSink) audioSince(label string, t0 time.Time) []int16 {
	var out []int16
	for _, c := range k.chunks(label) {
		if !c.arrival.Before(t0) {
			out = append(out, c.pcm...)
		}
	}
	return out
}

func (k *srsSink) gapSamples(label string) int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	var n int64
	for _, g := range k.gaps[label] {
		n += g.Samples
	}
	return n
}

func (k *srsSink) digits(label string) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var b strings.Builder
	for _, d := range k.dtmf[label] {
		b.WriteRune(d.Digit)
	}
	return b.String()
}

// waitTimeline waits until a label's timeline (audio and gaps) reaches n
// samples.
func (k *srsSink) waitTimeline(t *testing.T, label string, n int64) {
	t.Helper()
	srsEventually(t, "the timeline of label "+label, func() bool {
		k.mu.Lock()
		defer k.mu.Unlock()
		return k.next[label] >= n
	})
}

// TestSRSInitialInactive: an initial offer with a=inactive is accepted and
// starts paused; RTP and DTMF sent while paused never reach the sink as
// audio; a re-INVITE with sendonly resumes, and audio and DTMF flow.
func TestSRSInitialInactive(t *testing.T) {
	t.Parallel()
	e := newSRSEnv(t, Config{})
	cl := newSRSClient(t, e)
	legs := srsLegs(t, "1", "2")
	for _, l := range legs {
		l.dir = media.Inactive
	}
	ans := srsAnswerOf(t, cl.invite(srsOfferOf(1, legs...), srsMetadataFor("", "1", "2"), false))
	for i, m := range ans.Media {
		if m.Direction != media.Inactive || m.Port == 0 || m.Label != legs[i].label {
			t.Fatalf("answer m-line %d: %v port %d label %q, want inactive with a port and label %q", i, m.Direction, m.Port, m.Label, legs[i].label)
		}
	}
	k := e.sinks.wait(t)
	if !k.startPaused || !k.sess.Paused() {
		t.Fatal("the session does not start paused")
	}
	tone := srsTone(440, 1600)
	s := legs[0].send(t, ans, 0, 0x11, tone)
	if err := s.WriteDTMF('5', 60*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	k.waitTimeline(t, "1", 1600)
	// The gate judges by the time a packet is read from the socket: wait
	// until the receiver has read the key press before resuming, or a
	// slow reader would rightly count it as pressed after the resume.
	st, _ := k.sess.Stream("1")
	srsEventually(t, "the paused key press read", func() bool { return st.Stats().DTMFEvents >= 1 })
	if n := k.audioSamples("1"); n != 0 {
		t.Errorf("%d samples of audio sent while paused reached the sink", n)
	}

	for _, l := range legs {
		l.dir = media.SendOnly
	}
	ans2 := srsAnswerOf(t, cl.do(cl.offerRequest(sipgosip.INVITE, srsOfferOf(2, legs...), nil), false))
	for i, m := range ans2.Media {
		if m.Direction != media.RecvOnly || m.Port != ans.Media[i].Port {
			t.Fatalf("re-INVITE answer m-line %d: %v port %d, want recvonly on port %d", i, m.Direction, m.Port, ans.Media[i].Port)
		}
	}
	if ans2.Origin.SessionID != ans.Origin.SessionID || ans2.Origin.SessionVersion != ans.Origin.SessionVersion+1 {
		t.Errorf("o= %d %d after %d %d, want the same session and the next version", ans2.Origin.SessionID, ans2.Origin.SessionVersion, ans.Origin.SessionID, ans.Origin.SessionVersion)
	}
	resumed := time.Now()
	if err := s.WriteDTMF('7', 60*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := s.Play(t.Context(), tone); err != nil {
		t.Fatal(err)
	}
	srsEventually(t, "audio after the resume", func() bool { return len(k.audioSince("1", resumed)) >= len(tone) })
	if got := k.audioSince("1", resumed); !slices.Equal(got, srsThrough(media.EncodingPCMU, tone)) {
		t.Errorf("after the resume the sink got %d samples that are not the %d sent", len(got), len(tone))
	}
	if d := k.digits("1"); d != "7" {
		t.Errorf("DTMF %q reached the sink, want only the 7 sent after the resume", d)
	}
	cl.do(cl.request(sipgosip.BYE, "", nil), false)
	if r := k.waitEnd(t); r != EndBye {
		t.Fatalf("end %v", r)
	}
	if got := k.kinds(); !slices.Equal(got, []string{"add 1", "add 2", "resume", "end"}) {
		t.Errorf("events %v", got)
	}
	e.waitPortsFree()
}

// TestSRSSessionRefresh: a re-INVITE with the same SDP (a session refresh,
// RFC 4028) gets the same answer, o= version included (RFC 3264 §8); an
// UPDATE without a body gets 200 without one; an offerless re-INVITE gets
// the current SDP; none of them bothers the sink.
func TestSRSSessionRefresh(t *testing.T) {
	t.Parallel()
	e := newSRSEnv(t, Config{})
	cl := newSRSClient(t, e)
	legs := srsLegs(t, "1", "2")
	offer := srsOfferOf(1, legs...)
	first := cl.invite(offer, srsMetadataFor("", "1", "2"), false)
	srsAnswerOf(t, first)
	k := e.sinks.wait(t)

	again := cl.do(cl.offerRequest(sipgosip.INVITE, offer, nil), false)
	srsAnswerOf(t, again)
	if string(again.Body()) != string(first.Body()) {
		t.Errorf("refresh answer differs:\n%s\nfirst:\n%s", again.Body(), first.Body())
	}
	upd := cl.do(cl.request(sipgosip.UPDATE, "", nil), false)
	if upd.StatusCode != 200 || len(upd.Body()) != 0 {
		t.Errorf("UPDATE refresh: %d with %d bytes of body", upd.StatusCode, len(upd.Body()))
	}
	offerless := cl.do(cl.request(sipgosip.INVITE, "", nil), false)
	if srsAnswerOf(t, offerless); string(offerless.Body()) != string(first.Body()) {
		t.Errorf("offerless re-INVITE got\n%s\nwant the current SDP\n%s", offerless.Body(), first.Body())
	}
	if got := k.kinds(); !slices.Equal(got, []string{"add 1", "add 2"}) {
		t.Errorf("events %v after refreshes", got)
	}
	// An UPDATE with an offer is answered like a re-INVITE: here a pause.
	legs[1].dir = media.Inactive
	pa := srsAnswerOf(t, cl.do(cl.offerRequest(sipgosip.UPDATE, srsOfferOf(2, legs...), nil), false))
	if pa.Media[0].Direction != media.RecvOnly || pa.Media[1].Direction != media.Inactive {
		t.Errorf("UPDATE answer directions %v %v", pa.Media[0].Direction, pa.Media[1].Direction)
	}
	if st, _ := k.sess.Stream("2"); st == nil || !st.Paused() || k.sess.Paused() {
		t.Errorf("one stream paused: stream 2 paused %v, session paused %v", st != nil && st.Paused(), k.sess.Paused())
	}
}

// TestSRSFollowsOfferChanges: a re-INVITE that moves a stream to another
// port and codec is followed (Relatch, SetCodecs); a new m-line adds a
// stream; port 0 removes one.
func TestSRSFollowsOfferChanges(t *testing.T) {
	t.Parallel()
	t.Run("goroutine per stream", func(t *testing.T) { t.Parallel(); srsFollowsOfferChanges(t, nil) })
	t.Run("poller", func(t *testing.T) {
		t.Parallel()
		// Config.Receiver.Poller passes to every stream's Receiver: the
		// streams are received on the Poller's workers.
		p, err := media.NewPoller(media.PollerConfig{Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() }) // after the server's shutdown (registered later, run first)
		srsFollowsOfferChanges(t, p)
	})
}

func srsFollowsOfferChanges(t *testing.T, p *media.Poller) {
	e := newSRSEnv(t, Config{Receiver: media.ReceiverConfig{Poller: p}})
	cl := newSRSClient(t, e)
	legs := srsLegs(t, "1", "2")
	ans := srsAnswerOf(t, cl.invite(srsOfferOf(1, legs...), srsMetadataFor("", "1", "2"), false))
	k := e.sinks.wait(t)
	tone := srsTone(300, 800)
	t0 := time.Now()
	legs[0].send(t, ans, 0, 0x21, tone)
	srsEventually(t, "first audio", func() bool { return len(k.audioSince("1", t0)) >= len(tone) })

	// Label 1 moves to a new port and to PCMA; label 3 is added.
	legs[0].ep = srsListen(t)
	legs[0].codec = media.Codec{PayloadType: 8, Encoding: media.EncodingPCMA, ClockRate: 8000}
	legs = append(legs, &srsLeg{label: "3", ep: srsListen(t), dir: media.SendOnly})
	md := srsMetadataFor("", "1", "2", "3")
	md.DataMode = metadata.Partial
	ans2 := srsAnswerOf(t, cl.do(cl.offerRequest(sipgosip.INVITE, srsOfferOf(2, legs...), md), false))
	if ans2.Media[0].Port != ans.Media[0].Port {
		t.Errorf("label 1 moved from port %d to %d; a kept stream keeps its port", ans.Media[0].Port, ans2.Media[0].Port)
	}
	if c, _ := ans2.Media[0].AudioCodec(); c.Encoding != media.EncodingPCMA {
		t.Errorf("label 1 answered with %v, want PCMA", c)
	}
	if len(ans2.Media) != 3 || ans2.Media[2].Port == 0 || ans2.Media[2].Label != "3" {
		t.Fatalf("answer %+v, want a third accepted m-line labelled 3", ans2.Media)
	}
	t1 := time.Now()
	legs[0].send(t, ans2, 0, 0x22, tone)
	legs[2].send(t, ans2, 2, 0x23, tone)
	srsEventually(t, "audio on the moved and the new stream", func() bool {
		return len(k.audioSince("1", t1)) >= len(tone) && len(k.audioSince("3", t1)) >= len(tone)
	})
	if got := k.audioSince("1", t1); !slices.Equal(got, srsThrough(media.EncodingPCMA, tone)) {
		t.Error("the moved stream's PCMA audio was not decoded as sent")
	}
	if got := k.audioSince("3", t1); !slices.Equal(got, srsThrough(media.EncodingPCMU, tone)) {
		t.Error("the new stream's audio was not received as sent")
	}
	if st, _ := k.sess.Stream("1"); st.Stats().SourceChanges == 0 {
		t.Error("no source change counted on the moved stream")
	}
	if n := e.pool.InUse(); n != 3 {
		t.Errorf("%d ports in use, want 3", n)
	}

	// Label 2 removed with port 0.
	legs[1].ep = nil
	ans3 := srsAnswerOf(t, cl.do(cl.offerRequest(sipgosip.INVITE, srsOfferOf(3, legs...), nil), false))
	if ans3.Media[1].Port != 0 || ans3.Media[0].Port == 0 || ans3.Media[2].Port == 0 {
		t.Errorf("answer ports %d %d %d, want the second rejected", ans3.Media[0].Port, ans3.Media[1].Port, ans3.Media[2].Port)
	}
	if n := e.pool.InUse(); n != 2 {
		t.Errorf("%d ports in use after the removal, want 2", n)
	}
	var labels []string
	for _, st := range k.sess.Streams() {
		labels = append(labels, st.Label())
	}
	if !slices.Equal(labels, []string{"1", "3"}) {
		t.Errorf("streams %v, want 1 and 3", labels)
	}
	cl.do(cl.request(sipgosip.BYE, "", nil), false)
	k.waitEnd(t)
	want := []string{"add 1", "add 2", "metadata", "add 3", "remove 2", "end"}
	if got := k.kinds(); !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	e.waitPortsFree()
}

// TestSRSRefusedReofferLeavesSession: re-INVITEs and UPDATEs that are
// refused (RFC 3261 §14.2: the session stays as it was).
func TestSRSRefusedReofferLeavesSession(t *testing.T) {
	t.Parallel()
	e := newSRSEnv(t, Config{MaxStreams: 2})
	cl := newSRSClient(t, e)
	legs := srsLegs(t, "1", "2")
	ans := srsAnswerOf(t, cl.invite(srsOfferOf(1, legs...), srsMetadataFor("", "1", "2"), false))
	k := e.sinks.wait(t)

	noCodec := srsOfferOf(2, legs...)
	for i := range noCodec.Media {
		noCodec.Media[i].Codecs = nil
		noCodec.Media[i].Formats = []string{"18"}
		noCodec.Media[i].Attributes = []media.Attribute{{Key: "rtpmap", Value: "18 G729/8000"}}
	}
	three := srsOfferOf(2, append(legs, &srsLeg{label: "3", ep: srsListen(t), dir: media.SendOnly})...)
	stale := cl.offerRequest(sipgosip.INVITE, srsOfferOf(2, legs...), nil)
	stale.CSeq().SeqNo = 1
	cases := []struct {
		name string
		req  *sipgosip.Request
		code int
	}{
		{"no usable codec", cl.offerRequest(sipgosip.INVITE, noCodec, nil), 488},
		{"too many m-lines", cl.offerRequest(sipgosip.INVITE, three, nil), 488},
		{"bad metadata", cl.request(sipgosip.UPDATE, "application/rs-metadata+xml", []byte("<recording><session")), 400},
		{"bad SDP", cl.request(sipgosip.UPDATE, "application/sdp", []byte("v=0\r\nm=audio x\r\n")), 400},
		{"unsupported Require", func() *sipgosip.Request {
			r := cl.request(sipgosip.UPDATE, "", nil)
			r.AppendHeader(sipgosip.NewHeader("Require", "timer"))
			return r
		}(), 420},
		{"CSeq out of order", stale, 500},
	}
	for _, c := range cases {
		res := cl.do(c.req, false)
		if res.StatusCode != c.code {
			t.Errorf("%s: %d %s, want %d", c.name, res.StatusCode, res.Reason, c.code)
		}
	}
	if got := k.kinds(); !slices.Equal(got, []string{"add 1", "add 2"}) {
		t.Errorf("events %v after refused requests", got)
	}
	if n := e.pool.InUse(); n != 2 {
		t.Errorf("%d ports in use, want the session's 2", n)
	}
	t0 := time.Now()
	tone := srsTone(500, 800)
	legs[1].send(t, ans, 1, 0x31, tone)
	srsEventually(t, "audio after the refusals", func() bool { return len(k.audioSince("2", t0)) >= len(tone) })
}

// TestSRSUnknownDialogsAndOptions: requests of dialogs the server does not
// know get 481; OPTIONS gets 200 with what the server takes.
func TestSRSUnknownDialogsAndOptions(t *testing.T) {
	t.Parallel()
	e := newSRSEnv(t, Config{})
	cl := newSRSClient(t, e)
	opt := cl.do(cl.request(sipgosip.OPTIONS, "", nil), false)
	if opt.StatusCode != 200 {
		t.Fatalf("OPTIONS: %d", opt.StatusCode)
	}
	if a := opt.GetHeader("Allow"); a == nil || !strings.Contains(a.Value(), "UPDATE") {
		t.Errorf("OPTIONS Allow %v", a)
	}
	if a := opt.GetHeader("Accept"); a == nil || !strings.Contains(a.Value(), "application/rs-metadata+xml") {
		t.Errorf("OPTIONS Accept %v", a)
	}
	cl.to = &sipgosip.ToHeader{Address: sipgosip.Uri{Scheme: "sip", User: "srs", Host: "127.0.0.1"}, Params: sipgosip.HeaderParams{{K: "tag", V: "nosuchdialog"}}}
	for _, m := range []sipgosip.RequestMethod{sipgosip.BYE, sipgosip.UPDATE, sipgosip.INVITE, sipgosip.OPTIONS} {
		req := cl.request(m, "", nil)
		if res := cl.do(req, true); res.StatusCode != 481 {
			t.Errorf("%s in an unknown dialog: %d, want 481", m, res.StatusCode)
		}
	}
	cl.to = nil
	if res := cl.do(cl.request(sipgosip.CANCEL, "", nil), false); res.StatusCode != 481 {
		t.Errorf("CANCEL of nothing: %d, want 481", res.StatusCode)
	}
	// In its own dialog OPTIONS gets 200 too.
	srsAnswerOf(t, cl.invite(srsOfferOf(1, srsLegs(t, "1")...), srsMetadataFor("", "1"), false))
	if res := cl.do(cl.request(sipgosip.OPTIONS, "", nil), false); res.StatusCode != 200 {
		t.Errorf("in-dialog OPTIONS: %d", res.StatusCode)
	}
}

// TestSRSNextHandler: what is not SIPREC goes to Config.Next, so one sipgo
// server serves ordinary calls too.
func TestSRSNextHandler(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []string
	next := func(_ context.Context, req *sipgosip.Request, tx sipgosip.ServerTransaction) {
		mu.Lock()
		seen = append(seen, string(req.Method))
		mu.Unlock()
		if !req.IsAck() {
			_ = tx.Respond(sipgosip.NewResponseFromRequest(req, 486, "Busy Here", nil))
		}
	}
	e := newSRSEnv(t, Config{Next: next})
	cl := newSRSClient(t, e)
	plain := cl.request(sipgosip.INVITE, "application/sdp", mustMarshal(t, srsOfferOf(1, srsLegs(t, "1")...)))
	plain.RemoveHeader("Require")
	plain.Contact().Params = nil
	if res := cl.do(plain, false); res.StatusCode != 486 {
		t.Errorf("ordinary INVITE: %d, want the next handler's 486", res.StatusCode)
	}
	cl.to = &sipgosip.ToHeader{Address: sipgosip.Uri{Scheme: "sip", User: "srs", Host: "127.0.0.1"}, Params: sipgosip.HeaderParams{{K: "tag", V: "theirs"}}}
	if res := cl.do(cl.request(sipgosip.BYE, "", nil), false); res.StatusCode != 486 {
		t.Errorf("BYE of another dialog: %d, want the next handler's", res.StatusCode)
	}
	mu.Lock()
	defer mu.Unlock()
	// The ACK of the 486 may reach the handler too, at any moment.
	got := slices.DeleteFunc(slices.Clone(seen), func(m string) bool { return m == "ACK" })
	if !slices.Equal(got, []string{"INVITE", "BYE"}) {
		t.Errorf("next handler saw %v, want the INVITE and the BYE", seen)
	}
	if n := e.sinks.count(); n != 0 {
		t.Errorf("%d recording sessions made", n)
	}
}

// TestSRSMarkers: an INVITE is SIPREC when it has Require: siprec or the
// +sip.src Contact feature tag (either one is enough); with neither it goes
// to Config.Next even when its body is multipart with a metadata part.
func TestSRSMarkers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name             string
		require, srcTag  bool
		wantCode         int
		wantNext, wantSS int32 // next handler INVITEs, sessions made
	}{
		{"Require and +sip.src", true, true, 200, 0, 1},
		{"+sip.src only", false, true, 200, 0, 1},
		{"Require only", true, false, 200, 0, 1},
		{"neither, multipart with metadata", false, false, 486, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var nexts atomic.Int32
			next := func(_ context.Context, req *sipgosip.Request, tx sipgosip.ServerTransaction) {
				if req.IsInvite() {
					nexts.Add(1)
				}
				if !req.IsAck() {
					_ = tx.Respond(sipgosip.NewResponseFromRequest(req, 486, "Busy Here", nil))
				}
			}
			e := newSRSEnv(t, Config{Next: next})
			cl := newSRSClient(t, e)
			req := cl.offerRequest(sipgosip.INVITE, srsOfferOf(1, srsLegs(t, "1")...), srsMetadataFor("", "1"))
			if !tc.require {
				req.RemoveHeader("Require")
			}
			if !tc.srcTag {
				req.Contact().Params = nil
			}
			if !strings.HasPrefix(req.ContentType().Value(), "multipart/mixed") {
				t.Fatalf("the INVITE's body is %s, want multipart with metadata", req.ContentType().Value())
			}
			res := cl.do(req, false)
			if res.StatusCode != tc.wantCode {
				t.Errorf("%d %s, want %d", res.StatusCode, res.Reason, tc.wantCode)
			}
			if tc.wantCode == 200 {
				e.sinks.wait(t)
			}
			if n := nexts.Load(); n != tc.wantNext {
				t.Errorf("the next handler got %d INVITEs, want %d", n, tc.wantNext)
			}
			if n := e.sinks.count(); n != int(tc.wantSS) {
				t.Errorf("%d recording sessions made, want %d", n, tc.wantSS)
			}
		})
	}
}

func mustMarshal(t *testing.T, d *media.SessionDescription) []byte {
	t.Helper()
	b, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSRSShutdown: Shutdown ends every session (sink told EndShutdown, client
// sent a BYE), and refuses new INVITEs with 503.
func TestSRSShutdown(t *testing.T) {
	t.Parallel()
	var released atomic.Int32
	var rejects srsRejects
	e := newSRSEnv(t, Config{Policy: PolicyFunc(func(context.Context, *Offer) (Admission, error) {
		return Admission{Release: func() { released.Add(1) }}, nil
	}), OnReject: rejects.onReject})
	var clients []*srsClient
	var sinks []*srsSink
	for range 2 {
		cl := newSRSClient(t, e)
		srsAnswerOf(t, cl.invite(srsOfferOf(1, srsLegs(t, "1", "2")...), srsMetadataFor("", "1", "2"), false))
		clients = append(clients, cl)
		sinks = append(sinks, e.sinks.wait(t))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := e.srs.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for i, k := range sinks {
		if r := k.waitEnd(t); r != EndShutdown {
			t.Errorf("session %d ended with %v", i, r)
		}
		if n := clients[i].byeCount(); n != 1 {
			t.Errorf("client %d got %d BYEs, want 1", i, n)
		}
	}
	if n := released.Load(); n != 2 {
		t.Errorf("%d admissions released, want 2", n)
	}
	if n := e.pool.InUse(); n != 0 {
		t.Errorf("%d ports in use after Shutdown", n)
	}
	late := newSRSClient(t, e)
	res := late.invite(srsOfferOf(1, srsLegs(t, "1")...), srsMetadataFor("", "1"), false)
	if res.StatusCode != 503 || res.GetHeader("Retry-After") == nil {
		t.Errorf("INVITE after Shutdown: %d (Retry-After %v), want 503 with Retry-After", res.StatusCode, res.GetHeader("Retry-After"))
	}
	rejects.want(t, "503 "+RejectShuttingDown)
	if res := clients[0].do(clients[0].request(sipgosip.BYE, "", nil), false); res.StatusCode != 481 {
		t.Errorf("BYE after Shutdown: %d, want 481", res.StatusCode)
	}
}

// TestSRSRecordingID: where the recording ID comes from.
func TestSRSRecordingID(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		metadata string // the recordingID extension of the INVITE's metadata
		headers  map[string]string
		want     string
	}{
		{name: "metadata extension", metadata: "rec-md-1", want: "rec-md-1"},
		{name: "X-Recording-ID", headers: map[string]string{"X-Recording-ID": "rec-hdr-2"}, want: "rec-hdr-2"},
		{name: "X-Srs-Recording-ID", headers: map[string]string{"X-Srs-Recording-ID": "rec-hdr-3"}, want: "rec-hdr-3"},
		{name: "metadata before headers", metadata: "rec-md-4", headers: map[string]string{"X-Recording-ID": "rec-hdr-4"}, want: "rec-md-4"},
		{name: "none", want: ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var offered string
			e := newSRSEnv(t, Config{Policy: PolicyFunc(func(_ context.Context, o *Offer) (Admission, error) {
				offered = o.RecordingID
				return Admission{}, nil
			})})
			cl := newSRSClient(t, e)
			for k, v := range c.headers {
				cl.headers = append(cl.headers, sipgosip.NewHeader(k, v))
			}
			srsAnswerOf(t, cl.invite(srsOfferOf(1, srsLegs(t, "1")...), srsMetadataFor(c.metadata, "1"), false))
			k := e.sinks.wait(t)
			if k.startRecID != c.want || k.sess.RecordingID() != c.want || offered != c.want {
				t.Errorf("recording ID %q (policy saw %q), want %q", k.startRecID, offered, c.want)
			}
			// A partial update that sets the extension changes it.
			upd := &metadata.Recording{DataMode: metadata.Partial}
			upd.SetRecordingID("rec-updated")
			cl.do(cl.offerRequest(sipgosip.UPDATE, nil, upd), false)
			if got := k.sess.RecordingID(); got != "rec-updated" {
				t.Errorf("after the update: %q", got)
			}
		})
	}
}

// TestSRSBehindGuard composes the server as a gateway does: sip.Guard in
// front (the tenant's allowlist), the Policy reading the caller's identity
// and handing its typed account to the sink through Admission.Sink, which
// is used instead of Config.Sinks.
func TestSRSBehindGuard(t *testing.T) {
	t.Parallel()
	type account struct{ name string }
	cases := []struct {
		name      string
		allowlist string
		code      int
	}{
		{"allowed", "127.0.0.0/8", 200},
		{"refused by the allowlist", "203.0.113.0/24", 403},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			al, err := sip.ParseAllowlist(c.allowlist)
			if err != nil {
				t.Fatal(err)
			}
			guard, err := sip.NewGuard(sip.GuardConfig{
				Tenants:      sip.SingleTenant(sip.Tenant{ID: "acme", Realm: "127.0.0.1", Allowlist: al, NoDigest: true}),
				PassInDialog: true,
				Logger:       srsDiscard,
			})
			if err != nil {
				t.Fatal(err)
			}
			var released atomic.Int32
			var sinkAccount atomic.Pointer[account]
			sinks := newSRSSinks()
			policy := PolicyFunc(func(ctx context.Context, o *Offer) (Admission, error) {
				id, ok := sip.IdentityFrom(ctx)
				if !ok || id.Tenant != "acme" {
					return Admission{}, Reject(403, "No Tenant")
				}
				acct := &account{name: "account-of-" + id.Tenant}
				return Admission{
					Sink: func(ctx context.Context, s *Session) (SessionSink, error) {
						sinkAccount.Store(acct)
						return sinks.NewSession(ctx, s)
					},
					Release: func() { released.Add(1) },
				}, nil
			})
			unused := SinkFactoryFunc(func(context.Context, *Session) (SessionSink, error) {
				t.Error("Config.Sinks called for a session whose Admission has a Sink")
				return nil, Reject(500, "")
			})
			e := newSRSEnv(t, Config{Policy: policy, Sinks: unused}, guard.Wrap)
			e.sinks = sinks
			cl := newSRSClient(t, e)
			res := cl.invite(srsOfferOf(1, srsLegs(t, "1")...), srsMetadataFor("", "1"), false)
			if res.StatusCode != c.code {
				t.Fatalf("INVITE: %d, want %d", res.StatusCode, c.code)
			}
			if c.code != 200 {
				return
			}
			k := e.sinks.wait(t)
			id, ok := k.sess.Identity()
			if !ok || id.Tenant != "acme" || id.PassedBy != sip.PassedNoDigest {
				t.Errorf("session identity %+v %v", id, ok)
			}
			if a := sinkAccount.Load(); a == nil || a.name != "account-of-acme" {
				t.Errorf("the sink constructor got account %v", a)
			}
			cl.do(cl.request(sipgosip.BYE, "", nil), false)
			k.waitEnd(t)
			srsEventually(t, "the admission released", func() bool { return released.Load() == 1 })
		})
	}
}

// TestSRSTimeouts: a 2xx never ACKed, and a session without RTP, end with a
// BYE to the client; a paused session does not time out.
func TestSRSTimeouts(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		cfg    Config
		dir    media.Direction
		noAck  bool
		reason EndReason // 0: must not end
	}{
		{"no ACK", Config{AckTimeout: 300 * time.Millisecond}, media.SendOnly, true, EndNoAck},
		{"no RTP", Config{MediaTimeout: 300 * time.Millisecond}, media.SendOnly, false, EndMediaTimeout},
		{"paused, no RTP", Config{MediaTimeout: 300 * time.Millisecond}, media.Inactive, false, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newSRSEnv(t, c.cfg)
			cl := newSRSClient(t, e)
			legs := srsLegs(t, "1")
			legs[0].dir = c.dir
			srsAnswerOf(t, cl.invite(srsOfferOf(1, legs...), srsMetadataFor("", "1"), c.noAck))
			k := e.sinks.wait(t)
			if c.reason == 0 {
				time.Sleep(time.Second)
				if k.sess.Ended() {
					t.Fatal("a paused session timed out")
				}
				return
			}
			if r := k.waitEnd(t); r != c.reason {
				t.Fatalf("ended with %v, want %v", r, c.reason)
			}
			srsEventually(t, "the server's BYE", func() bool { return cl.byeCount() == 1 })
			e.waitPortsFree()
		})
	}
}

// TestSRSSinkRefuses: a SinkFactory error rejects the INVITE (with the code
// of a *Rejection) and frees what was allocated.
func TestSRSSinkRefuses(t *testing.T) {
	t.Parallel()
	var released atomic.Int32
	sinks := newSRSSinks()
	sinks.before = func(context.Context, *Session) error {
		return errors.Join(errors.New("disk full"), &Rejection{Code: 480, RetryAfter: time.Minute})
	}
	var rejects srsRejects
	e := newSRSEnv(t, Config{Sinks: sinks, Policy: PolicyFunc(func(context.Context, *Offer) (Admission, error) {
		return Admission{Release: func() { released.Add(1) }}, nil
	}), OnReject: rejects.onReject})
	cl := newSRSClient(t, e)
	res := cl.invite(srsOfferOf(1, srsLegs(t, "1", "2")...), srsMetadataFor("", "1", "2"), false)
	if res.StatusCode != 480 {
		t.Fatalf("%d, want 480", res.StatusCode)
	}
	if h := res.GetHeader("Retry-After"); h == nil || h.Value() != "60" {
		t.Errorf("Retry-After %v", h)
	}
	if released.Load() != 1 || e.pool.InUse() != 0 || len(e.srs.Sessions()) != 0 {
		t.Errorf("after the refusal: released %d, ports %d, sessions %d", released.Load(), e.pool.InUse(), len(e.srs.Sessions()))
	}
	rejects.want(t, "480 "+RejectSink)
}

// TestSRSMediaAddress: the c= line of the answer.
func TestSRSMediaAddress(t *testing.T) {
	t.Parallel()
	e := newSRSEnv(t, Config{MediaAddress: netip.MustParseAddr("192.0.2.10")})
	cl := newSRSClient(t, e)
	ans := srsAnswerOf(t, cl.invite(srsOfferOf(1, srsLegs(t, "1")...), srsMetadataFor("", "1"), false))
	if ans.Address != netip.MustParseAddr("192.0.2.10") || ans.Media[0].Address != ans.Address {
		t.Errorf("answer address %v / %v", ans.Address, ans.Media[0].Address)
	}
	e2 := newSRSEnv(t, Config{})
	cl2 := newSRSClient(t, e2)
	if ans := srsAnswerOf(t, cl2.invite(srsOfferOf(1, srsLegs(t, "1")...), srsMetadataFor("", "1"), false)); ans.Address != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("default answer address %v, want the pool's 127.0.0.1", ans.Address)
	}
}

func TestEndReasonString(t *testing.T) {
	for r, want := range map[EndReason]string{EndBye: "bye", EndCancel: "cancel", EndShutdown: "shutdown", EndNoAck: "no-ack",
		EndMediaError: "media-error", EndMediaTimeout: "media-timeout", EndError: "error", EndHangup: "hangup", 0: "unknown"} {
		if got := r.String(); got != want {
			t.Errorf("%d: %q, want %q", r, got, want)
		}
	}
}
