package recording

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voicegw/voicegw/media"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// TestMediaHandlerTimeline feeds MediaHandlers what a media.Receiver
// delivers and checks the file sample by sample: a stream is placed at the
// Arrival of its Position 0, gaps are silence of exactly their length, a
// stream placed by the caller keeps its place, and the PCM buffer is
// copied (media reuses it).
func TestMediaHandlerTimeline(t *testing.T) {
	r, path := newTestRecorder(t, Config{Streams: []StreamConfig{{Label: "caller"}, {Label: "callee"}, {Label: "announcement"}}})
	hs := make([]*MediaHandler, 3)
	for i := range hs {
		h, err := r.Stream(i).MediaHandler()
		must(t, err)
		if h2, _ := r.Stream(i).MediaHandler(); h2 != h || h.Stream() != r.Stream(i) {
			t.Fatal("MediaHandler is not the stream's one handler")
		}
		hs[i] = h
	}
	var handlers [3]media.Handler = [3]media.Handler{hs[0], hs[1], hs[2]}
	// The announcement is placed by the gateway itself, at 0.25 s.
	must(t, r.Stream(2).StartAt(2000))

	buf := make([]int16, 160) // media's reused buffer
	deliver := func(i int, pos int64, arrival time.Time, freq float64) {
		copy(buf, tone(freq, 8000, rate8k, pos, 160))
		handlers[i].HandleAudio(media.Audio{Position: pos, PCM: buf, Arrival: arrival, Encoding: media.EncodingPCMU})
		clear(buf) // what media does next with its buffer
	}
	m := newModel(2, 11920)
	mix := func(c int, at int64, pcm []int16) {
		for i, v := range pcm {
			m[c][at+int64(i)] = sat16(int32(m[c][at+int64(i)]) + int32(v))
		}
	}
	// Announcement: both channels (delivered first: the caller's audio
	// below runs a Window ahead of it).
	for k := int64(0); k < 5; k++ {
		pos := k * 160
		deliver(2, pos, time.Time{}, 300)
		mix(0, 2000+pos, tone(300, 8000, rate8k, pos, 160))
		mix(1, 2000+pos, tone(300, 8000, rate8k, pos, 160))
	}
	must(t, r.Stream(2).End()) // played; the recorder stops waiting for it
	// Caller: arrives 10 ms into the recording; 0.2 s lost at 0.5 s.
	for k := int64(0); k < 74; k++ {
		pos := k * 160
		if k >= 25 && k < 35 {
			continue
		}
		if k == 35 {
			handlers[0].HandleGap(media.Gap{Position: 25 * 160, Samples: 1600, Reason: media.GapLoss, Missing: 10})
		}
		deliver(0, pos, t0.Add(10*time.Millisecond+time.Duration(k)*20*time.Millisecond), 1000)
		mix(0, 80+pos, tone(1000, 8000, rate8k, pos, 160))
	}
	// Callee: its first packet arrives 0.7 s into the recording; a DTMF
	// event replaced 60 ms of its audio (media reports it as a gap).
	for k := int64(0); k < 35; k++ {
		pos := k * 160
		if k >= 10 && k < 13 {
			continue
		}
		if k == 13 {
			handlers[1].HandleDTMF(media.DTMF{Event: 5, Digit: '5', Position: 1600, Samples: 480, Ended: true})
			handlers[1].HandleGap(media.Gap{Position: 1600, Samples: 480, Reason: media.GapSilence})
		}
		deliver(1, pos, t0.Add(700*time.Millisecond+time.Duration(k)*20*time.Millisecond), 600)
		mix(1, 5600+pos, tone(600, 8000, rate8k, pos, 160))
	}
	for i, want := range []int64{80, 5600, 2000} {
		if st := r.Stream(i).Stats(); !st.Started || st.Offset != want {
			t.Errorf("stream %d: %+v, want placed at %d", i, st, want)
		}
	}
	// Every stream has delivered up to 0.7 s + 35 packets, gaps included:
	// the recorder writes that out without waiting for the Window.
	must(t, r.Flush())
	if st := r.Stats(); st.Written != 1400*time.Millisecond {
		t.Errorf("written before Stop: %v, want 1.4 s (the callee's last sample)", st.Written)
	}
	res, err := r.Stop()
	must(t, err)
	if res.Duration != 1490*time.Millisecond {
		t.Errorf("Duration %v, want 1.49 s", res.Duration)
	}
	m.compare(t, readWAV(t, path))
	for i, want := range []MediaStats{{Audio: 64, Gaps: 1}, {Audio: 32, Gaps: 1, DTMF: 1}, {Audio: 5}} {
		if got := hs[i].Stats(); got != want {
			t.Errorf("stream %d handler stats %+v, want %+v", i, got, want)
		}
	}
}

