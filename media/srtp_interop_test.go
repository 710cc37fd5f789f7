package media

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/voicegw/voicegw/internal/srtppeer"
	"github.com/voicegw/voicegw/internal/testenv"
)

// The tests in this file check SRTP against libsrtp2, the reference
// implementation, through Debian's python3-pylibsrtp
// (internal/srtppeer): pion/srtp on both ends would prove nothing.

const systemPython = "/usr/bin/python3" // Debian's, where python3-pylibsrtp lives

// requireLibsrtp skips (fails under CI=true) when libsrtp for Python is not
// installed.
func requireLibsrtp(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(systemPython); err != nil {
		testenv.Missing(t, "python3 with libsrtp2 (Debian package python3-pylibsrtp)", "apt-get install -y python3-pylibsrtp")
	}
	if out, err := exec.Command(systemPython, "-c", "import pylibsrtp").CombinedOutput(); err != nil {
		testenv.Missing(t, "libsrtp2 for Python (Debian package python3-pylibsrtp): "+strings.TrimSpace(string(out)), "apt-get install -y python3-pylibsrtp")
	}
}

// libsrtpPeer is one run of internal/srtppeer's srtp_peer.py.
type libsrtpPeer struct {
	cmd *exec.Cmd
	out *bufio.Scanner
}

func startLibsrtpPeer(t *testing.T, req map[string]any) *libsrtpPeer {
	t.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(systemPython, srtppeer.Script(t))
	cmd.Stdin = bytes.NewReader(append(body, '\n'))
	cmd.Stderr = &testWriter{t}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	return &libsrtpPeer{cmd: cmd, out: sc}
}

// read decodes the peer's next JSON line into v.
func (p *libsrtpPeer) read(t *testing.T, v any) {
	t.Helper()
	if !p.out.Scan() {
		t.Fatalf("libsrtp peer ended without an answer: %v", p.out.Err())
	}
	if err := json.Unmarshal(p.out.Bytes(), v); err != nil {
		t.Fatalf("libsrtp peer said %q: %v", p.out.Text(), err)
	}
}

type testWriter struct{ t *testing.T }

func (w *testWriter) Write(b []byte) (int, error) {
	w.t.Logf("srtp_peer.py: %s", bytes.TrimSpace(b))
	return len(b), nil
}

// capture is a PacketWriter that keeps copies of what a Sender sends.
type capture struct{ pkts [][]byte }

func (c *capture) WriteToUDPAddrPort(b []byte, _ netip.AddrPort) (int, error) {
	c.pkts = append(c.pkts, bytes.Clone(b))
	return len(b), nil
}

