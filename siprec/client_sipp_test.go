package siprec

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/voicegw/voicegw/internal/testenv"
	"github.com/voicegw/voicegw/rbac/secret"
)

// One recorder (sipp) accepts; both streams reach the recorder's media
// endpoints as the two tones; pause, resume and stop are re-INVITEs and a
// BYE that sipp checks and answers.
func TestClientOneRecorderPauseResumeStop(t *testing.T) {
	c, logs := newTestClient(t, ClientConfig{})
	s1, s2 := newSink(t), newSink(t)
	srv := startSRS(t, "srs_uas.xml", map[string]string{"srs_p1": itoa(s1.port()), "srs_p2": itoa(s2.port())})
	m := newTestManager(t, c, ManagerConfig{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	results, err := m.Start(ctx, StartRequest{Recorders: URIList{srv.uri}, RecordingID: "rec-42"})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if len(results) != 1 || !results[0].OK() || results[0].StatusCode != 200 {
		t.Fatalf("Start results = %v", results)
	}
	if !m.Recording() || m.Paused() {
		t.Fatalf("Recording() = %v, Paused() = %v after Start", m.Recording(), m.Paused())
	}
	done, frames := pumpCounted(ctx, m)

	// Both tones arrive, each on its own stream.
	for i, s := range []*sink{s1, s2} {
		pcm := s.waitSamples(t, 4000)
		if f, want := frequency(pcm[800:]), 440.0*float64(i+1); f < want-20 || f > want+20 {
			t.Errorf("stream %d: the recorder hears %.0f Hz, want %.0f Hz", i+1, f, want)
		}
	}
	st := m.Recorders()
	if len(st) != 1 || len(st[0].Streams) != 2 || st[0].Streams[0].SSRC == st[0].Streams[1].SSRC {
		t.Fatalf("Recorders() = %+v: want one recorder with two streams of distinct SSRCs", st)
	}

	// Pause: nothing arrives while paused.
	framesBeforePause := frames.Load()
	if _, err := m.Pause(ctx); err != nil {
		t.Fatalf("Pause: %v", err)
	}
	framesPaused := frames.Load()
	if !m.Paused() {
		t.Fatal("Paused() = false after Pause")
	}
	time.Sleep(100 * time.Millisecond) // packets in flight
	before, _, _ := s1.samples()
	time.Sleep(400 * time.Millisecond)
	after, _, _ := s1.samples()
	if len(after) != len(before) {
		t.Errorf("the recorder got %d samples while paused", len(after)-len(before))
	}
	if _, err := m.Pause(ctx); !errors.Is(err, ErrAlreadyPaused) {
		t.Errorf("second Pause: %v, want ErrAlreadyPaused", err)
	}

	// Resume: audio again, the pause seen as a gap of its length: the
	// frames the pump wrote while paused (counted, as the pump's ticker
	// may fall behind wall time on a loaded machine).
	framesBeforeResume := frames.Load()
	if _, err := m.Resume(ctx); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	framesResumed := frames.Load()
	s1.waitSamples(t, len(after)+1600)
	minGap, maxGap := 160*(framesBeforeResume-framesPaused-1), 160*(framesResumed-framesBeforePause+1)
	if _, gap, ssrcs := s1.samples(); gap < max(minGap, 160) || gap > maxGap || ssrcs != 1 {
		t.Errorf("after resume: gap %d samples (want the pause: %d to %d, from the frames written meanwhile), %d SSRCs (want 1)", gap, minGap, maxGap, ssrcs)
	}
	if _, err := m.Resume(ctx); !errors.Is(err, ErrNotPaused) {
		t.Errorf("second Resume: %v, want ErrNotPaused", err)
	}

	res, err := m.Stop(ctx)
	if err != nil || len(res) != 1 || res[0].StatusCode != 200 {
		t.Fatalf("Stop = %v, %v", res, err)
	}
	cancel()
	<-done
	srv.wait(t)
	if m.Recording() {
		t.Error("Recording() after Stop")
	}
	if _, err := m.Stop(context.Background()); !errors.Is(err, ErrNotRecording) {
		t.Errorf("Stop after Stop: %v, want ErrNotRecording", err)
	}

	// What the recorder received: the recording ID in the header and in the
	// metadata, two sendonly streams, then inactive, then sendonly again.
	msgs := srv.messages()
	if missing, ok := containsAll(msgs,
		"X-Srs-Recording-ID: rec-42",
		`<recordingID xmlns="urn:x-voicegw:siprec:1">rec-42</recordingID>`,
		"sip:alice@example.com", "Content-Disposition: recording-session",
		"a=inactive", "BYE sip:srs@127.0.0.1"); !ok {
		t.Errorf("the recorder did not receive %q; messages:\n%s", missing, tail(msgs, 8000))
	}
	if n := strings.Count(msgs, "INVITE sip:"); n != 3 {
		t.Errorf("the recorder received %d INVITEs, want 3 (start, pause, resume)", n)
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", logs)
	}
}

// Three recorders in parallel, one of which refuses: Start succeeds, the
// refusal is reported with its status, and both accepting recorders get
// both streams.
func TestClientThreeRecordersOneRefuses(t *testing.T) {
	c, _ := newTestClient(t, ClientConfig{})
	sinks := [][2]*sink{{newSink(t), newSink(t)}, {newSink(t), newSink(t)}}
	a := startSRS(t, "srs_uas.xml", map[string]string{"srs_p1": itoa(sinks[0][0].port()), "srs_p2": itoa(sinks[0][1].port())})
	refuse := startSRS(t, "srs_refuse.xml", nil)
	b := startSRS(t, "srs_uas.xml", map[string]string{"srs_p1": itoa(sinks[1][0].port()), "srs_p2": itoa(sinks[1][1].port())})
	m := newTestManager(t, c, ManagerConfig{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	list, err := ParseURIList(a.uri.String() + ", " + refuse.uri.String() + "," + b.uri.String())
	if err != nil {
		t.Fatal(err)
	}
	results, err := m.Start(ctx, StartRequest{Recorders: list})
	if err != nil {
		t.Fatalf("Start with one refusing recorder of three: %v", err)
	}
	if len(results) != 3 || !results[0].OK() || !results[2].OK() {
		t.Fatalf("results = %v", results)
	}
	var re *RecorderError
	if r := results[1]; r.OK() || r.StatusCode != 488 || !errors.As(r.Err, &re) || !errors.Is(r.Err, ErrRefused) || re.URI != refuse.uri || re.Op != "start" {
		t.Fatalf("the refusing recorder's result = %+v (err %v), want a 488 RecorderError matching ErrRefused", r, r.Err)
	}
	if !strings.Contains(results[1].Err.Error(), "488 Not Acceptable Here") {
		t.Errorf("the refusal does not say why: %v", results[1].Err)
	}
	if got := len(m.Recorders()); got != 2 {
		t.Fatalf("%d live recorders, want 2", got)
	}
	done := pump(ctx, m)
	for i, pair := range sinks {
		for j, s := range pair {
			pcm := s.waitSamples(t, 2400)
			if f, want := frequency(pcm[800:]), 440.0*float64(j+1); f < want-20 || f > want+20 {
				t.Errorf("recorder %d stream %d: %.0f Hz, want %.0f Hz", i+1, j+1, f, want)
			}
		}
	}
	if _, err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	a.wait(t)
	b.wait(t)
	refuse.wait(t)
}

// Every recorder refuses: Start fails with every refusal in the error, and
// nothing is recording.
func TestClientAllRecordersRefuse(t *testing.T) {
	c, _ := newTestClient(t, ClientConfig{})
	r488 := startSRS(t, "srs_refuse.xml", nil)
	r503 := startSRS(t, refusing(t, 503, "Service Unavailable"), nil)
	m := newTestManager(t, c, ManagerConfig{})

	results, err := m.Start(t.Context(), StartRequest{Recorders: URIList{r488.uri, r503.uri}})
	if !errors.Is(err, ErrAllRecordersFailed) || !errors.Is(err, ErrRefused) {
		t.Fatalf("Start = %v, want ErrAllRecordersFailed and ErrRefused", err)
	}
	for _, want := range []string{"488 Not Acceptable Here", "503 Service Unavailable"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not report %q: %v", want, err)
		}
	}
	if len(results) != 2 || results[0].StatusCode != 488 || results[1].StatusCode != 503 {
		t.Errorf("results = %v", results)
	}
	if m.Recording() {
		t.Error("Recording() after a failed Start")
	}
	if _, err := m.Pause(t.Context()); !errors.Is(err, ErrNotRecording) {
		t.Errorf("Pause after a failed Start: %v, want ErrNotRecording", err)
	}
	r488.wait(t)
	r503.wait(t)
}

// A recorder that hangs up mid-call ends only its own dialog: the other
// recorder keeps receiving, OnRecorderEnded tells which one left, and Stop
// sends BYE to the remaining one only.
func TestClientRecorderHangsUp(t *testing.T) {
	c, logs := newTestClient(t, ClientConfig{})
	stay1, stay2, leave1, leave2 := newSink(t), newSink(t), newSink(t), newSink(t)
	stay := startSRS(t, "srs_uas.xml", map[string]string{"srs_p1": itoa(stay1.port()), "srs_p2": itoa(stay2.port())})
	leave := startSRS(t, "srs_bye.xml", map[string]string{"srs_p1": itoa(leave1.port()), "srs_p2": itoa(leave2.port())}, "-d", "600")
	ended := make(chan RecorderStatus, 1)
	m := newTestManager(t, c, ManagerConfig{OnRecorderEnded: func(s RecorderStatus) { ended <- s }})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if _, err := m.Start(ctx, StartRequest{Recorders: URIList{stay.uri, leave.uri}}); err != nil {
		t.Fatal(err)
	}
	done := pump(ctx, m)
	leave1.waitSamples(t, 800)

	select {
	case s := <-ended:
		if s.URI != leave.uri || s.CallID == "" {
			t.Errorf("OnRecorderEnded(%+v), want the recorder at %s", s, leave.uri)
		}
		// The status is the dialog's last: what was sent to it still counts
		// (leave1 received at least 800 samples, 5 packets).
		if len(s.Streams) != 2 || s.Streams[0].Packets < 5 || s.Streams[1].Packets < 5 {
			t.Errorf("OnRecorderEnded streams %+v, want 2 with the packets sent to them", s.Streams)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the recorder's BYE did not end its dialog")
	}
	leave.wait(t) // sipp got its 200 to the BYE
	if st := m.Recorders(); len(st) != 1 || st[0].URI != stay.uri {
		t.Fatalf("Recorders() = %+v, want only %s", st, stay.uri)
	}
	if !m.Recording() {
		t.Fatal("the call stopped recording when one of two recorders hung up")
	}
	time.Sleep(100 * time.Millisecond)
	left, _, _ := leave1.samples()
	n, _, _ := stay1.samples()
	stay1.waitSamples(t, len(n)+1600)
	if after, _, _ := leave1.samples(); len(after) != len(left) {
		t.Errorf("the recorder that hung up still gets audio (%d more samples)", len(after)-len(left))
	}
	res, err := m.Stop(ctx)
	if err != nil || len(res) != 1 || res[0].URI != stay.uri {
		t.Fatalf("Stop = %v, %v: want one BYE, to %s", res, err, stay.uri)
	}
	cancel()
	<-done
	stay.wait(t)
	if !strings.Contains(logs.String(), "recording server ended its dialog") {
		t.Errorf("the hang-up is not logged:\n%s", logs)
	}
}

// When the only recorder hangs up, the call is no longer recording.
func TestClientOnlyRecorderHangsUp(t *testing.T) {
	c, _ := newTestClient(t, ClientConfig{})
	s1, s2 := newSink(t), newSink(t)
	leave := startSRS(t, "srs_bye.xml", map[string]string{"srs_p1": itoa(s1.port()), "srs_p2": itoa(s2.port())}, "-d", "200")
	m := newTestManager(t, c, ManagerConfig{})
	if _, err := m.Start(t.Context(), StartRequest{Recorders: URIList{leave.uri}}); err != nil {
		t.Fatal(err)
	}
	leave.wait(t)
	deadline := time.Now().Add(2 * time.Second)
	for m.Recording() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if m.Recording() {
		t.Fatal("still recording after the only recorder hung up")
	}
	if _, err := m.Stop(t.Context()); !errors.Is(err, ErrNotRecording) {
		t.Errorf("Stop: %v, want ErrNotRecording", err)
	}
}

// The recorder's in-dialog requests are answered: an offerless re-INVITE
// (session refresh) gets our SDP offer, answered in the ACK; OPTIONS gets
// 200 with the current SDP; a new offer moving a stream gets a sendonly
// answer, and the stream follows to its new port.
func TestClientAnswersRecorderRequests(t *testing.T) {
	c, _ := newTestClient(t, ClientConfig{})
	s1, s2, s3 := newSink(t), newSink(t), newSink(t)
	srv := startSRS(t, "srs_refresh.xml", map[string]string{"srs_p1": itoa(s1.port()), "srs_p2": itoa(s2.port()), "srs_p3": itoa(s3.port())}, "-d", "300")
	m := newTestManager(t, c, ManagerConfig{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if _, err := m.Start(ctx, StartRequest{Recorders: URIList{srv.uri}}); err != nil {
		t.Fatal(err)
	}
	done := pump(ctx, m)
	pcm := s3.waitSamples(t, 1600) // stream 2 moved to the third port
	if f := frequency(pcm[160:]); f < 860 || f > 900 {
		t.Errorf("stream 2 at its new port: %.0f Hz, want 880 Hz", f)
	}
	s1.waitSamples(t, 4000)
	if st := m.Recorders(); len(st) != 1 || st[0].Streams[1].Remote.Port() != uint16(s3.port()) {
		t.Errorf("Recorders() = %+v, want stream 2 at port %d", st, s3.port())
	}
	if _, err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	srv.wait(t)
}

// Digest: the recorder challenges the INVITE and accepts it with the
// client's credentials; with a wrong password it refuses (403), and the
// password shows up in no log.
func TestClientDigest(t *testing.T) {
	for _, tc := range []struct {
		name, password string
		status         int
	}{
		{"right password", "s3cret-SRC", 200},
		{"wrong password", "not-the-password", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, logs := newTestClient(t, ClientConfig{Username: "src", Password: secret.String(tc.password)})
			s1, s2 := newSink(t), newSink(t)
			srv := startSRS(t, "srs_auth.xml", map[string]string{"srs_p1": itoa(s1.port()), "srs_p2": itoa(s2.port())})
			m := newTestManager(t, c, ManagerConfig{})
			results, err := m.Start(t.Context(), StartRequest{Recorders: URIList{srv.uri}})
			if len(results) != 1 || results[0].StatusCode != tc.status {
				t.Fatalf("Start = %v, %v: want status %d", results, err, tc.status)
			}
			if tc.status == 200 {
				if err != nil {
					t.Fatal(err)
				}
				if _, err := m.Stop(t.Context()); err != nil {
					t.Fatal(err)
				}
			} else if !errors.Is(err, ErrRefused) {
				t.Fatalf("Start = %v, want ErrRefused", err)
			}
			srv.wait(t)
			if strings.Contains(logs.String(), tc.password) {
				t.Errorf("the password appears in the logs")
			}
			if msgs := srv.messages(); !strings.Contains(msgs, `Authorization: Digest username="src"`) {
				t.Errorf("no Authorization in the second INVITE:\n%s", tail(msgs, 4000))
			}
		})
	}
}

// A recorder that rings and never answers is cancelled after the answer
// timeout and reported as ErrNoAnswer; the other recorder's start is not
// held up beyond that.
func TestClientNoAnswerIsCancelled(t *testing.T) {
	c, _ := newTestClient(t, ClientConfig{AnswerTimeout: 700 * time.Millisecond})
	srv := startSRS(t, "srs_noanswer.xml", nil)
	m := newTestManager(t, c, ManagerConfig{})
	results, err := m.Start(t.Context(), StartRequest{Recorders: URIList{srv.uri}})
	if !errors.Is(err, ErrAllRecordersFailed) || !errors.Is(err, ErrNoAnswer) {
		t.Fatalf("Start = %v, want ErrAllRecordersFailed and ErrNoAnswer", err)
	}
	if len(results) != 1 || results[0].StatusCode != 0 {
		t.Errorf("results = %v", results)
	}
	srv.wait(t) // sipp saw the CANCEL and had its 487 ACKed
}

// Pause and resume when recorders refuse re-INVITEs: with one of two
// refusing, the pause holds (nothing is sent to either) and the refusal is
// reported; with every recorder refusing, the pause is rolled back and the
// audio flows again.
func TestClientPauseRefused(t *testing.T) {
	c, _ := newTestClient(t, ClientConfig{})
	t.Run("one of two refuses", func(t *testing.T) {
		ok1, ok2, no1, no2 := newSink(t), newSink(t), newSink(t), newSink(t)
		okSRS := startSRS(t, "srs_uas.xml", map[string]string{"srs_p1": itoa(ok1.port()), "srs_p2": itoa(ok2.port())})
		noSRS := startSRS(t, "srs_noreinvite.xml", map[string]string{"srs_p1": itoa(no1.port()), "srs_p2": itoa(no2.port())})
		m := newTestManager(t, c, ManagerConfig{})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		if _, err := m.Start(ctx, StartRequest{Recorders: URIList{okSRS.uri, noSRS.uri}}); err != nil {
			t.Fatal(err)
		}
		done := pump(ctx, m)
		no1.waitSamples(t, 800)
		res, err := m.Pause(ctx)
		if err != nil || !res[0].OK() || res[1].StatusCode != 488 || !errors.Is(res[1].Err, ErrRefused) {
			t.Fatalf("Pause = %v, %v: want the first accepted, the second refused with 488", res, err)
		}
		time.Sleep(100 * time.Millisecond)
		a, _, _ := ok1.samples()
		b, _, _ := no1.samples()
		time.Sleep(300 * time.Millisecond)
		if a2, _, _ := ok1.samples(); len(a2) != len(a) {
			t.Error("audio reached the recorder that accepted the pause")
		}
		if b2, _, _ := no1.samples(); len(b2) != len(b) {
			t.Error("audio reached the recorder that refused the pause while the call is paused")
		}
		if _, err := m.Resume(ctx); err != nil { // the first accepts, the second refuses but never stopped
			t.Fatal(err)
		}
		ok1.waitSamples(t, len(a)+800)
		no1.waitSamples(t, len(b)+800)
		if _, err := m.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		<-done
		okSRS.wait(t)
		noSRS.wait(t)
	})
	t.Run("all refuse", func(t *testing.T) {
		s1, s2 := newSink(t), newSink(t)
		srv := startSRS(t, "srs_noreinvite.xml", map[string]string{"srs_p1": itoa(s1.port()), "srs_p2": itoa(s2.port())})
		m := newTestManager(t, c, ManagerConfig{})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		if _, err := m.Start(ctx, StartRequest{Recorders: URIList{srv.uri}}); err != nil {
			t.Fatal(err)
		}
		done := pump(ctx, m)
		_, err := m.Pause(ctx)
		if !errors.Is(err, ErrAllRecordersFailed) || !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "488") {
			t.Fatalf("Pause = %v, want ErrAllRecordersFailed with the 488", err)
		}
		if m.Paused() {
			t.Fatal("Paused() after a pause every recorder refused: not rolled back")
		}
		n, _, _ := s1.samples()
		s1.waitSamples(t, len(n)+1600) // the audio still flows
		if _, err := m.Resume(ctx); !errors.Is(err, ErrNotPaused) {
			t.Errorf("Resume after the rolled-back pause = %v, want ErrNotPaused", err)
		}
		if _, err := m.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		<-done
		srv.wait(t)
	})
}

// The project's reference sipp recording server (testdata/siprec_srs_uas.xml,
// unchanged from the shared peers) accepts the client's INVITE: it checks
// the SIPREC markers, answers stream 1 on sipp's own media port and stream
// 2 on ours, which hears the second tone.
func TestClientAgainstPeerScenario(t *testing.T) {
	c, _ := newTestClient(t, ClientConfig{})
	s2 := newSink(t)
	srv := startSRS(t, "siprec_srs_uas.xml", map[string]string{"srs_p2": itoa(s2.port())}, "-mp", itoa(testenv.FreeUDPPortPair(t)))
	m := newTestManager(t, c, ManagerConfig{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if _, err := m.Start(ctx, StartRequest{Recorders: URIList{srv.uri}}); err != nil {
		t.Fatal(err)
	}
	done := pump(ctx, m)
	if f := frequency(s2.waitSamples(t, 2400)[800:]); f < 860 || f > 900 {
		t.Errorf("stream 2: %.0f Hz, want 880 Hz", f)
	}
	if _, err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	srv.wait(t)
}

// Glare: the recorder's re-INVITE crosses our pause re-INVITE; we answer
// it 491 Request Pending (RFC 3261 §14.2) and our pause goes through.
func TestClientReInviteGlare(t *testing.T) {
	c, _ := newTestClient(t, ClientConfig{})
	s1, s2 := newSink(t), newSink(t)
	srv := startSRS(t, "srs_glare.xml", map[string]string{"srs_p1": itoa(s1.port()), "srs_p2": itoa(s2.port())})
	m := newTestManager(t, c, ManagerConfig{})
	if _, err := m.Start(t.Context(), StartRequest{Recorders: URIList{srv.uri}}); err != nil {
		t.Fatal(err)
	}
	if res, err := m.Pause(t.Context()); err != nil || res[0].StatusCode != 200 {
		t.Fatalf("Pause = %v, %v", res, err)
	}
	if _, err := m.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv.wait(t)
	if msgs := srv.messages(); !strings.Contains(msgs, "SIP/2.0 491 Request Pending") {
		t.Errorf("no 491 to the crossing re-INVITE:\n%s", tail(msgs, 4000))
	}
}

// Over IPv6 loopback: Via, Contact and the Request-URI carry bracketed
// addresses, and sipp accepts and ends the session.
func TestClientIPv6(t *testing.T) {
	if l, err := net.Listen("tcp", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	} else {
		_ = l.Close()
	}
	c, _ := newTestClient(t, ClientConfig{ListenAddr: netip.MustParseAddrPort("[::1]:0")})
	s1, s2 := newSink(t), newSink(t)
	srv := startSRSOn(t, "::1", "srs_uas.xml", map[string]string{"srs_p1": itoa(s1.port()), "srs_p2": itoa(s2.port())})
	m := newTestManager(t, c, ManagerConfig{})
	if _, err := m.Start(t.Context(), StartRequest{Recorders: URIList{srv.uri}}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv.wait(t)
	if missing, ok := containsAll(srv.messages(), "INVITE sip:srs@[::1]:", "Via: SIP/2.0/TCP [::1]:", "Contact: <sip:src@[::1]:", "c=IN IP6 ::1"); !ok {
		t.Errorf("the INVITE lacks %q:\n%s", missing, tail(srv.messages(), 3000))
	}
}
