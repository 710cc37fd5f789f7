package siprec

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/internal/siptest"
	"github.com/voicegw/voicegw/media"
	"github.com/voicegw/voicegw/sip"
	"github.com/voicegw/voicegw/siprec/metadata"
)

// This file holds the SRS tests' harness: a sipgo server on loopback with a
// Server registered, and a sink that records everything it is told.

var srsDiscard = slog.New(slog.DiscardHandler)

// srsTestLogger returns a logger for the Server under test: discarded unless
// SRS_TEST_LOG is set, which helps when a test fails.
func srsTestLogger(t *testing.T) *slog.Logger {
	if os.Getenv("SRS_TEST_LOG") == "" {
		return srsDiscard
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
}

// srsEnv is a recording server under test: a sipgo server on 127.0.0.1
// (UDP and TCP on one port) with a Server registered.
type srsEnv struct {
	t     *testing.T
	srs   *Server
	pool  *media.PortPool
	sinks *srsSinks
	addr  string // 127.0.0.1:port
	port  int
	sipgo *sipgo.Server // serves more listeners (TLS)
}

// srsPool returns a port pool of n pairs on 127.0.0.1 at a random place
// below the ephemeral range, so that parallel tests (and the other
// packages' tests on this machine) rarely meet. A range whose ports are not
// all free right now (another program holds them) is passed over for
// another, so a busy machine cannot turn a test into a 503.
func srsPool(t testing.TB, pairs int) *media.PortPool {
	t.Helper()
	return freePortPool(t, 10000, 30000, pairs)
}

// freePortPool returns a pool of pairs port pairs inside [min, max) whose
// every pair could be allocated when it was made.
func freePortPool(t testing.TB, min, max, pairs int) *media.PortPool {
	t.Helper()
	for range 50 {
		lo := min + 2*rand.IntN((max-min-2*pairs)/2)
		p, err := media.NewPortPool(media.PortPoolConfig{
			Address: netip.MustParseAddr("127.0.0.1"), MinPort: lo, MaxPort: lo + 2*pairs - 1,
		})
		if err != nil {
			t.Fatal(err)
		}
		eps := make([]*media.Endpoint, 0, pairs)
		for range pairs {
			ep, err := p.Allocate()
			if err != nil {
				break
			}
			eps = append(eps, ep)
		}
		for _, ep := range eps {
			_ = ep.Close()
		}
		if len(eps) == pairs {
			return p
		}
	}
	t.Fatalf("no range of %d free port pairs in [%d, %d) after 50 tries", pairs, min, max)
	return nil
}

// newSRSEnv starts a Server for cfg. cfg.Ports defaults to a 32-pair
// loopback pool and cfg.Sinks to a recording srsSinks; wrap wraps the
// handler (a Guard's Wrap).
func newSRSEnv(t *testing.T, cfg Config, wrap ...func(sip.Handler) sip.Handler) *srsEnv {
	t.Helper()
	e := &srsEnv{t: t}
	if cfg.Ports == nil {
		cfg.Ports = srsPool(t, 32)
	}
	e.pool = cfg.Ports
	if cfg.Sinks == nil {
		e.sinks = newSRSSinks()
		cfg.Sinks = e.sinks
	}
	if cfg.Logger == nil {
		cfg.Logger = srsTestLogger(t)
	}
	srs, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.srs = srs
	server, _ := siptest.NewServer(t, siptest.Config{})
	if err := srs.Register(t.Context(), server, wrap...); err != nil {
		t.Fatal(err)
	}
	e.sipgo = server
	pc, l := siptest.ListenBoth(t)
	e.port = pc.LocalAddr().(*net.UDPAddr).Port
	e.addr = pc.LocalAddr().String()
	go func() { _ = server.ServeUDP(pc) }()
	go func() { _ = server.ServeTCP(l) }()
	t.Cleanup(e.shutdown) // runs before siptest closes the listeners and the user agent
	return e
}

// shutdown shuts the Server down (again), not waiting long for BYEs to
// clients that may be gone.
func (e *srsEnv) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = e.srs.Shutdown(ctx)
}

// waitPortsFree fails t unless every port of the pool is back within a few
// seconds (sessions end in the background after a BYE is answered).
func (e *srsEnv) waitPortsFree() {
	e.t.Helper()
	srsEventually(e.t, "every RTP port back in the pool", func() bool { return e.pool.InUse() == 0 })
}