// TestMediaHandlerRefuses: what arrives after the recording stopped or the
// stream ended is refused and counted, and only the latter is logged (a
// Receiver that outlives the recording's Finish is normal); MediaHandler
// refuses a recording whose rate is not media's.
func TestMediaHandlerRefuses(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))
	r, _ := newTestRecorder(t, Config{Streams: twoStreams(), Logger: logger})
	a, _ := r.Stream(0).MediaHandler()
	b, _ := r.Stream(1).MediaHandler()
	pcm := make([]int16, 160)
	a.HandleAudio(media.Audio{Position: 0, PCM: pcm, Arrival: t0})
	b.HandleAudio(media.Audio{Position: 0, PCM: pcm, Arrival: t0})
	must(t, r.Stream(1).End())
	for k := int64(1); k < 4; k++ {
		b.HandleAudio(media.Audio{Position: k * 160, PCM: pcm, Arrival: t0})
	}
	b.HandleGap(media.Gap{Position: 640, Samples: 160})
	if st := b.Stats(); st.Refused != 4 || st.Audio != 4 || st.Gaps != 1 {
		t.Errorf("after End: %+v, want 4 refused", st)
	}
	mu.Lock()
	if n := strings.Count(logs.String(), "media refused"); n != 1 || !strings.Contains(logs.String(), "stream ended") {
		t.Errorf("logged %d refusals, want 1 naming the cause:\n%s", n, logs.String())
	}
	mu.Unlock()
	_, err := r.Stop()
	must(t, err)
	logs.Reset()
	a.HandleAudio(media.Audio{Position: 160, PCM: pcm, Arrival: t0})
	a.HandleGap(media.Gap{Position: 320, Samples: 160})
	if st := a.Stats(); st.Refused != 2 {
		t.Errorf("after Stop: %+v, want 2 refused", st)
	}
	if strings.Contains(logs.String(), "refused") {
		t.Errorf("a refusal after Stop was logged: %s", logs.String())
	}

	// A stream never started by audio is started by a Gap (which media
	// does not do first, but another source might): the sample after the
	// gap is now.
	r2, _ := newTestRecorder(t, Config{Start: time.Now()})
	h, _ := r2.Stream(0).MediaHandler()
	h.HandleGap(media.Gap{Position: 0, Samples: 800})
	if st := r2.Stream(0).Stats(); !st.Started || st.Offset > 0 || st.Offset < -800 {
		t.Errorf("started by a gap: %+v", st)
	}
	_, _ = r2.Stop()

	r3, _ := newTestRecorder(t, Config{SampleRate: 16000})
	if _, err := r3.Stream(0).MediaHandler(); !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), "16000 Hz") {
		t.Errorf("MediaHandler of a 16 kHz recording: %v", err)
	}
	if _, err := r3.Stream(1).MediaHandler(); !errors.Is(err, ErrBadConfig) {
		t.Errorf("MediaHandler of a stream that does not exist: %v", err)
	}
	_, _ = r3.Stop()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestMediaHandlerNoAllocations: a packet through the handler — its
