package siprec

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// Every error of seed 003 as a Manager user meets it: matchable with
// errors.Is, worded as the seed words it.
func TestManagerSeedErrors(t *testing.T) {
	c, logs := newTestClient(t, ClientConfig{})
	idle := newTestManager(t, c, ManagerConfig{})

	t.Run("no recorder URL", func(t *testing.T) {
		for _, req := range []StartRequest{{}, {Recorders: URIList{}}} {
			if _, err := idle.Start(t.Context(), req); !errors.Is(err, ErrNoRecorderURL) {
				t.Errorf("Start(%+v) = %v, want ErrNoRecorderURL", req, err)
			}
		}
		_, err := ParseURIList("")
		if !errors.Is(err, ErrNoRecorderURL) || !strings.Contains(err.Error(), "missing recording server URL (X-Srs-Url)") {
			t.Errorf("ParseURIList(\"\") = %v", err)
		}
	})
	t.Run("invalid recorder URL", func(t *testing.T) {
		for _, s := range []string{"wss://siprec.example.com", "https://siprec.example.com", "siprec.example.com", "10.0.0.5", "sip:a.example.com,ws://b.example.com"} {
			if _, err := ParseURIList(s); !errors.Is(err, ErrInvalidURI) {
				t.Errorf("ParseURIList(%q) = %v, want ErrInvalidURI", s, err)
			}
		}
		if _, err := idle.Start(t.Context(), StartRequest{Recorders: URIList{{}}}); !errors.Is(err, ErrInvalidURI) {
			t.Errorf("Start with a zero URI = %v, want ErrInvalidURI", err)
		}
		u := mustParseURI("sip:127.0.0.1:5060")
		if _, err := idle.Start(t.Context(), StartRequest{Recorders: URIList{u, u}}); !errors.Is(err, ErrInvalidURI) {
			t.Errorf("Start with a recorder twice = %v, want ErrInvalidURI", err)
		}
	})
	t.Run("stop, pause, resume when not recording", func(t *testing.T) {
		ops := map[string]func(context.Context) ([]RecorderResult, error){"Stop": idle.Stop, "Pause": idle.Pause, "Resume": idle.Resume}
		for name, op := range ops {
			if _, err := op(t.Context()); !errors.Is(err, ErrNotRecording) {
				t.Errorf("%s = %v, want ErrNotRecording", name, err)
			}
		}
	})

	t.Run("start while started, duplicate start in progress", func(t *testing.T) {
		s1, s2 := newSink(t), newSink(t)
		srv := startSRS(t, slowAccepting(t, 600*time.Millisecond), map[string]string{"srs_p1": itoa(s1.port()), "srs_p2": itoa(s2.port())})
		m := newTestManager(t, c, ManagerConfig{})
		req := StartRequest{Recorders: URIList{srv.uri}, RecordingID: "rec-1"}
		first := make(chan error, 1)
		go func() { _, err := m.Start(t.Context(), req); first <- err }()
		waitStarting(t, m) // the recorder takes 600 ms to answer
		_, err := m.Start(t.Context(), req)
		if !errors.Is(err, ErrDuplicateStart) || !strings.Contains(err.Error(), "discarding duplicate startCallRecording request") {
			t.Fatalf("Start during a start = %v, want ErrDuplicateStart", err)
		}
		select {
		case err := <-first:
			t.Fatalf("the first Start returned (%v) before the duplicate was refused: the test did not overlap them", err)
		default:
		}
		if err := <-first; err != nil {
			t.Fatalf("first Start: %v", err)
		}
		_, err = m.Start(t.Context(), req)
		if !errors.Is(err, ErrAlreadyStarted) || !strings.Contains(err.Error(), "Cannot start recording when recording is already started") {
			t.Fatalf("Start while started = %v, want ErrAlreadyStarted", err)
		}
		if _, err := m.Stop(t.Context()); err != nil {
			t.Fatal(err)
		}
		srv.wait(t)
		if n := strings.Count(srv.messages(), "INVITE sip:"); n != 1 {
			t.Errorf("the recorder got %d INVITEs, want 1: the duplicate and the second start must not reach it", n)
		}
		for _, line := range []string{"discarding duplicate startCallRecording request for a call", "Cannot start recording when recording is already started"} {
			if !strings.Contains(logs.String(), line) {
				t.Errorf("no log line %q", line)
			}
		}
	})

	t.Run("stop during a start", func(t *testing.T) {
		srv := startSRS(t, "srs_noanswer.xml", nil)
		m := newTestManager(t, c, ManagerConfig{})
		started := make(chan error, 1)
		go func() {
			_, err := m.Start(context.Background(), StartRequest{Recorders: URIList{srv.uri}})
			started <- err
		}()
		waitStarting(t, m)
		time.Sleep(100 * time.Millisecond) // the INVITE is out and ringing
		if _, err := m.Stop(t.Context()); err != nil {
			t.Errorf("Stop during a start = %v, want nil (the start is cancelled)", err)
		}
		if err := <-started; !errors.Is(err, ErrAllRecordersFailed) || !errors.Is(err, context.Canceled) {
			t.Errorf("the cancelled Start = %v, want ErrAllRecordersFailed wrapping context.Canceled", err)
		}
		srv.wait(t) // sipp got the CANCEL
		if m.Recording() {
			t.Error("recording after Stop")
		}
	})
}
