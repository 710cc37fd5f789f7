package siprec

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/voicegw/voicegw/media"
)

// clientSRSConfig is the Server configuration of these tests: a port pool
// of 128 free pairs between 30000 and 32767 (see freePortPool).
func clientSRSConfig(t *testing.T) Config {
	t.Helper()
	return Config{Ports: freePortPool(t, 30000, 32768, 128)}
}

// sinkPCM joins a label's audio deliveries at a srsSink.
func sinkPCM(k *srsSink, label string) []int16 {
	var pcm []int16
	for _, c := range k.chunks(label) {
		pcm = append(pcm, c.pcm...)
	}
	return pcm
}

// The recording client against the package's own recording server (issue
// 6): the session starts with the recording ID and participants in the
// metadata, each stream's tone arrives decoded at the server's sink, pause
// and resume reach the sink as such (the pause as a gap of its length),
// and Stop ends the session with BYE. The URI has no transport: the INVITE
// is too large for UDP and moves to TCP by itself.
func TestClientAgainstServer(t *testing.T) {
	e := newSRSEnv(t, clientSRSConfig(t))
	c, _ := newTestClient(t, ClientConfig{})
	m := newTestManager(t, c, ManagerConfig{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	uri := mustParseURI(fmt.Sprintf("sip:srs@127.0.0.1:%d", e.port))
	res, err := m.Start(ctx, StartRequest{Recorders: URIList{uri}, RecordingID: "rec-srs-1"})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Target.Transport != TransportUDP {
		t.Errorf("RFC 3263 chose %q for an IP without transport, want udp (the size moves it to TCP)", res[0].Target.Transport)
	}
	k := e.sinks.wait(t)
	if k.startRecID != "rec-srs-1" {
		t.Errorf("the server got recording ID %q, want rec-srs-1", k.startRecID)
	}
	if tr := k.sess.Transport(); tr != "TCP" {
		t.Errorf("the session runs over %q, want TCP (the INVITE does not fit UDP)", tr)
	}
	if len(k.startLabels) != 2 || k.startLabels[0] != "1" || k.startLabels[1] != "2" {
		t.Errorf("streams %v, want labels 1 and 2", k.startLabels)
	}
	aors := map[string]string{}
	for _, p := range k.startParts {
		if len(p.Send) == 1 {
			aors[p.Send[0]] = p.Participant.AOR()
		}
	}
	if aors["1"] != "sip:alice@example.com" || aors["2"] != "sip:bob@example.com" {
		t.Errorf("senders per label %v, want alice on 1 and bob on 2", aors)
	}

	done := pump(ctx, m)
	srsEventually(t, "both streams' audio at the sink", func() bool {
		return k.audioSamples("1") >= 4000 && k.audioSamples("2") >= 4000
	})
	for i, label := range []string{"1", "2"} {
		pcm := sinkPCM(k, label)
		if f, want := frequency(pcm[800:]), 440.0*float64(i+1); f < want-20 || f > want+20 {
			t.Errorf("stream %s at the server's sink: %.0f Hz, want %.0f Hz", label, f, want)
		}
	}

	if _, err := m.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	srsEventually(t, "the sink told of the pause", func() bool { _, ok := k.find("pause"); return ok })
	if !k.sess.Paused() {
		t.Error("the server's session is not paused")
	}
	paused := time.Now()
	time.Sleep(500 * time.Millisecond)
	before := k.audioSamples("1")
	if _, err := m.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	pauseLen := time.Since(paused)
	srsEventually(t, "the sink told of the resume", func() bool { _, ok := k.find("resume"); return ok })
	srsEventually(t, "audio after the resume", func() bool { return k.audioSamples("1") >= before+1600 })
	// The pause is a gap of its length on the stream's timeline: the
	// timestamps kept running while nothing was sent.
	k.mu.Lock()
	var gap int64
	for _, g := range k.gaps["1"] {
		gap += g.Samples
	}
	k.mu.Unlock()
	if want := pauseLen.Seconds() * media.SampleRate; float64(gap) < want*0.8 {
		t.Errorf("gap of %d samples on stream 1, want about the pause's %.0f", gap, want)
	}

	if _, err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	if r := k.waitEnd(t); r != EndBye {
		t.Errorf("the session ended with %v, want %v", r, EndBye)
	}
	e.waitPortsFree()
}

// Two recording servers in parallel (two dialogs of one call),
// and each server hanging up: its BYE reaches the client's Contact, the
// recorder's dialog ends; when both have, the call stops recording.
func TestClientAgainstServerHangUp(t *testing.T) {
	e := newSRSEnv(t, clientSRSConfig(t))
	other := newSRSEnv(t, clientSRSConfig(t))
	c, _ := newTestClient(t, ClientConfig{})
	ended := make(chan RecorderStatus, 2)
	m := newTestManager(t, c, ManagerConfig{OnRecorderEnded: func(s RecorderStatus) { ended <- s }})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	a := mustParseURI(fmt.Sprintf("sip:127.0.0.1:%d;transport=tcp", e.port))
	b := mustParseURI(fmt.Sprintf("sip:127.0.0.1:%d;transport=tcp", other.port))
	if _, err := m.Start(ctx, StartRequest{Recorders: URIList{a, b}}); err != nil {
		t.Fatal(err)
	}
	ka, kb := e.sinks.wait(t), other.sinks.wait(t)
	done := pump(ctx, m)
	srsEventually(t, "audio at both servers", func() bool { return ka.audioSamples("2") > 800 && kb.audioSamples("2") > 800 })

	e.shutdown() // the first server hangs up: BYE to our Contact
	select {
	case s := <-ended:
		if s.URI != a {
			t.Errorf("OnRecorderEnded for %s, want %s", s.URI, a)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the server's BYE did not end the client's dialog")
	}
	if !m.Recording() || len(m.Recorders()) != 1 {
		t.Fatalf("after one server hung up: Recording %v, %d recorders; want the other still recording", m.Recording(), len(m.Recorders()))
	}
	n := kb.audioSamples("2")
	srsEventually(t, "audio at the remaining server", func() bool { return kb.audioSamples("2") > n+1600 })

	other.shutdown()
	srsEventually(t, "the call no longer recording", func() bool { return !m.Recording() })
	if _, err := m.Stop(ctx); !errors.Is(err, ErrNotRecording) {
		t.Errorf("Stop after every recorder hung up = %v, want ErrNotRecording", err)
	}
	cancel()
	<-done
}