// srsEventually polls cond for up to 10 s.
func srsEventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// srsRejects records what Config.OnReject is told, as "CODE reason".
type srsRejects struct {
	mu  sync.Mutex
	got []string
}

func (r *srsRejects) onReject(_ context.Context, _ *sipgosip.Request, code int, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, fmt.Sprintf("%d %s", code, reason))
}

// want waits for the first report and checks that the reports are exactly
// want.
func (r *srsRejects) want(t *testing.T, want ...string) {
	t.Helper()
	srsEventually(t, "OnReject", func() bool { r.mu.Lock(); defer r.mu.Unlock(); return len(r.got) >= len(want) })
	r.mu.Lock()
	defer r.mu.Unlock()
	if !slices.Equal(r.got, want) {
		t.Errorf("OnReject got %q, want %q", r.got, want)
	}
}

// srsSinks is a SinkFactory that records every session it is given.
type srsSinks struct {
	// before, when set, runs first in NewSession; an error refuses the
	// session.
	before func(ctx context.Context, s *Session) error
	mu     sync.Mutex
	all    []*srsSink
	made   chan *srsSink
}

func newSRSSinks() *srsSinks { return &srsSinks{made: make(chan *srsSink, 64)} }

func (f *srsSinks) NewSession(ctx context.Context, s *Session) (SessionSink, error) {
	if f.before != nil {
		if err := f.before(ctx, s); err != nil {
			return nil, err
		}
	}
	k := &srsSink{
		sess:        s,
		startPaused: s.Paused(),
		startRecID:  s.RecordingID(),
		startParts:  s.Participants(),
		audio:       map[string][]srsChunk{},
		gaps:        map[string][]media.Gap{},
		dtmf:        map[string][]media.DTMF{},
		next:        map[string]int64{},
		ended:       make(chan struct{}),
	}
	for _, st := range s.Streams() {
		k.startLabels = append(k.startLabels, st.Label())
	}
	f.mu.Lock()
	f.all = append(f.all, k)
	f.mu.Unlock()
	f.made <- k
	return k, nil
}

// wait returns the next session made, or fails t.
func (f *srsSinks) wait(t *testing.T) *srsSink {
	t.Helper()
	select {
	case k := <-f.made:
		return k
	case <-time.After(10 * time.Second):
		t.Fatal("no session was made")
		return nil
	}
}

func (f *srsSinks) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.all)
}

// srsEvent is one event call a sink got.
type srsEvent struct {
	kind    string // add, remove, pause, resume, metadata, end
	label   string
	at      time.Time
	reason  EndReason
	changes []metadata.Change
}

// srsChunk is one Audio delivery, copied.
type srsChunk struct {
	pos     int64
	pcm     []int16
	arrival time.Time
}

// srsSink records what a session's sink is told.
type srsSink struct {
	sess        *Session
	startPaused bool
	startRecID  string
	startParts  []metadata.ParticipantStreams
	startLabels []string

	mu       sync.Mutex
	events   []srsEvent
	audio    map[string][]srsChunk
	gaps     map[string][]media.Gap
	dtmf     map[string][]media.DTMF
	next     map[string]int64 // timeline position each label's next delivery must start at
	problems []string
	ended    chan struct{}
	endCalls int
}

func (k *srsSink) event(e srsEvent) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.endCalls > 0 {
		k.problems = append(k.problems, fmt.Sprintf("%s after End", e.kind))
	}
	k.events = append(k.events, e)
}

func (k *srsSink) AddStream(st *Stream) media.Handler {
	k.event(srsEvent{kind: "add", label: st.Label()})
	return srsStreamRec{k: k, label: st.Label()}
}

func (k *srsSink) RemoveStream(st *Stream, at time.Time) {
	k.event(srsEvent{kind: "remove", label: st.Label(), at: at})
}

func (k *srsSink) Pause(at time.Time)  { k.event(srsEvent{kind: "pause", at: at}) }
func (k *srsSink) Resume(at time.Time) { k.event(srsEvent{kind: "resume", at: at}) }

func (k *srsSink) UpdateMetadata(changes []metadata.Change, current *metadata.Recording) {
	if current == nil || current.IsPartial() {
		k.mu.Lock()
		k.problems = append(k.problems, "UpdateMetadata without a complete current state")
		k.mu.Unlock()
	}
	k.event(srsEvent{kind: "metadata", changes: slices.Clone(changes)})
}