// clearCall returns the clear RTP packets of a 2 s call: a 440 Hz tone in
// PCMU, 20 ms packets, with sequence numbers that wrap around after 36
// packets (the SRTP rollover counter changes mid-call), and a DTMF digit.
func clearCall(t *testing.T) (pkts [][]byte, pcm []int16) {
	t.Helper()
	var c capture
	s, err := NewSender(&c, srcAddr, SenderConfig{SSRC: 0x5EC0DE, Sequence: 65500, Timestamp: 1 << 31})
	if err != nil {
		t.Fatal(err)
	}
	pcm = tone(440, 8000, 16000)
	if err := s.WritePCM(pcm[:8000]); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteDTMF('7', 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := s.WritePCM(pcm[8000:]); err != nil {
		t.Fatal(err)
	}
	return c.pkts, pcm
}

// sdesOffer is the SDP a libsrtp-based SBC would send: one RTP/SAVP line
// with its a=crypto line.
func sdesOffer(t *testing.T, crypto string) *SessionDescription {
	t.Helper()
	d, err := ParseSDP([]byte("v=0\r\no=sbc 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 40000 RTP/SAVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=label:1\r\na=sendonly\r\n" +
		"a=crypto:" + crypto + "\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestSRTPFromLibsrtp: libsrtp protects a call and sends it to a Receiver
// that was set up the way a recording server does it (offer with a=crypto →
// Answer with SDES → NegotiatedSDES → SRTPContext). The audio and DTMF the
// Receiver delivers are bit-identical to those of a plain Receiver fed the
// same call in clear, through a sequence wrap-around and a reordered pair;
// a packet with a forged tag, one with a forged payload (both sent before
// the genuine packet, so that accepting them would change the audio) and
// two replayed packets are counted and absent from the audio.
func TestSRTPFromLibsrtp(t *testing.T) {
	requireLibsrtp(t)
	for _, suite := range SupportedCryptoSuites() {
		t.Run(string(suite), func(t *testing.T) {
			paths := []string{"goroutine"}
			if suite == SuiteAESCM128HMACSHA1_80 {
				paths = append(paths, "poller")
			}
			for _, path := range paths {
				t.Run(path, func(t *testing.T) {
					var poller *Poller
					if path == "poller" {
						poller = newTestPoller(t, 2)
					}
					remote, err := NewCrypto(1, suite) // the SBC's key
					if err != nil {
						t.Fatal(err)
					}
					line, _ := remote.Marshal()
					fromLibsrtp(t, suite, sdesOffer(t, line+"|2^31"), poller, "")
				})
			}
		})
	}
	t.Run("MKI", func(t *testing.T) {
		remote, _ := NewCrypto(5, SuiteAESCM128HMACSHA1_80)
		line, _ := remote.Marshal()
		fromLibsrtp(t, SuiteAESCM128HMACSHA1_80, sdesOffer(t, line+"|2^20|1:4 WSH=256"), nil, "00000001")
	})
	t.Run("re-key", func(t *testing.T) {
		// A re-INVITE changed the SBC's key (a new crypto context, RFC 4568
		// §7.1.4) after the sequence wrapped, while the old key's packets
		// were on the way: those still open until the new key's first.
		remote, _ := NewCrypto(1, SuiteAESCM128HMACSHA1_80)
		line, _ := remote.Marshal()
		fromLibsrtp(t, SuiteAESCM128HMACSHA1_80, sdesOffer(t, line), nil, "", rekeyAt(50))
	})
}

// rekeyAt makes fromLibsrtp change the key from packet i on.
type rekeyAt int

func fromLibsrtp(t *testing.T, suite CryptoSuite, offer *SessionDescription, poller *Poller, mki string, rekey ...rekeyAt) {
	ans, err := Answer(offer, AnswerConfig{
		Address: loopback, Direction: RecvOnly, SDES: &SDESConfig{Require: true},
		Port: func(int, *Media) (int, error) { return 40002, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := NegotiatedSDES(&offer.Media[0], &ans.Media[0])
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := NewSRTPContext(keys.Offer, SRTPConfig{})
	if err != nil {
		t.Fatal(err)
	}
	// The peer sends the 2.1 s call at once: the timeline may run that far
	// ahead of the arrival clock here.
	skew := 10 * time.Second
	secure, srec := startReceiver(t, ReceiverConfig{SRTP: ctx, Poller: poller, Codecs: ans.Media[0].Codecs, MaxTimestampSkew: skew})
	plain, prec := startReceiver(t, ReceiverConfig{Poller: poller, Codecs: ans.Media[0].Codecs, MaxTimestampSkew: skew})

	pkts, pcm := clearCall(t)
	var hexPkts []string
	for _, p := range pkts {
		hexPkts = append(hexPkts, hex.EncodeToString(p))
	}
	// The script: everything once, 10 and 11 swapped, forgeries of 20 and
	// 30 sent just before them, 5 and 40 replayed (40 after the rollover).
	var script, clear [][2]any
	for i := range pkts {
		switch i {
		case 10:
			continue
		case 20:
			script = append(script, [2]any{"forge_tag", i})
		case 30:
			script = append(script, [2]any{"forge_payload", i})
		case 45:
			script = append(script, [2]any{"replay", 5})
		case 60:
			script = append(script, [2]any{"replay", 40})
		}
		script = append(script, [2]any{"send", i})
		clear = append(clear, [2]any{"clear", i})
		if i == 11 {
			script = append(script, [2]any{"send", 10})
			clear = append(clear, [2]any{"clear", 10})
		}
	}
	key2, rekeyFrom := "", 0
	if len(rekey) > 0 {
		rekeyFrom = int(rekey[0])
		// The re-INVITE's line, and the Rekey it leads to, before the old
		// key's last packets arrive.
		next, _ := NewCrypto(keys.Offer.Tag, suite)
		if err := ctx.Rekey(next); err != nil {
			t.Fatal(err)
		}
		key2 = base64.StdEncoding.EncodeToString(next.Keys[0].Key.Reveal())
		for i, op := range script {
			if op[0] == "send" && op[1].(int) >= int(rekey[0]) {
				script[i][0] = "send2"
			}
		}
	}
	send := func(to netip.AddrPort, script [][2]any) {
		p := startLibsrtpPeer(t, map[string]any{
			"mode": "send", "suite": string(suite), "key": base64.StdEncoding.EncodeToString(keys.Offer.Keys[0].Key.Reveal()),
			"key2": key2, "key2_from": rekeyFrom, "to": []any{to.Addr().String(), to.Port()}, "packets": hexPkts, "script": script, "mki": mki,
		})
		var res struct{ Sent int }
		p.read(t, &res)
		if res.Sent != len(script) {
			t.Fatalf("libsrtp peer sent %d of %d", res.Sent, len(script))
		}
	}
	send(secure.LocalAddr(), script)
	send(plain.LocalAddr(), clear)
	n := uint64(len(pkts))
	st := waitStats(t, secure, "the SRTP call", func(s Stats) bool { return s.Datagrams == uint64(len(script)) })
	pst := waitStats(t, plain, "the clear call", func(s Stats) bool { return s.Datagrams == n })
	_ = secure.Close()
	_ = plain.Close()
	st, pst = secure.Stats(), plain.Stats()
	srec.check(t)
	prec.check(t)
	wantAuth, wantReplay := uint64(2), uint64(2)
	if len(rekey) > 0 {
		// Packet 40 replayed after the new key's first packet: the old key
		// is no longer accepted, so it fails authentication.
		wantAuth, wantReplay = 3, 1
	}
	if st.AuthFailures != wantAuth || st.Replayed != wantReplay || st.Received != n || st.Lost != 0 || st.Malformed != 0 || st.DTMFEvents != 1 {
		t.Errorf("SRTP stats: %d authentication failures, %d replayed (want %d and %d), %d received of %d, %d lost, %d malformed, %d DTMF",
			st.AuthFailures, st.Replayed, wantAuth, wantReplay, st.Received, n, st.Lost, st.Malformed, st.DTMFEvents)
	}
	if pst.Received != n || pst.DTMFEvents != 1 {
		t.Errorf("clear stats %+v", pst)
	}
	srec.mu.Lock()
	prec.mu.Lock()
	defer srec.mu.Unlock()
	defer prec.mu.Unlock()
	if len(srec.pcm) == 0 || !equalPCM(srec.pcm, prec.pcm) {
		t.Fatalf("SRTP audio (%d samples) differs from the clear audio (%d samples)", len(srec.pcm), len(prec.pcm))
	}
	if want := g711RoundTrip(EncodingPCMU, pcm); !equalPCM(prec.pcm[:8000], want[:8000]) {
		t.Fatal("the clear reference is not the tone sent")
	}
	if len(srec.dtmf) != 1 || len(prec.dtmf) != 1 || srec.dtmf[0].Digit != '7' {
		t.Fatalf("DTMF %v, clear %v", srec.dtmf, prec.dtmf)
	}
	sd, pd := srec.dtmf[0], prec.dtmf[0]
	sd.Arrival, pd.Arrival = time.Time{}, time.Time{}
	if sd != pd {
		t.Fatalf("DTMF %+v, clear %+v", sd, pd)
	}
}

// TestSRTPToLibsrtp: a Sender encrypting with the key a recording client
// offered (OfferCrypto → answer → NegotiatedSDES) sends a call with a
// sequence wrap-around and DTMF to libsrtp, which authenticates and
// decrypts every packet to exactly the clear packet a plain Sender with
// the same settings writes.
func TestSRTPToLibsrtp(t *testing.T) {
	requireLibsrtp(t)
	for _, suite := range SupportedCryptoSuites() {
		t.Run(string(suite), func(t *testing.T) { toLibsrtp(t, suite, "") })
	}
	t.Run("MKI", func(t *testing.T) { toLibsrtp(t, SuiteAESCM128HMACSHA1_80, "|2^31|7:2") })
}

func toLibsrtp(t *testing.T, suite CryptoSuite, keyParams string) {
	lines, err := OfferCrypto(suite)
	if err != nil {
		t.Fatal(err)
	}
	if keyParams != "" {
		v, _ := lines[0].Marshal()
		if lines[0], err = ParseCrypto(v + keyParams); err != nil {
			t.Fatal(err)
		}
	}
	offer := &SessionDescription{Origin: Origin{Username: "src", SessionID: 1, SessionVersion: 1}, Address: loopback,
		Media: []Media{{Type: "audio", Port: 40000, Protocol: ProtoSRTP, Codecs: DefaultCodecs(), Label: "1", Direction: SendOnly, Crypto: lines}}}
	body, err := offer.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ParseSDP(body) // what the recorder reads
	if err != nil {
		t.Fatal(err)
	}
	ans, err := Answer(parsed, AnswerConfig{Address: loopback, Direction: RecvOnly, SDES: &SDESConfig{},
		Port: func(int, *Media) (int, error) { return 40002, nil }})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := NegotiatedSDES(&offer.Media[0], &ans.Media[0])
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := NewSRTPContext(keys.Offer, SRTPConfig{})
	if err != nil {
		t.Fatal(err)
	}

	want, pcm := clearCall(t)
	mki := ""
	if k := keys.Offer.Keys[0]; k.MKILength > 0 {
		mki = hex.EncodeToString(k.mkiBytes())
	}
	p := startLibsrtpPeer(t, map[string]any{
		"mode": "recv", "suite": string(suite), "key": base64.StdEncoding.EncodeToString(keys.Offer.Keys[0].Key.Reveal()),
		"count": len(want), "idle_ms": 3000, "mki": mki,
	})
	var port struct{ Port uint16 }
	p.read(t, &port)
	conn := allocate(t)
	s, err := NewSender(conn, netip.AddrPortFrom(loopback, port.Port), SenderConfig{SSRC: 0x5EC0DE, Sequence: 65500, Timestamp: 1 << 31, SRTP: ctx})
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []func() error{
		func() error { return s.WritePCM(pcm[:8000]) },
		func() error { return s.WriteDTMF('7', 100*time.Millisecond) },
		func() error { return s.WritePCM(pcm[8000:]) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	var res struct {
		Packets []*string
		Errors  []string
	}
	p.read(t, &res)
	if len(res.Errors) != 0 {
		t.Fatalf("libsrtp refused %d packets: %v", len(res.Errors), res.Errors)
	}
	got := map[string]int{}
	for _, h := range res.Packets {
		got[*h]++
	}
	for i, w := range want {
		h := hex.EncodeToString(w)
		if got[h] == 0 {
			t.Fatalf("packet %d (seq %d) not decrypted by libsrtp to the clear packet (%d of %d received)", i, uint16(65500+i), len(res.Packets), len(want))
		}
		got[h]--
	}
}
