package siprec

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/internal/siptest"
	vsip "github.com/voicegw/voicegw/sip"
)

// sbc is the gateway side of the INFO tests: a sipgo server whose INFO
// handler is the InfoAdapter, with one Manager per Call-ID.
type sbc struct {
	addr string
	logs *logBuffer
	mu   sync.Mutex
	ms   map[string]*Manager
}

func startSBC(t *testing.T, c *Client) *sbc {
	t.Helper()
	s := &sbc{logs: &logBuffer{}, ms: map[string]*Manager{}}
	srv, _ := siptest.NewServer(t, siptest.Config{NoHost: true})
	a := &InfoAdapter{
		Logger: s.logs.logger(),
		Manager: func(_ context.Context, req *sipgosip.Request) (*Manager, error) {
			id := req.CallID().Value()
			if strings.HasPrefix(id, "unknown-") {
				return nil, errors.New("no such call")
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if m := s.ms[id]; m != nil {
				return m, nil
			}
			m := newTestManager(t, c, ManagerConfig{})
			s.ms[id] = m
			return m, nil
		},
	}
	srv.OnInfo(vsip.Handler(a.Handle).Sipgo(t.Context()))
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = pc.LocalAddr().String()
	go func() { _ = srv.ServeUDP(pc) }()
	t.Cleanup(func() { _ = pc.Close() })
	return s
}

// controller is the call controller: it sends INFO requests to the SBC.
type controller struct {
	t   *testing.T
	c   *sipgo.Client
	sbc *sbc
}

func newController(t *testing.T, s *sbc) *controller {
	c, _ := siptest.NewClient(t, siptest.Config{})
	return &controller{t: t, c: c, sbc: s}
}

// info sends an INFO of call callID with headers ("Name: value") and
// returns the response.
func (c *controller) info(callID string, headers ...string) *sipgosip.Response {
	c.t.Helper()
	res, err := c.tryInfo(callID, headers...)
	if err != nil {
		c.t.Fatalf("INFO %v: %v", headers, err)
	}
	return res
}

// tryInfo is info for other goroutines than the test's.
func (c *controller) tryInfo(callID string, headers ...string) (*sipgosip.Response, error) {
	host, port, _ := net.SplitHostPort(c.sbc.addr)
	var p int
	fmt.Sscan(port, &p)
	req := sipgosip.NewRequest(sipgosip.INFO, sipgosip.Uri{Scheme: "sip", User: "sbc", Host: host, Port: p})
	cid := sipgosip.CallIDHeader(callID)
	req.AppendHeader(&cid)
	from := &sipgosip.FromHeader{Address: sipgosip.Uri{Scheme: "sip", User: "fs", Host: "127.0.0.1"}}
	from.Params.Add("tag", "fs-tag")
	req.AppendHeader(from)
	to := &sipgosip.ToHeader{Address: sipgosip.Uri{Scheme: "sip", User: "sbc", Host: host}}
	to.Params.Add("tag", "sbc-tag")
	req.AppendHeader(to)
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ":")
		req.AppendHeader(sipgosip.NewHeader(name, strings.TrimSpace(value)))
	}
	ctx, cancel := context.WithTimeout(c.t.Context(), 15*time.Second)
	defer cancel()
	return c.c.Do(ctx, req)
}

