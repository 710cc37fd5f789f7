package media

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// srtpPair returns an encrypting and a decrypting context of one fresh key.
func srtpPair(t testing.TB, suite CryptoSuite, cfg SRTPConfig) (tx, rx *SRTPContext, c Crypto) {
	t.Helper()
	c, err := NewCrypto(1, suite)
	if err != nil {
		t.Fatal(err)
	}
	return srtpPairOf(t, c, cfg)
}

func srtpPairOf(t testing.TB, c Crypto, cfg SRTPConfig) (tx, rx *SRTPContext, _ Crypto) {
	t.Helper()
	tx, err := NewSRTPContext(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rx, err = NewSRTPContext(c, cfg); err != nil {
		t.Fatal(err)
	}
	return tx, rx, c
}

// protect encrypts a copy of pkt.
func protect(t testing.TB, tx *SRTPContext, pkt []byte) []byte {
	t.Helper()
	out, err := tx.Encrypt(nil, pkt)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSRTPRoundTrip(t *testing.T) {
	for _, suite := range SupportedCryptoSuites() {
		t.Run(string(suite), func(t *testing.T) {
			tx, rx, _ := srtpPair(t, suite, SRTPConfig{})
			for seq := range uint16(20) {
				pkt := rtpPacket(t, ssrcA, seq, uint32(seq)*160, 0, false, pattern(seq, 160))
				buf := make([]byte, len(pkt), len(pkt)+tx.Overhead())
				copy(buf, pkt)
				enc, err := tx.Encrypt(buf[:0], buf) // in place
				if err != nil {
					t.Fatal(err)
				}
				if &enc[0] != &buf[0] || len(enc) != len(pkt)+tx.Overhead() {
					t.Fatalf("not encrypted in place, or %d bytes", len(enc))
				}
				if bytes.Contains(enc, pattern(seq, 16)) {
					t.Fatal("payload in clear")
				}
				dec, err := rx.Decrypt(enc)
				if err != nil {
					t.Fatal(err)
				}
				if &dec[0] != &enc[0] || !bytes.Equal(dec, pkt) {
					t.Fatalf("seq %d: not decrypted in place to the original", seq)
				}
			}
		})
	}
}

// TestSRTPForgedAndReplayed: a packet with a flipped bit anywhere
// authenticated (header, payload, tag) fails with ErrSRTPAuth and leaves
// the context as it was; a packet received twice, or older than the
// window, fails with ErrSRTPReplay; packets reordered within the window
// pass once each.
func TestSRTPForgedAndReplayed(t *testing.T) {
	for _, suite := range SupportedCryptoSuites() {
		t.Run(string(suite), func(t *testing.T) {
			tx, rx, _ := srtpPair(t, suite, SRTPConfig{ReplayWindow: 64})
			var enc [][]byte
			for seq := range uint16(200) {
				enc = append(enc, protect(t, tx, rtpPacket(t, ssrcA, seq, uint32(seq)*160, 0, false, pattern(seq, 160))))
			}
			open := func(i int) error {
				_, err := rx.Decrypt(bytes.Clone(enc[i]))
				return err
			}
			for _, at := range []int{1, 3, 12, 40, len(enc[0]) - 1} { // M/PT, sequence, SSRC, payload, tag
				forged := bytes.Clone(enc[0])
				forged[at] ^= 0x10
				if _, err := rx.Decrypt(forged); err != ErrSRTPAuth {
					t.Fatalf("bit flipped at %d: %v, want ErrSRTPAuth", at, err)
				}
			}
			for _, i := range []int{0, 1, 3, 2} { // 2 and 3 reordered
				if err := open(i); err != nil {
					t.Fatalf("packet %d: %v", i, err)
				}
			}
			for _, i := range []int{0, 2, 3} {
				if err := open(i); err != ErrSRTPReplay {
					t.Fatalf("packet %d again: %v, want ErrSRTPReplay", i, err)
				}
			}
			for i := 4; i < 100; i++ {
				if i != 50 {
					if err := open(i); err != nil {
						t.Fatalf("packet %d: %v", i, err)
					}
				}
			}
			if err := open(50); err != nil { // 49 behind the highest: inside the window of 64
				t.Fatalf("late packet within the window: %v", err)
			}
			if err := open(30); err != ErrSRTPReplay { // 69 behind: outside
				t.Fatalf("packet older than the window: %v, want ErrSRTPReplay", err)
			}
			if err := open(100); err != nil {
				t.Fatalf("the next packet after all that: %v", err)
			}
		})
	}
}

// TestSRTPRolloverAgreesWithPion: across sequence wrap-arounds, with
// reordering over the wrap, the index the replay window uses is the one
// pion authenticated the packet with (its rollover counter is ours).
func TestSRTPRolloverAgreesWithPion(t *testing.T) {
	tx, rx, _ := srtpPair(t, SuiteAESCM128HMACSHA1_80, SRTPConfig{})
	var enc [][]byte
	start := uint16(65000)
	for i := range 140000 { // three wraps
		seq := start + uint16(i)
		enc = append(enc, protect(t, tx, rtpPacket(t, ssrcA, seq, uint32(i)*160, 0, false, pattern(seq, 8))))
	}
	for i := 0; i < len(enc); i++ {
		j := i
		if i%100 == 35 && i+1 < len(enc) { // swap pairs, some straddling a wrap
			j = i + 1
		} else if i%100 == 36 {
			j = i - 1
		}
		if _, err := rx.Decrypt(enc[j]); err != nil {
			t.Fatalf("packet %d (seq %d): %v", j, start+uint16(j), err)
		}
		src := rx.cur.sources[ssrcA]
		if roc, ok := rx.cur.ctx.ROC(ssrcA); !ok || roc != uint32(src.index>>16) {
			t.Fatalf("after packet %d: our rollover counter %d, pion's %d", j, src.index>>16, roc)
		}
	}
	if got, want := rx.cur.sources[ssrcA].index, uint64(start)+uint64(len(enc))-1; got != want {
		t.Fatalf("highest index %d, want %d (rollover counter %d)", got, want, want>>16)
	}
}

// TestSRTPLifetime: a key with a lifetime of 2^4 packets protects 16
// packets and no more, in both directions.
func TestSRTPLifetime(t *testing.T) {
	c, err := ParseCrypto("1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + "|2^4")
	if err != nil {
		t.Fatal(err)
	}
	tx, rx, _ := srtpPairOf(t, c, SRTPConfig{})
	for seq := range uint16(17) {
		pkt := rtpPacket(t, ssrcA, seq, 0, 0, false, pattern(seq, 20))
		enc, err := tx.Encrypt(nil, pkt)
		if seq == 16 {
			if err != ErrSRTPKeyExpired {
				t.Fatalf("17th packet protected: %v", err)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rx.Decrypt(enc); err != nil {
			t.Fatal(err)
		}
	}
	tx2, _, _ := srtpPairOf(t, c, SRTPConfig{})
	last := protect(t, tx2, rtpPacket(t, ssrcA, 100, 0, 0, false, pattern(1, 20)))
	if _, err := rx.Decrypt(last); err != ErrSRTPKeyExpired {
		t.Fatalf("17th packet accepted: %v", err)
	}

	// A Sender says so, and sends nothing more.
	out := &capture{}
	tx3, _, _ := srtpPairOf(t, c, SRTPConfig{})
	s, err := NewSender(out, srcAddr, SenderConfig{SRTP: tx3})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WritePCM(make([]int16, 16*160)); err != nil {
		t.Fatal(err)
	}
	if err := s.WritePCM(make([]int16, 160)); !errors.Is(err, ErrSRTPKeyExpired) {
		t.Fatalf("the Sender's 17th packet: %v, want ErrSRTPKeyExpired", err)
	}
	if len(out.pkts) != 16 || s.Stats().Packets != 16 {
		t.Fatalf("%d packets sent", len(out.pkts))
	}
}

func TestSRTPMKI(t *testing.T) {
	c, err := ParseCrypto("1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + "|2^20|258:4")
	if err != nil {
		t.Fatal(err)
	}
	tx, rx, _ := srtpPairOf(t, c, SRTPConfig{})
	pkt := rtpPacket(t, ssrcA, 1, 0, 0, false, pattern(1, 160))
	enc := protect(t, tx, pkt)
	if tx.Overhead() != 14 || len(enc) != len(pkt)+14 || !bytes.Equal(enc[len(pkt):len(pkt)+4], []byte{0, 0, 1, 2}) {
		t.Fatalf("MKI 258:4 not between payload and tag: % x", enc[len(pkt):])
	}
	other := bytes.Clone(enc)
	other[len(pkt)+3] = 3 // an MKI the context does not know
	if _, err := rx.Decrypt(other); err != ErrSRTPAuth {
		t.Fatalf("unknown MKI: %v", err)
	}
	if dec, err := rx.Decrypt(enc); err != nil || !bytes.Equal(dec, pkt) {
		t.Fatalf("Decrypt: %v", err)
	}
}

func TestSRTPContextErrors(t *testing.T) {
	tx, rx, c := srtpPair(t, SuiteAESCM128HMACSHA1_32, SRTPConfig{})
	pkt := rtpPacket(t, ssrcA, 1, 0, 0, false, pattern(1, 160))
	enc := protect(t, tx, pkt)
	if _, err := tx.Decrypt(bytes.Clone(enc)); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("decrypting with an encrypting context: %v", err)
	}
	if _, err := rx.Decrypt(enc); err != nil {
		t.Fatal(err)
	}
	if _, err := rx.Encrypt(nil, pkt); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("encrypting with a decrypting context: %v", err)
	}
	for _, b := range [][]byte{nil, {0x80, 0}, pkt[:12+3], append([]byte{0x40}, enc[1:]...)} {
		if _, err := rx.Decrypt(bytes.Clone(b)); err != ErrMalformedPacket {
			t.Errorf("Decrypt(% x): %v, want ErrMalformedPacket", b, err)
		}
	}
	for _, w := range []int{-1, 63, 1025} {
		if _, err := NewSRTPContext(c, SRTPConfig{ReplayWindow: w}); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), fmt.Sprint(w)) {
			t.Errorf("ReplayWindow %d: %v", w, err)
		}
	}
	// One context, one Receiver or Sender.
	shared, _ := NewSRTPContext(c, SRTPConfig{})
	if _, err := NewReceiver(allocate(t), ReceiverConfig{SRTP: shared}); err != nil {
		t.Fatal(err)
	}
	if _, err := NewReceiver(allocate(t), ReceiverConfig{SRTP: shared}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("a second Receiver on the same context: %v", err)
	}
	if _, err := NewSender(&discard{}, srcAddr, SenderConfig{SRTP: shared}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("a Sender on a Receiver's context: %v", err)
	}
}

// TestSRTPWindowHint: WSH=512 in the remote's line widens the window.
func TestSRTPWindowHint(t *testing.T) {
	c, err := ParseCrypto("1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + " WSH=512")
	if err != nil {
		t.Fatal(err)
	}
	tx, rx, _ := srtpPairOf(t, c, SRTPConfig{})
	var enc [][]byte
	for seq := range uint16(600) {
		enc = append(enc, protect(t, tx, rtpPacket(t, ssrcA, seq, 0, 0, false, pattern(seq, 8))))
	}
	for i := 1; i < 600; i++ {
		if i == 150 {
			continue
		}
		if _, err := rx.Decrypt(enc[i]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := rx.Decrypt(enc[300]); err != ErrSRTPReplay {
		t.Fatalf("replay: %v", err)
	}
	if _, err := rx.Decrypt(enc[150]); err != nil { // 449 behind: inside 512, not inside 128
		t.Fatalf("late packet within the hinted window: %v", err)
	}
	if _, err := rx.Decrypt(enc[0]); err != ErrSRTPReplay { // 599 behind: outside 512
		t.Fatalf("a packet 599 behind: %v, want ErrSRTPReplay", err)
	}
}

// TestSRTPStream: on the receive path, a forged packet (even the first,
// even from the expected address) never latches or reaches the Handler,
// and is counted; a replay is counted and not delivered twice; a stranger's
// packet is dropped as a stranger without a decryption; the audio is the
// clear audio.
func TestSRTPStream(t *testing.T) {
	tx, rx, _ := srtpPair(t, SuiteAESCM128HMACSHA1_80, SRTPConfig{})
	rec := &recorder{strict: true}
	sc, codecs, err := resolveConfig(ReceiverConfig{Handler: rec, SRTP: rx})
	if err != nil {
		t.Fatal(err)
	}
	s := newStream(sc, codecs)
	var enc [][]byte
	for seq := range uint16(10) {
		enc = append(enc, protect(t, tx, rtpPacket(t, ssrcA, seq, uint32(seq)*160, 0, false, pattern(seq, 160))))
	}
	at := time.Unix(1700000000, 0)
	feed := func(b []byte, from netip.AddrPort) {
		at = at.Add(20 * time.Millisecond)
		s.process(bytes.Clone(b), from, at)
	}
	attacker := netip.MustParseAddrPort("203.0.113.66:4000")
	forged := bytes.Clone(enc[0])
	forged[30] ^= 1
	feed(forged, attacker) // would latch the attacker if accepted
	feed(forged, srcAddr)
	if st := s.stats(); st.AuthFailures != 2 || st.Source.IsValid() || st.Received != 0 {
		t.Fatalf("after two forged packets: %+v", st)
	}
	for i := range 5 {
		feed(enc[i], srcAddr)
	}
	feed(enc[2], srcAddr)      // replayed by someone on the path
	feed(enc[5], attacker)     // a stranger, even with a valid packet
	feed(forged[:11], srcAddr) // not RTP
	for i := 5; i < 10; i++ {
		feed(enc[i], srcAddr)
	}
	s.flush()
	rec.check(t)
	st := s.stats()
	if st.AuthFailures != 2 || st.Replayed != 1 || st.Strangers != 1 || st.Malformed != 1 || st.Received != 10 || st.Duplicates != 0 || st.Lost != 0 || st.Source != srcAddr {
		t.Fatalf("stats %+v", st)
	}
	if len(rec.audio) != 10 || rec.pos != 1600 {
		t.Fatalf("%d packets delivered, timeline %d", len(rec.audio), rec.pos)
	}
}

// TestSRTPRekey: after Rekey a decrypting context still opens packets of
// the old key until the first one of the new key authenticates, then only
// the new key's; a Rekey to the same key changes nothing (the replay state
// stays); a bad line leaves the key as it was; an encrypting context
// protects the next packet with the new key, of another suite too.
func TestSRTPRekey(t *testing.T) {
	for _, suites := range [][2]CryptoSuite{
		{SuiteAESCM128HMACSHA1_80, SuiteAESCM128HMACSHA1_80},
		{SuiteAEADAES128GCM, SuiteAEADAES256GCM}, // a failed GCM open overwrites the packet
		{SuiteAESCM128HMACSHA1_32, SuiteAEADAES128GCM},
	} {
		t.Run(string(suites[0])+"→"+string(suites[1]), func(t *testing.T) {
			txA, rx, a := srtpPair(t, suites[0], SRTPConfig{})
			b, _ := NewCrypto(2, suites[1])
			txB, _, _ := srtpPairOf(t, b, SRTPConfig{})
			pkt := func(tx *SRTPContext, seq uint16) []byte {
				return protect(t, tx, rtpPacket(t, ssrcA, seq, uint32(seq)*160, 0, false, pattern(seq, 160)))
			}
			open := func(b []byte) error {
				_, err := rx.Decrypt(bytes.Clone(b))
				return err
			}
			for seq := range uint16(5) {
				if err := open(pkt(txA, seq)); err != nil {
					t.Fatal(err)
				}
			}
			if err := rx.Rekey(b); err != nil {
				t.Fatal(err)
			}
			if rx.Suite() != suites[1] {
				t.Errorf("Suite() = %s after Rekey", rx.Suite())
			}
			inFlight := pkt(txA, 5)
			if err := open(inFlight); err != nil {
				t.Fatalf("a packet of the old key in flight: %v", err)
			}
			if err := open(inFlight); err != ErrSRTPReplay {
				t.Fatalf("the old key's packet again: %v, want ErrSRTPReplay", err)
			}
			forged := pkt(txB, 6)
			forged[len(forged)-1] ^= 1
			if err := open(forged); err != ErrSRTPAuth {
				t.Fatalf("forged under two keys: %v", err)
			}
			first := pkt(txB, 6)
			if err := open(first); err != nil {
				t.Fatalf("the new key's first packet: %v", err)
			}
			if err := open(pkt(txA, 7)); err != ErrSRTPAuth {
				t.Fatalf("the old key after the new one authenticated: %v, want ErrSRTPAuth", err)
			}
			if err := rx.Rekey(b); err != nil { // the same key again: a re-INVITE that kept it
				t.Fatal(err)
			}
			if err := open(first); err != ErrSRTPReplay {
				t.Fatalf("a replay after a Rekey to the same key: %v, want ErrSRTPReplay", err)
			}
			bad := b
			bad.Suite = "F8_128_HMAC_SHA1_80"
			if err := rx.Rekey(bad); !errors.Is(err, ErrUnsupportedCrypto) {
				t.Fatalf("Rekey to an unsupported line: %v", err)
			}
			if err := open(pkt(txB, 8)); err != nil {
				t.Fatalf("the key after a refused Rekey: %v", err)
			}

			// Encrypting: the next packet is the new key's.
			if err := txA.Rekey(b); err != nil {
				t.Fatal(err)
			}
			_, rxB, _ := srtpPairOf(t, b, SRTPConfig{})
			if _, err := rxB.Decrypt(pkt(txA, 9)); err != nil {
				t.Fatalf("after an encrypting Rekey: %v", err)
			}
			_ = a
		})
	}
}

// TestSRTPRekeyWhileReceiving: Rekey from another goroutine while a
// Receiver on a Poller decrypts (run with -race): every packet of either
// key is delivered.
func TestSRTPRekeyWhileReceiving(t *testing.T) {
	receivePaths(t, func(t *testing.T, poller *Poller) {
		txA, rx, _ := srtpPair(t, SuiteAESCM128HMACSHA1_80, SRTPConfig{})
		b, _ := NewCrypto(2, SuiteAESCM128HMACSHA1_80)
		txB, _, _ := srtpPairOf(t, b, SRTPConfig{})
		r, rec := startReceiver(t, ReceiverConfig{SRTP: rx, Poller: poller})
		p := newPeer(t, r.LocalAddr())
		rekeyed := make(chan error, 1)
		for seq := range uint16(100) {
			tx := txA
			if seq == 20 {
				go func() { rekeyed <- rx.Rekey(b) }()
			}
			if seq >= 60 {
				if seq == 60 {
					if err := <-rekeyed; err != nil {
						t.Fatal(err)
					}
				}
				tx = txB
			}
			p.raw(protect(t, tx, rtpPacket(t, ssrcA, seq, uint32(seq)*160, 0, false, pattern(seq, 160))))
			if seq%10 == 9 {
				waitStats(t, r, "packets", func(s Stats) bool { return s.Datagrams == uint64(seq)+1 })
			}
		}
		st := waitStats(t, r, "100 packets", func(s Stats) bool { return s.Datagrams == 100 })
		if st.Received != 100 || st.AuthFailures != 0 {
			t.Fatalf("stats %+v", st)
		}
		_ = r.Close()
		rec.check(t)
	})
}
