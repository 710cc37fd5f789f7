package siprec

import (
	"net"
	"net/netip"
	"testing"

	"github.com/voicegw/voicegw/media"
)

// liveRecorders makes n recorders live on m without SIP: each stream is
// routed in codec to a UDP socket on loopback, which the returned function
// reads (count of datagrams per socket so far is not needed by callers that
// only measure). It is the media half of a started Manager.
func liveRecorders(t testing.TB, c *Client, m *Manager, n int, codec media.Codec) []*net.UDPConn {
	t.Helper()
	var sinks []*net.UDPConn
	for range n {
		r := &recorder{m: m, uri: mustParseURI("sip:127.0.0.1"), dir: media.SendOnly, host: netip.MustParseAddr("127.0.0.1")}
		r.sending.Store(true)
		if err := r.allocate(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.release)
		r.mu.Lock()
		for _, s := range r.streams {
			sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			_ = sink.SetReadBuffer(4 << 20)
			t.Cleanup(func() { _ = sink.Close() })
			sinks = append(sinks, sink)
			if err := r.route(s, sink.LocalAddr().(*net.UDPAddr).AddrPort(), codec, 0); err != nil {
				t.Fatal(err)
			}
			s.remote.Store(true)
		}
		r.mu.Unlock()
		m.add(r)
		t.Cleanup(func() { m.remove(r) }) // before the Manager's Stop: there is no dialog to end
	}
	_ = c
	return sinks
}

var (
	pcmu = media.Codec{PayloadType: media.PayloadTypePCMU, Encoding: media.EncodingPCMU, ClockRate: media.SampleRate}
	pcma = media.Codec{PayloadType: media.PayloadTypePCMA, Encoding: media.EncodingPCMA, ClockRate: media.SampleRate}
)

// The per-packet fork path allocates nothing: same codec, transcoding,
// PCM, paused, several recorders.
func TestForkDoesNotAllocate(t *testing.T) {
	c, _ := newTestClient(t, ClientConfig{})
	frame := make([]byte, 160)
	pcm := make([]int16, 160)
	for _, tc := range []struct {
		name      string
		codec     media.Codec
		recorders int
		paused    bool
		write     func(f *Fork) error
	}{
		{"PCMU to PCMU", pcmu, 1, false, func(f *Fork) error { return f.WriteEncoded(media.EncodingPCMU, frame) }},
		{"PCMU to 3 recorders", pcmu, 3, false, func(f *Fork) error { return f.WriteEncoded(media.EncodingPCMU, frame) }},
		{"PCMU to PCMA (transcoded)", pcma, 1, false, func(f *Fork) error { return f.WriteEncoded(media.EncodingPCMU, frame) }},
		{"PCM", pcma, 2, false, func(f *Fork) error { return f.WritePCM(pcm) }},
		{"paused", pcmu, 2, true, func(f *Fork) error { return f.WriteEncoded(media.EncodingPCMU, frame) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestManager(t, c, ManagerConfig{})
			liveRecorders(t, c, m, tc.recorders, tc.codec)
			m.paused.Store(tc.paused)
			f := m.Forks()[0]
			if f.Recorders() != tc.recorders {
				t.Fatalf("fork goes to %d recorders, want %d", f.Recorders(), tc.recorders)
			}
			if err := tc.write(f); err != nil { // grows the scratch buffers
				t.Fatal(err)
			}
			if n := testing.AllocsPerRun(500, func() { _ = tc.write(f) }); n != 0 {
				t.Errorf("%v allocations per forked packet, want 0", n)
			}
		})
	}
}

// What a fork sends: each recorder its own SSRC, the codec it chose
// (transcoded), consecutive sequence numbers; while paused nothing, with the
// timestamps still running.
func TestForkPackets(t *testing.T) {
	c, _ := newTestClient(t, ClientConfig{})
	m := newTestManager(t, c, ManagerConfig{})
	sinks := liveRecorders(t, c, m, 1, pcmu)
	sinks = append(sinks, liveRecorders(t, c, m, 1, pcma)...) // recorder 1: sinks 0,1; recorder 2: sinks 2,3
	f := m.Forks()[0]
	in := tone(1000, 160)
	frame := make([]byte, 160)
	media.EncodePCMU(frame, in)

	read := func(s *net.UDPConn) (ssrc uint32, seq uint16, ts uint32, pt byte, payload []byte) {
		t.Helper()
		b := make([]byte, 1500)
		n, err := s.Read(b)
		if err != nil || n < 12 {
			t.Fatalf("read RTP: %d bytes, %v", n, err)
		}
		return uint32(b[8])<<24 | uint32(b[9])<<16 | uint32(b[10])<<8 | uint32(b[11]), uint16(b[2])<<8 | uint16(b[3]),
			uint32(b[4])<<24 | uint32(b[5])<<16 | uint32(b[6])<<8 | uint32(b[7]), b[1] & 0x7f, b[12:n]
	}
	if err := f.WriteEncoded(media.EncodingPCMU, frame); err != nil {
		t.Fatal(err)
	}
	ssrc1, seq1, ts1, pt1, p1 := read(sinks[0])
	ssrc2, _, _, pt2, p2 := read(sinks[2])
	if ssrc1 == ssrc2 || pt1 != 0 || pt2 != 8 || len(p1) != 160 || len(p2) != 160 {
		t.Fatalf("SSRCs %x %x (want distinct), payload types %d %d (want 0, 8), sizes %d %d", ssrc1, ssrc2, pt1, pt2, len(p1), len(p2))
	}
	if string(p1) != string(frame) {
		t.Error("the PCMU recorder did not get the frame as it came")
	}
	back := make([]int16, 160)
	media.DecodePCMA(back, p2)
	for i := range back {
		if d := int(back[i]) - int(in[i]); d > 300 || d < -300 {
			t.Fatalf("transcoded sample %d = %d, want about %d", i, back[i], in[i])
		}
	}

	m.paused.Store(true)
	_ = f.WriteEncoded(media.EncodingPCMU, frame) // 20 ms not sent
	m.paused.Store(false)
	_ = f.WriteEncoded(media.EncodingPCMU, frame)
	ssrc, seq, ts, _, _ := read(sinks[0])
	if ssrc != ssrc1 || seq != seq1+1 || ts != ts1+320 {
		t.Errorf("after a 160-sample pause: SSRC %x seq %d ts %d, want %x %d %d", ssrc, seq, ts, ssrc1, seq1+1, ts1+320)
	}
	f.Skip(800)
	_ = f.WriteEncoded(media.EncodingPCMU, frame)
	if _, seq2, ts2, _, _ := read(sinks[0]); seq2 != seq+1 || ts2 != ts+160+800 {
		t.Errorf("after Skip(800): seq %d ts %d, want %d %d", seq2, ts2, seq+1, ts+960)
	}
}
