package media

import (
	"bytes"
	"net/netip"
	"testing"
	"time"
)

// benchCPU returns the process CPU time used so far, where the platform
// tells (srtp_cpu_linux_test.go); nil elsewhere.
var benchCPU func() time.Duration

// cpuMeter measures the process's CPU time, which other processes on a
// loaded machine do not inflate as they do wall time, for a "cpu-ns/packet"
// metric beside ns/op.
type cpuMeter struct{ total, start time.Duration }

func (m *cpuMeter) begin() {
	if benchCPU != nil {
		m.start = benchCPU()
	}
}

func (m *cpuMeter) end() {
	if benchCPU != nil {
		m.total += benchCPU() - m.start
	}
}

func (m *cpuMeter) report(b *testing.B, packets int) {
	if benchCPU != nil && packets > 0 {
		b.ReportMetric(float64(m.total.Nanoseconds())/float64(packets), "cpu-ns/packet")
	}
}

// srtpBatch holds consecutive SRTP packets protected ahead of time, so
// that a benchmark or an allocation test decrypts fresh ones (a replayed
// packet would be refused).
type srtpBatch struct {
	tx   *SRTPContext
	seq  uint16
	pkt  []byte   // clear template
	enc  [][]byte // protected, ready
	bufs [][]byte // what Decrypt works on (copies of enc)
}

func newSRTPBatch(t testing.TB, tx *SRTPContext, n int) *srtpBatch {
	b := &srtpBatch{tx: tx, pkt: rtpPacket(t, ssrcA, 0, 0, 0, false, pattern(0, 160))}
	b.enc = make([][]byte, n)
	b.bufs = make([][]byte, n)
	for i := range b.enc {
		b.enc[i] = make([]byte, 0, len(b.pkt)+tx.Overhead())
		b.bufs[i] = make([]byte, len(b.pkt)+tx.Overhead())
	}
	return b
}

// refill protects the next len(enc) packets.
func (b *srtpBatch) refill(t testing.TB) {
	for i := range b.enc {
		rewrite(b.pkt, b.seq, uint32(b.seq)*160)
		b.seq++
		out, err := b.tx.Encrypt(b.enc[i][:0], b.pkt)
		if err != nil {
			t.Fatal(err)
		}
		b.enc[i] = out
		copy(b.bufs[i], out)
	}
}

