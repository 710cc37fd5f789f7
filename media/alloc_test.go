package media

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestHotPathsDoNotAllocate checks the per-packet paths allocate nothing in
// steady state (after the first packets have grown the buffers).
func TestHotPathsDoNotAllocate(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	t.Run("receive in order", func(t *testing.T) { checkReceiveAllocs(t, false) })
	t.Run("receive reordered, lost, DTMF", func(t *testing.T) { checkReceiveAllocs(t, true) })
	t.Run("send", func(t *testing.T) {
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, err := NewSender(c, c.LocalAddr().(*net.UDPAddr).AddrPort(), SenderConfig{})
		if err != nil {
			t.Fatal(err)
		}
		pcm := tone(440, 1000, 100) // partial packets too
		g711 := pattern(1, 160)
		if n := testing.AllocsPerRun(200, func() {
			_ = s.WritePCM(pcm)
			_ = s.WriteEncoded(g711)
		}); n != 0 {
			t.Errorf("%v allocations per write", n)
		}
		if n := testing.AllocsPerRun(20, func() { _ = s.WriteDTMF('1', 100*time.Millisecond) }); n != 0 {
			t.Errorf("%v allocations per DTMF", n)
		}
	})
	t.Run("decode", func(t *testing.T) {
		src, dst := pattern(3, 160), make([]int16, 160)
		if n := testing.AllocsPerRun(100, func() { DecodePCMU(dst, src); DecodePCMA(dst, src) }); n != 0 {
			t.Errorf("%v allocations per decode", n)
		}
	})
}

func checkReceiveAllocs(t *testing.T, messy bool) {
	h := &nopHandler{}
	sc, codecs, _ := resolveConfig(ReceiverConfig{Handler: h})
	s := newStream(sc, codecs)
	pkts := packets(t, 8)
	ev := rtpPacket(t, ssrcA, 0, 0, PayloadTypeTelephoneEvent, false, eventPayload(t, 4, true, 160))
	at := time.Unix(1700000000, 0)
	seq := 0
	feed := func() {
		for i := range 8 {
			n := seq + i
			if messy {
				switch i {
				case 2:
					n = seq + 3 // 2 and 3 swapped
				case 3:
					n = seq + 2
				case 5:
					continue // lost
				case 7:
					rewrite(ev, uint16(n), uint32(n*160))
					at = at.Add(20 * time.Millisecond)
					s.process(ev, srcAddr, at)
					continue
				}
			}
			rewrite(pkts[i], uint16(n), uint32(n*160))
			at = at.Add(20 * time.Millisecond)
			s.process(pkts[i], srcAddr, at)
		}
		seq += 8
	}
	for range 10 {
		feed() // warm up: buffers grow here
	}
	if n := testing.AllocsPerRun(100, feed); n != 0 {
		t.Errorf("%v allocations per 8 packets", n)
	}
	if h.samples == 0 {
		t.Fatal("nothing decoded")
	}
}

// TestReceiverUDPDoesNotAllocate checks the whole receive loop over a real
// socket (read, process, statistics) allocates nothing per packet once warm.
func TestReceiverUDPDoesNotAllocate(t *testing.T) {
	receivePaths(t, func(t *testing.T, poller *Poller) {
		if testing.CoverMode() != "" {
			t.Skip("coverage instrumentation allocates")
		}
		h := &nopHandler{}
		rx, _ := startReceiver(t, ReceiverConfig{Handler: h, Poller: poller})
		p := newPeer(t, rx.LocalAddr())
		pkt := rtpPacket(t, ssrcA, 0, 0, 0, false, pattern(0, 160))
		sent := 0
		send := func() {
			rewrite(pkt, uint16(sent), uint32(sent*160))
			if _, err := p.conn.WriteToUDPAddrPort(pkt, p.to); err != nil {
				t.Fatal(err)
			}
			sent++
			for rx.Stats().Datagrams < uint64(sent) {
				time.Sleep(50 * time.Microsecond)
			}
		}
		for range 50 {
			send()
		}
		if n := testing.AllocsPerRun(200, send); n != 0 {
			t.Errorf("%v allocations per packet (sender, receiver and the test's wait together)", n)
		}
	})
}