// Prefetch, audio, gaps, drift correction, the mix and the file writes —
// allocates nothing, called through the media.Handler interface as a
// Receiver calls it.
func TestMediaHandlerNoAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	r, _ := newTestRecorder(t, Config{Streams: twoStreams(), FlushInterval: 100 * time.Millisecond})
	ha, _ := r.Stream(0).MediaHandler()
	hb, _ := r.Stream(1).MediaHandler()
	var a, b media.Handler = ha, hb
	pa, pb := tone(1000, 8000, rate8k, 0, 160), tone(600, 8000, rate8k, 0, 160)
	var k int64
	packet := func() {
		// as a Poller worker does before it hands a batch's audio over
		ha.Prefetch()
		hb.Prefetch()
		at := t0.Add(time.Duration(k) * 20 * time.Millisecond)
		if k%40 == 39 {
			a.HandleGap(media.Gap{Position: k * 160, Samples: 160, Reason: media.GapLoss, Missing: 1})
		} else {
			a.HandleAudio(media.Audio{Position: k * 160, PCM: pa, Arrival: at})
		}
		// b's clock runs 1000 ppm fast: its drift is corrected on the way.
		b.HandleAudio(media.Audio{Position: k * 160, PCM: pb, Arrival: t0.Add(time.Duration(k) * 19980 * time.Microsecond)})
		if k%100 == 50 {
			b.HandleDTMF(media.DTMF{Event: 1, Digit: '1'})
		}
		k++
	}
	for range 200 {
		packet()
	}
	if n := testing.AllocsPerRun(5000, packet); n != 0 {
		t.Errorf("%.3f allocations per packet pair, want 0", n)
	}
	if st := ha.Stats(); st.Refused != 0 {
		t.Errorf("refused %d", st.Refused)
	}
	if st := hb.Stats(); st.Dropped == 0 {
		t.Errorf("the drift correction was not exercised: %+v", st)
	}
	_, err := r.Stop()
	must(t, err)
}

// TestRTPPathNoAllocations: in steady state, one RTP packet sent over
// loopback, received, decoded, handed to the MediaHandler and written to
// the file allocates nothing in the whole process (sender, receiver and
// recorder together).
func TestRTPPathNoAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	// The packets go as fast as the loop turns, many times real time: the
	// receiver's clock advances 20 ms per packet, so that the timeline is
	// not ahead of it (see media.Stats.Ahead).
	var clock atomic.Int64
	clock.Store(t0.UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	r, _ := newTestRecorder(t, Config{Start: t0, FlushInterval: 100 * time.Millisecond})
	h, _ := r.Stream(0).MediaHandler()
	ep, err := media.Listen(loopback)
	must(t, err)
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	must(t, err)
	defer conn.Close()
	rx, err := media.NewReceiver(ep, media.ReceiverConfig{Handler: h, Now: now, Remote: conn.LocalAddr().(*net.UDPAddr).AddrPort()})
	must(t, err)
	done := make(chan error, 1)
	go func() { done <- rx.Run(context.Background()) }()
	tx, err := media.NewSender(conn, rx.LocalAddr(), media.SenderConfig{})
	must(t, err)
	g711 := make([]byte, 160)
	media.EncodePCMU(g711, tone(1000, 8000, rate8k, 0, 160))
	sent := uint64(0)
	send := func() {
		clock.Add(int64(20 * time.Millisecond))
		if err := tx.WriteEncoded(g711); err != nil {
			t.Fatal(err)
		}
		sent++
		for rx.Stats().Datagrams < sent { // the first packets wait for the latch (media.DefaultLatchPackets)
			time.Sleep(50 * time.Microsecond)
		}
	}
	for range 100 {
		send()
	}
	if n := testing.AllocsPerRun(500, send); n != 0 {
		t.Errorf("%.3f allocations per RTP packet, from the socket to the file", n)
	}
	must(t, rx.Close())
	must(t, <-done)
	if st := r.Stream(0).Stats(); st.Samples != int64(sent)*160 {
		t.Errorf("recorded %d samples, sent %d", st.Samples, sent*160)
	}
	_, err = r.Stop()
	must(t, err)
}
