package recording

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/voicegw/voicegw/media"
)

// rtpTimeline sends packets over loopback to a media.Receiver whose
// MediaHandler feeds a WAV recording starting at t0, one packet at a time,
// with the receiver's clock set to each packet's arrival time, and returns
// the finished recording and the latest arrival. Each 9 bytes of data are
// one packet: sequence number (2), timestamp (4), arrival step in 0.1 ms
// (int16: bursts, and arrivals going backwards), flags (1: payload size
// 160, 80, 240 or 0 bytes; payload type 0, 8, 101 or 0; a second SSRC).
func rtpTimeline(t *testing.T, data []byte, skew time.Duration) (res Result, st StreamStats, latest time.Time, window time.Duration) {
	t.Helper()
	var clock atomic.Int64
	clock.Store(t0.UnixNano())
	r, err := New(filepath.Join(t.TempDir(), "fuzz.wav"), Config{Start: t0})
	must(t, err)
	h, err := r.Stream(0).MediaHandler()
	must(t, err)
	ep, err := media.Listen(loopback)
	must(t, err)
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	must(t, err)
	defer conn.Close()
	rx, err := media.NewReceiver(ep, media.ReceiverConfig{Handler: h, Remote: conn.LocalAddr().(*net.UDPAddr).AddrPort(),
		MaxTimestampSkew: skew, Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	must(t, err)
	done := make(chan error, 1)
	go func() { done <- rx.Run(context.Background()) }()
	latest = t0
	window = framesToDuration(r.w, rate8k)
	buf := make([]byte, 1500)
	sent := uint64(0)
	for ; len(data) >= 9 && sent < 600; data = data[9:] {
		at := time.Unix(0, clock.Load()).Add(time.Duration(int16(binary.BigEndian.Uint16(data[6:]))) * 100 * time.Microsecond)
		clock.Store(at.UnixNano())
		if at.After(latest) {
			latest = at
		}
		f := data[8]
		p := rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: binary.BigEndian.Uint16(data),
			Timestamp: binary.BigEndian.Uint32(data[2:]), PayloadType: [4]uint8{0, 8, 101, 0}[f>>2&3], SSRC: 0xCA110000 + uint32(f>>4&1)},
			Payload: make([]byte, [4]int{160, 80, 240, 0}[f&3])}
		if p.PayloadType == 101 && len(p.Payload) >= 4 {
			p.Payload[1] = f & 0x80 // the end bit, sometimes
		}
		n, err := p.MarshalTo(buf)
		must(t, err)
		if _, err := conn.WriteToUDPAddrPort(buf[:n], rx.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		sent++
		for deadline := time.Now().Add(5 * time.Second); rx.Stats().Datagrams < sent; {
			if time.Now().After(deadline) {
				t.Fatalf("datagram %d not read in 5 s", sent)
			}
			time.Sleep(20 * time.Microsecond)
		}
	}
	must(t, rx.Close())
	if err := <-done; err != nil && !errors.Is(err, media.ErrClosed) { // ErrClosed: closed before Run began
		t.Fatal(err)
	}
	st = r.Stream(0).Stats()
	res, err = r.Stop()
	must(t, err)
	return res, st, latest, window
}

// FuzzRTPTimeline: no RTP input — any sequence numbers, timestamps,
// arrival times, sizes, payload types and SSRCs, through a real
// media.Receiver and its MediaHandler — makes the recording longer than
// the wall-clock time it covers (the latest arrival since the recording's
// start) plus the Window, even with a media timestamp skew (10 s here)
// that lets the receive path run further ahead than the recording allows.
// Each input goes through real sockets (about 30 ms), so minimizing a new
// input takes long: run it with -fuzzminimizetime 2s.
func FuzzRTPTimeline(f *testing.F) {
	pkt := func(seq uint16, ts uint32, step int16, flags byte) []byte {
		b := make([]byte, 9)
		binary.BigEndian.PutUint16(b, seq)
		binary.BigEndian.PutUint32(b[2:], ts)
		binary.BigEndian.PutUint16(b[6:], uint16(step))
		b[8] = flags
		return b
	}
	var steady, jumps, fast, messy []byte
	for i := range 60 {
		steady = append(steady, pkt(uint16(i), uint32(i*160), 200, 0)...)
		jumps = append(jumps, pkt(uint16(i), uint32(i*79000), 11, 0)...) // 9.9 s a packet, 1.1 ms apart
		fast = append(fast, pkt(uint16(i), uint32(i*160), 10, 0)...)     // 20 times real time
		messy = append(messy, pkt(uint16(i*7), uint32(i*i*160), int16(300-i*11), byte(i*37))...)
	}
	f.Add(steady)
	f.Add(jumps)
	f.Add(fast)
	f.Add(messy)
	f.Fuzz(func(t *testing.T, data []byte) {
		res, st, latest, window := rtpTimeline(t, data, 10*time.Second)
		// In samples: the wall clock maps to the nearest sample.
		if wall := latest.Sub(t0); durationToFrames(res.Duration, rate8k) > durationToFrames(wall+window, rate8k) {
			t.Fatalf("a %v recording of %v of arrivals (window %v); stream %+v", res.Duration, wall, window, st)
		}
	})
}

// TestRTPTimelineAttack: issue 14 item 3 through the whole path: 500
// packets in 0.56 s whose timestamps each jump almost the receiver's skew
// (1 s) made a 499 s, 16 MB WAV. Now the file is at most the 0.56 s of
// arrivals plus the Window (1.024 s), sox agrees, and the dropped audio is
// counted.
func TestRTPTimelineAttack(t *testing.T) {
	var data []byte
	for i := range 500 {
		b := make([]byte, 9)
		binary.BigEndian.PutUint16(b, uint16(i))
		binary.BigEndian.PutUint32(b[2:], uint32(i*(7800+160)))
		binary.BigEndian.PutUint16(b[6:], 11) // 1.1 ms
		data = append(data, b...)
	}
	// With media's own bound at its default (1 s), and with it opened up
	// to 10 s so that the recording's bound is what holds.
	for _, skew := range []time.Duration{time.Second, 10 * time.Second} {
		res, st, latest, window := rtpTimeline(t, data, skew)
		wall := latest.Sub(t0)
		if max := wall + window; durationToFrames(res.Duration, rate8k) > durationToFrames(max, rate8k) {
			t.Errorf("skew %v: a %v recording of %v of arrivals, want at most %v", skew, res.Duration, wall, max)
		}
		if _, _, samples := soxInfo(t, res.Path); samples > durationToFrames(wall+window, rate8k) {
			t.Errorf("skew %v: soxi counts %d samples", skew, samples)
		}
		if skew > time.Second && st.Ahead == 0 {
			t.Errorf("skew %v: nothing counted as ahead: %+v", skew, st)
		}
		t.Logf("skew %v: %v of arrivals, %v recorded, %d samples dropped ahead", skew, wall, res.Duration, st.Ahead)
	}
}
