package media

import (
	"bytes"
	"context"
	"errors"
	"math"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// tone returns n samples of a sine of freq Hz at 8000 Hz.
func tone(freq float64, amplitude float64, n int) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(amplitude * math.Sin(2*math.Pi*freq*float64(i)/SampleRate))
	}
	return out
}

// g711RoundTrip is what a receiver must decode for pcm sent with enc.
func g711RoundTrip(enc Encoding, pcm []int16) []int16 {
	b := make([]byte, len(pcm))
	encode(enc, b, pcm)
	out := make([]int16, len(pcm))
	decode(enc, out, b)
	return out
}

// TestSenderWire checks the packets a Sender puts on the wire, read with a
// plain socket and parsed by pion/rtp.
func TestSenderWire(t *testing.T) {
	tests := []struct {
		name    string
		cfg     SenderConfig
		pt      uint8
		samples int
	}{
		{"PCMU 20 ms default", SenderConfig{}, 0, 160},
		{"PCMA 30 ms", SenderConfig{Codec: Codec{PayloadType: 8, Encoding: EncodingPCMA, ClockRate: 8000}, PTime: 30 * time.Millisecond}, 8, 240},
		{"dynamic PCMU type near wrap-around", SenderConfig{Codec: Codec{PayloadType: 96, Encoding: EncodingPCMU}, Sequence: 65534, Timestamp: 1<<32 - 160, SSRC: 42}, 96, 160},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rc, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			sc, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
			if err != nil {
				t.Fatal(err)
			}
			defer sc.Close()
			s, err := NewSender(sc, rc.LocalAddr().(*net.UDPAddr).AddrPort(), tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if tc.cfg.SSRC != 0 && s.SSRC() != tc.cfg.SSRC {
				t.Errorf("SSRC %d, want %d", s.SSRC(), tc.cfg.SSRC)
			}
			first := s.Stats()
			src := tone(440, 8000, 4*tc.samples+17)
			// Odd chunk sizes exercise the partial-packet buffer.
			for rest := src; len(rest) > 0; {
				n := min(len(rest), 37)
				if err := s.WritePCM(rest[:n]); err != nil {
					t.Fatal(err)
				}
				rest = rest[n:]
			}
			if err := s.Flush(); err != nil {
				t.Fatal(err)
			}
			want := g711RoundTrip(map[uint8]Encoding{0: EncodingPCMU, 8: EncodingPCMA, 96: EncodingPCMU}[tc.pt], src)
			var got []int16
			_ = rc.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 1500)
			for i := range 5 {
				n, err := rc.Read(buf)
				if err != nil {
					t.Fatal(err)
				}
				var p rtp.Packet
				if err := p.Unmarshal(buf[:n]); err != nil {
					t.Fatal(err)
				}
				wantLen := tc.samples
				if i == 4 {
					wantLen = 17
				}
				switch {
				case p.Version != 2 || p.PayloadType != tc.pt || p.SSRC != first.SSRC:
					t.Errorf("packet %d: version %d type %d SSRC %d", i, p.Version, p.PayloadType, p.SSRC)
				case p.SequenceNumber != first.Sequence+uint16(i):
					t.Errorf("packet %d: sequence %d, want %d", i, p.SequenceNumber, first.Sequence+uint16(i))
				case p.Timestamp != first.Timestamp+uint32(i*tc.samples):
					t.Errorf("packet %d: timestamp %d, want %d", i, p.Timestamp, first.Timestamp+uint32(i*tc.samples))
				case p.Marker != (i == 0):
					t.Errorf("packet %d: marker %v", i, p.Marker)
				case len(p.Payload) != wantLen:
					t.Errorf("packet %d: %d bytes of payload, want %d", i, len(p.Payload), wantLen)
				}
				pcm := make([]int16, len(p.Payload))
				decode(map[uint8]Encoding{0: EncodingPCMU, 8: EncodingPCMA, 96: EncodingPCMU}[tc.pt], pcm, p.Payload)
				got = append(got, pcm...)
			}
			if !equalPCM(got, want) {
				t.Error("the samples on the wire are not the G.711 encoding of the input")
			}
			st := s.Stats()
			if st.Packets != 5 || st.Octets != uint64(len(src)) || st.Sequence != first.Sequence+5 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func equalPCM(a, b []int16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestToneOverLoopback sends a known tone with a Sender to a Receiver over
// real UDP sockets and compares the decoded samples.
func TestToneOverLoopback(t *testing.T) {
	receivePaths(t, func(t *testing.T, poller *Poller) {
		for _, enc := range []Encoding{EncodingPCMU, EncodingPCMA} {
			t.Run(enc.String(), func(t *testing.T) {
				t.Parallel()
				rx, rec := startReceiver(t, ReceiverConfig{Poller: poller})
				ep := allocate(t) // send from an endpoint: symmetric RTP
				pt := uint8(PayloadTypePCMU)
				if enc == EncodingPCMA {
					pt = PayloadTypePCMA
				}
				s, err := NewSender(ep, rx.LocalAddr(), SenderConfig{Codec: Codec{PayloadType: pt, Encoding: enc, ClockRate: 8000}})
				if err != nil {
					t.Fatal(err)
				}
				src := tone(440, 12000, SampleRate) // 1 s: 50 packets
				if err := s.WritePCM(src); err != nil {
					t.Fatal(err)
				}
				waitStats(t, rx, "50 packets", func(st Stats) bool { return st.Received == 50 })
				if err := rx.Close(); err != nil {
					t.Fatal(err)
				}
				rec.check(t)
				if !equalPCM(rec.pcm, g711RoundTrip(enc, src)) {
					t.Errorf("decoded %d samples differ from the G.711 round trip of the tone", len(rec.pcm))
				}
				st := rx.Stats()
				checkStats(t, st, map[string]uint64{"Received": 50, "Expected": 50, "Lost": 0, "Samples": 8000, "GapSamples": 0, "SSRC": uint64(s.SSRC())})
				if st.Source != ep.LocalAddr() {
					t.Errorf("latched %v, want the sender's endpoint %v", st.Source, ep.LocalAddr())
				}
				if len(rec.audio) != 50 || !rec.audio[0].Marker || rec.audio[1].Marker {
					t.Errorf("%d packets; marker on the first only expected", len(rec.audio))
				}
			})
		}
	})
}

// TestSenderDTMFAndSkip sends audio, a DTMF key press and a skipped stretch
// and checks what the Receiver makes of them.
func TestSenderDTMFAndSkip(t *testing.T) {
	receivePaths(t, func(t *testing.T, poller *Poller) {
		rx, rec := startReceiver(t, ReceiverConfig{Poller: poller})
		s, err := NewSender(newPeer(t, rx.LocalAddr()).conn, rx.LocalAddr(), SenderConfig{Sequence: 1000, Timestamp: 8000})
		if err != nil {
			t.Fatal(err)
		}
		src := tone(1000, 8000, 320)
		steps := []func() error{
			func() error { return s.WritePCM(src) },                        // 1000, 1001
			func() error { return s.WriteDTMF('7', 110*time.Millisecond) }, // 1002..1009: 160, 320, 480, 640, 800, 880 E ×3
			func() error { return s.WritePCM(src[:160]) },                  // 1010
			func() error { s.Skip(800); return nil },
			func() error { return s.WritePCM(src[:160]) }, // 1011, marker
		}
		for _, f := range steps {
			if err := f(); err != nil {
				t.Fatal(err)
			}
		}
		waitStats(t, rx, "12 packets", func(st Stats) bool { return st.Received == 12 })
		if err := rx.Close(); err != nil {
			t.Fatal(err)
		}
		rec.check(t)
		const want = "a1000@0 a1001@160 d7@320+880E g880@320:silence a1010@1200 g800@1360:silence a1011@2160"
		if got := rec.Trace(); got != want {
			t.Errorf("trace\n got: %s\nwant: %s", got, want)
		}
		if d := rec.dtmf[0]; d.Duration() != 110*time.Millisecond || d.Volume != 10 || d.Event != 7 {
			t.Errorf("DTMF %+v", d)
		}
		if a := rec.audio[len(rec.audio)-1]; !a.Marker {
			t.Error("no marker bit on the packet after Skip")
		}
		checkStats(t, rx.Stats(), map[string]uint64{"Lost": 0, "DTMFEvents": 1})
	})
}

func TestSenderErrors(t *testing.T) {
	c := newPeer(t, netip.MustParseAddrPort("127.0.0.1:9")).conn
	for _, cfg := range []SenderConfig{
		{Codec: Codec{PayloadType: 101, Encoding: EncodingTelephoneEvent}},
		{Codec: Codec{PayloadType: 0, Encoding: EncodingPCMU, ClockRate: 16000}},
		{PTime: 2500 * time.Microsecond},
		{PTime: 2 * time.Second},
		{EventPayloadType: 200},
	} {
		if _, err := NewSender(c, netip.MustParseAddrPort("127.0.0.1:9"), cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("NewSender(%+v) = %v, want ErrInvalidConfig", cfg, err)
		}
	}
	if _, err := NewSender(nil, netip.AddrPort{}, SenderConfig{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("nil writer: %v", err)
	}
	s, err := NewSender(c, netip.MustParseAddrPort("127.0.0.1:9"), SenderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WriteDTMF('x', time.Second); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("WriteDTMF('x') = %v", err)
	}
	if err := s.WriteDTMF('1', 10*time.Second); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("WriteDTMF 10 s = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Play(ctx, tone(440, 1000, 1600)); !errors.Is(err, context.Canceled) {
		t.Errorf("Play with a cancelled context = %v", err)
	}
	_ = c.Close()
	if err := s.WritePCM(make([]int16, 160)); err == nil {
		t.Error("write on a closed socket succeeded")
	}
}

// TestSenderPlay plays 200 ms paced and checks that it all arrives, in
// order, on one timeline (no timing assertion).
func TestSenderPlay(t *testing.T) {
	receivePaths(t, func(t *testing.T, poller *Poller) {
		rx, rec := startReceiver(t, ReceiverConfig{Poller: poller})
		s, err := NewSender(newPeer(t, rx.LocalAddr()).conn, rx.LocalAddr(), SenderConfig{})
		if err != nil {
			t.Fatal(err)
		}
		src := tone(440, 8000, 1600+80)
		if err := s.Play(context.Background(), src); err != nil {
			t.Fatal(err)
		}
		waitStats(t, rx, "11 packets", func(st Stats) bool { return st.Received == 11 })
		_ = rx.Close()
		rec.check(t)
		if !equalPCM(rec.pcm, g711RoundTrip(EncodingPCMU, src)) {
			t.Error("played samples differ")
		}
	})
}

// TestSenderForkAndSetRemote forwards G.711 bytes as they are (the SIPREC
// client's fork) and follows a re-INVITE that moved the recorder's port.
func TestSenderForkAndSetRemote(t *testing.T) {
	receivePaths(t, func(t *testing.T, poller *Poller) {
		rx1, rec1 := startReceiver(t, ReceiverConfig{Poller: poller})
		rx2, rec2 := startReceiver(t, ReceiverConfig{Poller: poller})
		s, err := NewSender(allocate(t), rx1.LocalAddr(), SenderConfig{Sequence: 10, Timestamp: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if s.SamplesPerPacket() != 160 {
			t.Fatalf("SamplesPerPacket %d", s.SamplesPerPacket())
		}
		leg := make([]byte, 640) // the call leg's PCMU, forwarded in odd chunks
		EncodePCMU(leg, tone(350, 9000, 640))
		for _, chunk := range [][]byte{leg[:100], leg[100:320]} {
			if err := s.WriteEncoded(chunk); err != nil {
				t.Fatal(err)
			}
		}
		waitStats(t, rx1, "two packets", func(st Stats) bool { return st.Received == 2 })
		s.SetRemote(rx2.LocalAddr())
		if err := s.WriteEncoded(leg[320:]); err != nil {
			t.Fatal(err)
		}
		waitStats(t, rx2, "two packets", func(st Stats) bool { return st.Received == 2 })
		_ = rx1.Close()
		_ = rx2.Close()
		rec1.check(t)
		rec2.check(t)
		if got := rec1.Trace() + " | " + rec2.Trace(); got != "a10@0 a11@160 | a12@0 a13@160" {
			t.Errorf("traces %s", got)
		}
		if !bytes.Equal(append(rec1.audio[0].Payload, rec1.audio[1].Payload...), leg[:320]) ||
			!bytes.Equal(append(rec2.audio[0].Payload, rec2.audio[1].Payload...), leg[320:]) {
			t.Error("the forwarded bytes changed on the way")
		}
		if rec2.audio[0].Timestamp != 1320 || rec2.audio[0].SSRC != s.SSRC() {
			t.Errorf("after SetRemote: timestamp %d SSRC %d", rec2.audio[0].Timestamp, rec2.audio[0].SSRC)
		}
	})
}
