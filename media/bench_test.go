package media

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"
)

// nopHandler touches what it gets, as a real consumer would, without
// keeping it.
type nopHandler struct{ samples, gaps int64 }

func (h *nopHandler) HandleAudio(a Audio) { h.samples += int64(len(a.PCM)) }
func (h *nopHandler) HandleGap(g Gap)     { h.gaps += g.Samples }
func (h *nopHandler) HandleDTMF(DTMF)     {}

// packets prepares n consecutive 20 ms PCMU packets.
func packets(tb testing.TB, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = rtpPacket(tb, ssrcA, uint16(i), uint32(i*160), 0, false, pattern(uint16(i), 160))
	}
	return out
}

// rewrite sets the sequence number and timestamp of a prepared packet.
func rewrite(b []byte, seq uint16, ts uint32) {
	b[2], b[3] = byte(seq>>8), byte(seq)
	b[4], b[5], b[6], b[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
}

// benchStream runs the receive path (parse, latch, sequence, reorder,
// jitter, decode, timeline, handler) on one core without sockets; with
// reorder, every tenth pair of packets is swapped; with lossEvery, one packet
// in lossEvery is never sent.
func benchStream(b *testing.B, reorder bool, lossEvery int) {
	h := &nopHandler{}
	sc, codecs, _ := resolveConfig(ReceiverConfig{Handler: h})
	s := newStream(sc, codecs)
	pkts := packets(b, 64)
	at := time.Unix(1700000000, 0)
	b.ReportAllocs()
	b.SetBytes(160)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := i
		if reorder && i%10 == 1 {
			n = i + 1 // swap with the next one
		} else if reorder && i%10 == 2 {
			n = i - 1
		}
		if lossEvery > 0 && n%lossEvery == lossEvery-1 {
			continue
		}
		p := pkts[i&63]
		rewrite(p, uint16(n), uint32(n*160))
		at = at.Add(20 * time.Millisecond)
		s.process(p, srcAddr, at)
	}
	b.StopTimer()
	s.flush() // the end of the stream (a run shorter than LatchPackets latches here)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
	if h.samples == 0 {
		b.Fatal("nothing decoded")
	}
}

// BenchmarkReceivePath: in-order packets through receive+reorder+decode.
func BenchmarkReceivePath(b *testing.B) { benchStream(b, false, 0) }

// BenchmarkReceivePathReorderLoss: 10% reordered, 1% lost.
func BenchmarkReceivePathReorderLoss(b *testing.B) { benchStream(b, true, 100) }

// BenchmarkReceiveUDP: packets sent over loopback UDP to a running Receiver
// (both sides in this process, so allocs/op counts the sender too).
func BenchmarkReceiveUDP(b *testing.B) {
	h := &nopHandler{}
	rx, err := NewReceiver(allocate(b), ReceiverConfig{Handler: h})
	if err != nil {
		b.Fatal(err)
	}
	_ = rx.ep.rtp.SetReadBuffer(4 << 20)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = rx.Run(ctx); close(done) }()
	defer func() { cancel(); <-done; _ = rx.Close() }()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	to := rx.LocalAddr()
	pkt := rtpPacket(b, ssrcA, 0, 0, 0, false, pattern(0, 160))
	const window = 128 // packets in flight, well under the socket buffer
	b.ReportAllocs()
	b.SetBytes(160)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rewrite(pkt, uint16(i), uint32(i*160))
		if _, err := c.WriteToUDPAddrPort(pkt, to); err != nil {
			b.Fatal(err)
		}
		if i%window == window-1 {
			for rx.Stats().Datagrams+window/2 < uint64(i+1) {
				time.Sleep(50 * time.Microsecond)
			}
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for rx.Stats().Datagrams < uint64(b.N) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Microsecond)
	}
	b.StopTimer()
	st := rx.Stats()
	b.ReportMetric(float64(st.Datagrams)/b.Elapsed().Seconds(), "packets/s")
	if st.Datagrams < uint64(b.N) {
		b.Logf("%d of %d datagrams arrived", st.Datagrams, b.N)
	}
}

// BenchmarkDecodePCMU: G.711 μ-law decoding, 160-sample packets.
func BenchmarkDecodePCMU(b *testing.B) { benchDecode(b, EncodingPCMU) }

// BenchmarkDecodePCMA: G.711 A-law decoding, 160-sample packets.
func BenchmarkDecodePCMA(b *testing.B) { benchDecode(b, EncodingPCMA) }