func (k *srsSink) End(reason EndReason, at time.Time) {
	k.event(srsEvent{kind: "end", reason: reason, at: at})
	k.mu.Lock()
	k.endCalls++
	if k.endCalls == 1 {
		close(k.ended)
	} else {
		k.problems = append(k.problems, "End called twice")
	}
	k.mu.Unlock()
}

// waitEnd waits for End and returns its reason.
func (k *srsSink) waitEnd(t *testing.T) EndReason {
	t.Helper()
	select {
	case <-k.ended:
	case <-time.After(15 * time.Second):
		t.Fatalf("session %s did not end; events %v", k.sess.ID(), k.kinds())
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, p := range k.problems {
		t.Errorf("sink: %s", p)
	}
	return k.events[len(k.events)-1].reason
}

// kinds returns the event kinds in order, with labels for stream events.
func (k *srsSink) kinds() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]string, len(k.events))
	for i, e := range k.events {
		out[i] = e.kind
		if e.label != "" {
			out[i] += " " + e.label
		}
	}
	return out
}

// find returns the first event of kind.
func (k *srsSink) find(kind string) (srsEvent, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, e := range k.events {
		if e.kind == kind {
			return e, true
		}
	}
	return srsEvent{}, false
}

// chunks returns a copy of a label's audio deliveries.
func (k *srsSink) chunks(label string) []srsChunk {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.audio[label])
}

// audioSamples returns how many audio samples a label got.
func (k *srsSink) audioSamples(label string) int {
	n := 0
	for _, c := range k.chunks(label) {
		n += len(c.pcm)
	}
	return n
}

// srsStreamRec is the media.Handler a srsSink gives each stream: it keeps
// the audio and checks that deliveries lay out one continuous timeline.
type srsStreamRec struct {
	k     *srsSink
	label string
}

func (r srsStreamRec) check(pos, n int64, what string) {
	if want := r.k.next[r.label]; pos != want {
		r.k.problems = append(r.k.problems, fmt.Sprintf("label %s: %s at %d, want %d", r.label, what, pos, want))
	}
	r.k.next[r.label] = pos + n
}

func (r srsStreamRec) HandleAudio(a media.Audio) {
	r.k.mu.Lock()
	defer r.k.mu.Unlock()
	r.check(a.Position, int64(len(a.PCM)), "audio")
	r.k.audio[r.label] = append(r.k.audio[r.label], srsChunk{pos: a.Position, pcm: slices.Clone(a.PCM), arrival: a.Arrival})
}

func (r srsStreamRec) HandleGap(g media.Gap) {
	r.k.mu.Lock()
	defer r.k.mu.Unlock()
	r.check(g.Position, g.Samples, "gap")
	r.k.gaps[r.label] = append(r.k.gaps[r.label], g)
}

func (r srsStreamRec) HandleDTMF(d media.DTMF) {
	r.k.mu.Lock()
	defer r.k.mu.Unlock()
	r.k.dtmf[r.label] = append(r.k.dtmf[r.label], d)
}

// srsMatchAudio checks that every audio chunk of a stream is the samples of
// want at the chunk's position plus one offset (the number of samples lost
// before the first delivered one, normally 0), and returns that offset.
func srsMatchAudio(t *testing.T, label string, chunks []srsChunk, want []int16) {
	t.Helper()
	if len(chunks) == 0 {
		t.Errorf("label %s: no audio", label)
		return
	}
	first := chunks[0]
	offset := int64(-1)
	for o := int64(0); o <= 1600; o += 160 {
		if srsEqualAt(want, first.pos+o, first.pcm) {
			offset = o
			break
		}
	}
	if offset < 0 {
		t.Errorf("label %s: the first audio (%d samples at %d) is not the file's audio", label, len(first.pcm), first.pos)
		return
	}
	for _, c := range chunks {
		if !srsEqualAt(want, c.pos+offset, c.pcm) {
			t.Errorf("label %s: audio at position %d (%d samples) differs from the file at %d", label, c.pos, len(c.pcm), c.pos+offset)
			return
		}
	}
}

func srsEqualAt(want []int16, pos int64, got []int16) bool {
	if pos < 0 || pos+int64(len(got)) > int64(len(want)) {
		return false
	}
	return slices.Equal(want[pos:pos+int64(len(got))], got)
}

// srsRawPCM decodes a headerless μ-law file of testdata.
func srsRawPCM(t *testing.T, name string) []int16 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "media", name))
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]int16, len(b))
	media.DecodePCMU(pcm, b)
	return pcm
}