// BenchmarkSRTPDecrypt: authenticate and decrypt one 20 ms PCMU packet
// (160 bytes of payload) in place, per suite: the cost SRTP adds per
// received packet.
func BenchmarkSRTPDecrypt(b *testing.B) {
	for _, suite := range SupportedCryptoSuites() {
		b.Run(string(suite), func(b *testing.B) {
			tx, rx, _ := srtpPair(b, suite, SRTPConfig{})
			batch := newSRTPBatch(b, tx, 4096)
			var cpu cpuMeter
			b.ReportAllocs()
			b.SetBytes(160)
			b.ResetTimer()
			for done := 0; done < b.N; {
				b.StopTimer()
				batch.refill(b)
				n := min(len(batch.bufs), b.N-done)
				b.StartTimer()
				cpu.begin()
				for _, buf := range batch.bufs[:n] {
					if _, err := rx.Decrypt(buf); err != nil {
						b.Fatal(err)
					}
				}
				cpu.end()
				done += n
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
			cpu.report(b, b.N)
		})
	}
}

// BenchmarkSRTPEncrypt: protect one 20 ms PCMU packet in place.
func BenchmarkSRTPEncrypt(b *testing.B) {
	for _, suite := range SupportedCryptoSuites() {
		b.Run(string(suite), func(b *testing.B) {
			tx, _, _ := srtpPair(b, suite, SRTPConfig{})
			pkt := rtpPacket(b, ssrcA, 0, 0, 0, false, pattern(0, 160))
			buf := make([]byte, len(pkt), len(pkt)+tx.Overhead())
			var cpu cpuMeter
			b.ReportAllocs()
			b.SetBytes(160)
			cpu.begin()
			for i := 0; b.Loop(); i++ {
				rewrite(pkt, uint16(i), uint32(i)*160)
				copy(buf, pkt)
				if _, err := tx.Encrypt(buf[:0], buf); err != nil {
					b.Fatal(err)
				}
			}
			cpu.end()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
			cpu.report(b, b.N)
		})
	}
}

// BenchmarkReceivePathSRTP: BenchmarkReceivePath (parse, latch, sequence,
// reorder, jitter, decode, timeline, handler) with SRTP
// (AES_CM_128_HMAC_SHA1_80) decryption in front: the whole per-packet
// receive cost of an SRTP stream, without the socket. With "plain" the
// same packets in clear, for the difference.
func BenchmarkReceivePathSRTP(b *testing.B) {
	for _, srtp := range []bool{true, false} {
		name := map[bool]string{true: "AES_CM_128_HMAC_SHA1_80", false: "plain"}[srtp]
		b.Run(name, func(b *testing.B) {
			tx, rx, _ := srtpPair(b, SuiteAESCM128HMACSHA1_80, SRTPConfig{})
			h := &nopHandler{}
			cfg := ReceiverConfig{Handler: h, LatchPackets: 1} // as BenchmarkReceivePath
			if srtp {
				cfg.SRTP = rx
			}
			sc, codecs, _ := resolveConfig(cfg)
			s := newStream(sc, codecs)
			batch := newSRTPBatch(b, tx, 4096)
			at := time.Unix(1700000000, 0)
			var cpu cpuMeter
			b.ReportAllocs()
			b.SetBytes(160)
			b.ResetTimer()
			for done := 0; done < b.N; {
				b.StopTimer()
				batch.refill(b)
				if !srtp { // the clear packets
					for i, buf := range batch.bufs {
						rewrite(batch.pkt, batch.seq-uint16(len(batch.bufs)-i), uint32(batch.seq-uint16(len(batch.bufs)-i))*160)
						batch.bufs[i] = append(buf[:0], batch.pkt...)
					}
				}
				n := min(len(batch.bufs), b.N-done)
				b.StartTimer()
				cpu.begin()
				for _, buf := range batch.bufs[:n] {
					at = at.Add(20 * time.Millisecond)
					s.process(buf, srcAddr, at)
				}
				cpu.end()
				done += n
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
			cpu.report(b, b.N)
			if h.samples == 0 || s.st.AuthFailures != 0 || s.st.Received != uint64(b.N) {
				b.Fatalf("%d samples, %d received of %d, %d authentication failures", h.samples, s.st.Received, b.N, s.st.AuthFailures)
			}
		})
	}
}

// TestSRTPDoesNotAllocate: the SRTP per-packet paths allocate nothing once
// warm: decrypting a valid packet, refusing a replayed one and a forged one
// (for an SSRC already authenticated; a forged GCM packet costs pion's
// error wrapping, one of a new SSRC pion's state for it), the receive path
// with SRTP, and the Sender encrypting audio and DTMF.
func TestSRTPDoesNotAllocate(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("coverage instrumentation and the race detector allocate")
	}
	for _, suite := range SupportedCryptoSuites() {
		t.Run(string(suite), func(t *testing.T) {
			tx, rx, _ := srtpPair(t, suite, SRTPConfig{})
			batch := newSRTPBatch(t, tx, 300)
			batch.refill(t)
			for i := range 50 { // warm up: the SSRC's state is created here
				if _, err := rx.Decrypt(batch.bufs[i]); err != nil {
					t.Fatal(err)
				}
			}
			next := 50
			if n := testing.AllocsPerRun(200, func() {
				if _, err := rx.Decrypt(batch.bufs[next]); err != nil {
					t.Fatal(err)
				}
				next++
			}); n != 0 {
				t.Errorf("%v allocations per decrypted packet", n)
			}
			forged := bytes.Clone(batch.enc[299])
			replayed := bytes.Clone(batch.enc[10])
			work := make([]byte, len(forged))
			if n := testing.AllocsPerRun(100, func() {
				copy(work, replayed)
				if _, err := rx.Decrypt(work); err != ErrSRTPReplay {
					t.Fatal(err)
				}
			}); n != 0 {
				t.Errorf("%v allocations per replayed packet", n)
			}
			// pion/srtp v3.1.3 wraps a GCM authentication failure with
			// fmt.Errorf (4 allocations); its AES-CM path allocates nothing.
			budget := map[CryptoSuite]float64{SuiteAEADAES128GCM: 4, SuiteAEADAES256GCM: 4}[suite]
			if n := testing.AllocsPerRun(100, func() {
				copy(work, forged)
				work[len(work)-1] ^= 1
				if _, err := rx.Decrypt(work); err != ErrSRTPAuth {
					t.Fatal(err)
				}
			}); n > budget {
				t.Errorf("%v allocations per forged packet, budget %v", n, budget)
			}
			// A forged packet of an SSRC never authenticated costs pion one
			// more: the state it builds for the SSRC and drops.
			stranger := protect(t, tx, rtpPacket(t, ssrcA+1, 1, 0, 0, false, pattern(1, 160)))
			if n := testing.AllocsPerRun(100, func() {
				copy(work, stranger)
				work[len(work)-1] ^= 1
				if _, err := rx.Decrypt(work); err != ErrSRTPAuth {
					t.Fatal(err)
				}
			}); n > budget+1 {
				t.Errorf("%v allocations per forged packet of a new SSRC, budget %v", n, budget+1)
			}
		})
	}
	t.Run("receive path", func(t *testing.T) {
		tx, rx, _ := srtpPair(t, SuiteAESCM128HMACSHA1_80, SRTPConfig{})
		h := &nopHandler{}
		sc, codecs, _ := resolveConfig(ReceiverConfig{Handler: h, SRTP: rx})
		s := newStream(sc, codecs)
		batch := newSRTPBatch(t, tx, 400)
		batch.refill(t)
		at := time.Unix(1700000000, 0)
		next := 0
		feed := func() {
			at = at.Add(20 * time.Millisecond)
			s.process(batch.bufs[next], srcAddr, at)
			next++
		}
		for range 100 {
			feed()
		}
		if n := testing.AllocsPerRun(200, feed); n != 0 {
			t.Errorf("%v allocations per packet", n)
		}
		if st := s.stats(); st.Received != 301 || h.samples == 0 { // AllocsPerRun runs once more
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("send", func(t *testing.T) {
		tx, _, _ := srtpPair(t, SuiteAESCM128HMACSHA1_80, SRTPConfig{})
		s, err := NewSender(&discard{}, netip.MustParseAddrPort("127.0.0.1:9"), SenderConfig{SRTP: tx})
		if err != nil {
			t.Fatal(err)
		}
		pcm := tone(440, 1000, 100)
		if n := testing.AllocsPerRun(200, func() { _ = s.WritePCM(pcm) }); n != 0 {
			t.Errorf("%v allocations per write", n)
		}
		if n := testing.AllocsPerRun(20, func() { _ = s.WriteDTMF('1', 100*time.Millisecond) }); n != 0 {
			t.Errorf("%v allocations per DTMF", n)
		}
	})
}