// slowAccepting returns a copy of srs_uas.xml that waits d before
// answering the INVITE.
func slowAccepting(t testing.TB, d time.Duration) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "srs_uas.xml"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "  </recv>\n\n  <send>", fmt.Sprintf("  </recv>\n\n  <pause milliseconds=\"%d\"/>\n\n  <send>", d.Milliseconds()), 1)
	if s == string(b) {
		t.Fatal("srs_uas.xml changed: no place for the pause")
	}
	p := filepath.Join(t.TempDir(), "srs_slow.xml")
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The INFO adapter answers every seed-003 case, one call after another.
func TestInfoAdapter(t *testing.T) {
	c, _ := newTestClient(t, ClientConfig{})
	s := startSBC(t, c)
	fs := newController(t, s)
	sinks := []*sink{newSink(t), newSink(t)}
	keys := map[string]string{"srs_p1": itoa(sinks[0].port()), "srs_p2": itoa(sinks[1].port())}
	slow := startSRS(t, slowAccepting(t, 700*time.Millisecond), keys)
	refuser := startSRS(t, "srs_refuse.xml", nil)

	type step struct {
		name    string
		callID  string
		headers []string
		code    int
		phrase  string // in the reason phrase
		warning string // in the Warning header
		log     string // in the adapter's log
	}
	steps := []step{
		{"start without X-Srs-Url", "call-1", []string{"X-Reason: startCallRecording"}, 400, "Missing X-Srs-Url", "", "startCallRecording request is missing X-Srs-Url header"},
		{"start with an empty X-Srs-Url", "call-1", []string{"X-Reason: startCallRecording", "X-Srs-Url: "}, 400, "Missing X-Srs-Url", "", "startCallRecording request is missing X-Srs-Url header"},
		{"start with a WebSocket URL", "call-1", []string{"X-Reason: startCallRecording", "X-Srs-Url: wss://siprec.example.com"}, 503, "Service Unavailable", "WebSocket URLs (wss://) are not supported", "invalid X-Srs-Url"},
		{"start with an HTTPS URL", "call-1", []string{"X-Reason: startCallRecording", "X-Srs-Url: https://siprec.example.com"}, 503, "", "HTTP URLs", "invalid X-Srs-Url"},
		{"start with a password in the URI", "call-1", []string{"X-Reason: startCallRecording", "X-Srs-Url: sip:src:hunter2@srs.example.com"}, 503, "", `'sip:src:***@srs.example.com' (item 1, column 8): a password in the URI`, `x_srs_url=sip:src:***@srs.example.com`},
		{"start with a password split by a comma", "call-1", []string{"X-Reason: startCallRecording", "X-Srs-Url: sip:srs1.example.com, sip:src:hunter,2@srs.example.com"}, 503, "", `'sip:src:***@srs.example.com' (item 2, column 26): a password in the URI`, `x_srs_url="sip:srs1.example.com, sip:***@srs.example.com"`},
		{"start with a bare host", "call-1", []string{"X-Reason: startCallRecording", "X-Srs-Url: 10.0.0.5"}, 503, "", "the sip: or sips: scheme is missing", "invalid X-Srs-Url"},
		{"stop when not recording", "call-1", []string{"X-Reason: stopCallRecording"}, 400, "Not Recording", "", "discarding stopCallRecording request because we are not recording"},
		{"pause when not recording", "call-1", []string{"X-Reason: pauseCallRecording"}, 400, "Not Recording", "", "discarding invalid pauseCallRecording request"},
		{"resume when not recording", "call-1", []string{"X-Reason: resumeCallRecording"}, 400, "Not Recording", "", "discarding invalid resumeCallRecording request"},
		{"start, every recorder refusing", "call-2", []string{"X-Reason: startCallRecording", "X-Srs-Url: " + refuser.uri.String()}, 503, "", "488 Not Acceptable Here", "startCallRecording failed"},
		{"unknown call", "unknown-1", []string{"X-Reason: stopCallRecording"}, 481, "", "", "request for an unknown call"},
		{"another X-Reason", "call-1", []string{"X-Reason: muteCall"}, 400, "Unsupported X-Reason", "", ""},
	}
	// check checks a step's response, and the log lines written since mark
	// (the log's length when the step began): a line an earlier step wrote
	// does not count.
	check := func(st step, res *sipgosip.Response, mark int) {
		t.Helper()
		if res.StatusCode != st.code || !strings.Contains(res.Reason, st.phrase) {
			t.Errorf("%s: %d %s, want %d %s", st.name, res.StatusCode, res.Reason, st.code, st.phrase)
		}
		if st.warning != "" {
			if h := res.GetHeader("Warning"); h == nil || !strings.Contains(h.Value(), st.warning) {
				t.Errorf("%s: Warning %v, want one saying %q", st.name, h, st.warning)
			}
		}
		// A password given in X-Srs-Url shows nowhere: not in the
		// response (its Warning), not in the log.
		if strings.Contains(res.String(), "hunter") || strings.Contains(s.logs.String(), "hunter") {
			t.Errorf("%s: the password shows in the response or the log:\n%s\n%s", st.name, res, s.logs)
		}
		if logged := s.logs.since(mark); st.log != "" && !strings.Contains(logged, st.log) {
			t.Errorf("%s: no log line %q in the step's log:\n%s", st.name, st.log, logged)
		}
	}
	for _, st := range steps {
		mark := s.logs.Len()
		check(st, fs.info(st.callID, st.headers...), mark)
	}
	refuser.wait(t)

	// A start, and a duplicate while it is in progress (the recorder takes
	// 700 ms to answer): the duplicate is discarded, the recording starts
	// once.
	start := []string{"X-Reason: startCallRecording", "X-Srs-Url: " + slow.uri.String(), "X-Srs-Recording-ID: rec-7"}
	first := make(chan *sipgosip.Response, 1)
	startMark := s.logs.Len()
	go func() {
		res, err := fs.tryInfo("call-3", start...)
		if err != nil {
			res = sipgosip.NewResponse(0, err.Error())
		}
		first <- res
	}()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		s.mu.Lock()
		m := s.ms["call-3"]
		s.mu.Unlock()
		if m != nil {
			waitStarting(t, m)
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	mark := s.logs.Len()
	check(step{"duplicate start in progress", "call-3", start, 400, "Duplicate Start Discarded", "", "discarding duplicate startCallRecording request for a call"}, fs.info("call-3", start...), mark)
	check(step{"start", "call-3", start, 200, "OK", "", `msg="siprec: startCallRecording" call_id=call-3 command=startCallRecording x_srs_url="` + slow.uri.String() + `" recording_id=rec-7 accepted=1 recorders=1`}, <-first, startMark)
	for _, st := range []step{
		{"start when started", "call-3", start, 400, "Duplicate Start Discarded", "", "Cannot start recording when recording is already started"},
		{"pause", "call-3", []string{"X-Reason: pauseCallRecording"}, 200, "OK", "", `msg="siprec: pauseCallRecording" call_id=call-3 command=pauseCallRecording accepted=1 recorders=1`},
		{"pause when paused", "call-3", []string{"X-Reason: pauseCallRecording"}, 400, "Already Paused", "", "discarding invalid pauseCallRecording request"},
		{"resume", "call-3", []string{"X-Reason: resumeCallRecording"}, 200, "OK", "", `msg="siprec: resumeCallRecording" call_id=call-3 command=resumeCallRecording accepted=1 recorders=1`},
		{"resume when not paused", "call-3", []string{"X-Reason: resumeCallRecording"}, 400, "Not Paused", "", "discarding invalid resumeCallRecording request"},
		{"stop", "call-3", []string{"X-Reason: stopCallRecording"}, 200, "OK", "", `msg="siprec: stopCallRecording" call_id=call-3`},
	} {
		mark := s.logs.Len()
		check(st, fs.info(st.callID, st.headers...), mark)
	}
	slow.wait(t)
	if msgs := slow.messages(); strings.Count(msgs, "INVITE sip:") != 3 || !strings.Contains(msgs, "X-Srs-Recording-ID: rec-7") {
		t.Errorf("the recorder got %d INVITEs (want 3: start, pause, resume; the duplicate start must not reach it) or no recording ID:\n%s",
			strings.Count(msgs, "INVITE sip:"), tail(msgs, 5000))
	}
}