func benchDecode(b *testing.B, enc Encoding) {
	src := make([]byte, 160)
	encode(enc, src, tone(440, 10000, 160))
	dst := make([]int16, 160)
	b.ReportAllocs()
	b.SetBytes(160)
	for b.Loop() {
		decode(enc, dst, src)
	}
	b.ReportMetric(float64(b.N)*160/b.Elapsed().Seconds(), "samples/s")
}

// BenchmarkEncodePCMU: G.711 μ-law encoding, 160-sample packets.
func BenchmarkEncodePCMU(b *testing.B) {
	src := tone(440, 10000, 160)
	dst := make([]byte, 160)
	b.ReportAllocs()
	b.SetBytes(160)
	for b.Loop() {
		EncodePCMU(dst, src)
	}
	b.ReportMetric(float64(b.N)*160/b.Elapsed().Seconds(), "samples/s")
}

// discard is a PacketWriter that drops packets, to measure packetization
// alone.
type discard struct{ n int }

func (d *discard) WriteToUDPAddrPort(b []byte, _ netip.AddrPort) (int, error) {
	d.n += len(b)
	return len(b), nil
}

// BenchmarkSenderPacketize: WritePCM of one 20 ms packet (encode +
// RTP header), no socket.
func BenchmarkSenderPacketize(b *testing.B) {
	s, err := NewSender(&discard{}, netip.MustParseAddrPort("127.0.0.1:9"), SenderConfig{})
	if err != nil {
		b.Fatal(err)
	}
	pcm := tone(440, 10000, 160)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.WritePCM(pcm); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}

// BenchmarkSenderUDP: WriteEncoded of one 20 ms G.711 packet to a loopback
// UDP socket (the SIPREC client's fork path).
func BenchmarkSenderUDP(b *testing.B) {
	sink, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	s, err := NewSender(c, sink.LocalAddr().(*net.UDPAddr).AddrPort(), SenderConfig{})
	if err != nil {
		b.Fatal(err)
	}
	g711 := pattern(0x55, 160)
	b.ReportAllocs()
	var cpu cpuMeter
	cpu.begin()
	for b.Loop() {
		if err := s.WriteEncoded(g711); err != nil {
			b.Fatal(err)
		}
	}
	cpu.end()
	cpu.report(b, b.N)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}

// BenchmarkOfferAnswer: parse sipp's two-stream SIPREC offer, answer it and
// marshal the answer (the media part of handling a SIPREC INVITE).
func BenchmarkOfferAnswer(b *testing.B) {
	body := []byte(crlf(sdpExamples["sipp-siprec"]))
	cfg := AnswerConfig{Address: answerAddr, Direction: RecvOnly, Port: func(i int, _ *Media) (int, error) { return 20000 + 2*i, nil }}
	b.ReportAllocs()
	for b.Loop() {
		offer, err := ParseSDP(body)
		if err != nil {
			b.Fatal(err)
		}
		ans, err := Answer(offer, cfg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ans.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSenderBatch: WriteEncoded of one 20 ms G.711 packet, as
// BenchmarkSenderUDP, but of 1,000 streams (to 16 loopback sockets) sharing
// one socket through a BatchWriter flushed after each round of 1,000: the
// load generator's path (siprec-load). Compare BenchmarkSenderUDP for the
// cost of one system call per packet.
func BenchmarkSenderBatch(b *testing.B) {
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	_ = c.SetWriteBuffer(4 << 20)
	bw, err := NewBatchWriter(c)
	if err != nil {
		b.Fatal(err)
	}
	const streams, sinks = 1000, 16
	senders := make([]*Sender, streams)
	for i := range sinks {
		sink, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
		if err != nil {
			b.Fatal(err)
		}
		defer sink.Close()
		for j := i; j < streams; j += sinks {
			if senders[j], err = NewSender(bw, sink.LocalAddr().(*net.UDPAddr).AddrPort(), SenderConfig{}); err != nil {
				b.Fatal(err)
			}
		}
	}
	g711 := pattern(0x55, 160)
	b.ReportAllocs()
	var cpu cpuMeter
	cpu.begin()
	i := 0
	for b.Loop() {
		if err := senders[i].WriteEncoded(g711); err != nil {
			b.Fatal(err)
		}
		if i++; i == streams {
			if err := bw.Flush(); err != nil {
				b.Fatal(err)
			}
			i = 0
		}
	}
	_ = bw.Flush()
	cpu.end()
	cpu.report(b, b.N)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}
