package siprec

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/internal/srtppeer"
	"github.com/voicegw/voicegw/media"
)

// The tests of this file send SRTP with libsrtp2 (internal/srtppeer), the
// reference implementation, to the recording server. The harness's client
// speaks SIP over TCP, so they allow SDES over clear signalling
// (SRTPConfig.AllowClearSignalling); SIP over TLS is tested in siprec/srs
// and examples/gateway.

// captureWriter is a media.PacketWriter keeping what a Sender sends.
type captureWriter struct{ pkts [][]byte }

func (c *captureWriter) WriteToUDPAddrPort(b []byte, _ netip.AddrPort) (int, error) {
	c.pkts = append(c.pkts, bytes.Clone(b))
	return len(b), nil
}

// rtpPackets returns the clear RTP packets of pcm in PCMU (20 ms each) from
// ssrc, with sequence numbers from seq.
func rtpPackets(t *testing.T, pcm []int16, ssrc uint32, seq uint16) []string {
	t.Helper()
	var c captureWriter
	s, err := media.NewSender(&c, netip.MustParseAddrPort("127.0.0.1:9"), media.SenderConfig{SSRC: ssrc, Sequence: seq, Timestamp: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WritePCM(pcm); err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(c.pkts))
	for i, p := range c.pkts {
		out[i] = hex.EncodeToString(p)
	}
	return out
}

// freeUDPPort returns a loopback UDP port free right now (the libsrtp peer
// binds it to send from the address its offer names).
func freeUDPPort(t *testing.T) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

// sdesLeg is a stream the test offers: its source port (the peer's) and,
// for SRTP, its a=crypto line.
type sdesLeg struct {
	label  string
	port   int
	crypto *media.Crypto // nil: RTP/AVP
}

func sdesOffer(v uint64, legs ...sdesLeg) *media.SessionDescription {
	d := &media.SessionDescription{
		Origin:  media.Origin{Username: "sbc", SessionID: 77, SessionVersion: v, Address: "127.0.0.1"},
		Address: netip.MustParseAddr("127.0.0.1"),
	}
	for _, l := range legs {
		m := media.Media{Type: "audio", Port: l.port, Protocol: media.ProtoRTP, Address: d.Address, Label: l.label,
			Direction: media.SendOnly, PTime: 20 * time.Millisecond,
			Codecs: []media.Codec{{PayloadType: 0, Encoding: media.EncodingPCMU, ClockRate: 8000}}}
		if l.crypto != nil {
			m.Protocol, m.Crypto = media.ProtoSRTP, []media.Crypto{*l.crypto}
		}
		d.Media = append(d.Media, m)
	}
	return d
}

func newCrypto(t *testing.T, tag int, suite media.CryptoSuite) *media.Crypto {
	t.Helper()
	c, err := media.NewCrypto(tag, suite)
	if err != nil {
		t.Fatal(err)
	}
	return &c
}

// keyOf returns the base64 master key and salt of c, as libsrtp takes it.
func keyOf(c *media.Crypto) string {
	return base64.StdEncoding.EncodeToString(c.Keys[0].Key.Reveal())
}

// TestSRSSRTPFromLibsrtp: for every supported suite, libsrtp sends a call's
// two streams as SRTP to the ports the server answered for an RTP/SAVP
// offer. The server answers each line with one a=crypto line (the offered
// tag and suite, its own key); what reaches the sink is bit-identical to
// the same call sent in clear to a session offered RTP/AVP. A forged tag
// and a forged payload (each sent before the genuine packet, so that
// accepting it would change the audio) and a replayed packet are dropped:
// counted in the stream's Stats (AuthFailures, Replayed) and absent from
// the audio.
func TestSRSSRTPFromLibsrtp(t *testing.T) {
	srtppeer.Require(t)
	for _, suite := range media.SupportedCryptoSuites() {
		t.Run(string(suite), func(t *testing.T) {
			t.Parallel()
			srtpVersusClear(t, suite)
		})
	}
}

func srtpVersusClear(t *testing.T, suite media.CryptoSuite) {
	e := newSRSEnv(t, Config{SRTP: SRTPConfig{AllowClearSignalling: true}})
	pcm := map[string][]int16{"1": srsTone(440, 8000), "2": srsTone(880, 8000)} // 1 s each
	var sinks [2]*srsSink
	for run, secure := range []bool{false, true} {
		cl := newSRSClient(t, e)
		legs := []sdesLeg{{label: "1", port: freeUDPPort(t)}, {label: "2", port: freeUDPPort(t)}}
		if secure {
			legs[0].crypto, legs[1].crypto = newCrypto(t, 1, suite), newCrypto(t, 3, suite)
		}
		ans := srsAnswerOf(t, cl.invite(sdesOffer(1, legs...), srsMetadataFor("", "1", "2"), false))
		k := e.sinks.wait(t)
		sinks[run] = k
		for i, m := range ans.Media {
			switch {
			case !secure && (m.Protocol != media.ProtoRTP || len(m.Crypto) != 0):
				t.Fatalf("clear answer line %d: %s with %d a=crypto", i, m.Protocol, len(m.Crypto))
			case secure && (m.Protocol != media.ProtoSRTP || len(m.Crypto) != 1):
				t.Fatalf("SRTP answer line %d: %s with %d a=crypto lines, want RTP/SAVP with one", i, m.Protocol, len(m.Crypto))
			case secure:
				c := m.Crypto[0]
				if c.Tag != legs[i].crypto.Tag || c.Suite != suite {
					t.Fatalf("answer line %d: a=crypto:%d %s, want the offered tag %d and suite %s", i, c.Tag, c.Suite, legs[i].crypto.Tag, suite)
				}
				if bytes.Equal(c.Keys[0].Key.Reveal(), legs[i].crypto.Keys[0].Key.Reveal()) {
					t.Fatalf("answer line %d echoes the client's key", i)
				}
			}
		}
		var peers []*srtppeer.Peer
		for i, l := range legs {
			pkts := rtpPackets(t, pcm[l.label], 0x1000+uint32(i), 65530) // wraps: the ROC changes
			script := [][2]any{}
			for j := range pkts {
				if secure && j == 20 {
					script = append(script, [2]any{"forge_tag", j}, [2]any{"forge_payload", j})
				}
				op := "clear"
				if secure {
					op = "send"
				}
				script = append(script, [2]any{op, j}, [2]any{"sleep", 10})
				if secure && j == 30 {
					script = append(script, [2]any{"replay", 25})
				}
			}
			req := map[string]any{"mode": "send", "suite": string(suite), "to": []any{"127.0.0.1", ans.Media[i].Port},
				"from": l.port, "packets": pkts, "script": script}
			if secure {
				req["key"] = keyOf(l.crypto)
			} else {
				req["key"] = base64.StdEncoding.EncodeToString(make([]byte, 30)) // unused by "clear"
				req["suite"] = string(media.SuiteAESCM128HMACSHA1_80)
			}
			peers = append(peers, srtppeer.Start(t, req))
		}
		for _, p := range peers {
			var sent struct{ Sent int }
			p.Read(t, &sent)
		}
		for _, l := range legs {
			k.waitTimeline(t, l.label, int64(len(pcm[l.label])))
		}
		if secure {
			for _, st := range k.sess.Streams() {
				s := st.Stats()
				if st.SRTP() != suite || s.AuthFailures != 2 || s.Replayed != 1 {
					t.Errorf("stream %s: SRTP %q, %d auth failures, %d replayed; want %s, 2 and 1", st.Label(), st.SRTP(), s.AuthFailures, s.Replayed, suite)
				}
			}
		}
		if res := cl.do(cl.request(sipgosip.BYE, "", nil), false); res.StatusCode != 200 {
			t.Fatalf("BYE: %d", res.StatusCode)
		}
		k.waitEnd(t)
	}
	for _, label := range []string{"1", "2"} {
		clear, secure := flatten(sinks[0].chunks(label)), flatten(sinks[1].chunks(label))
		if len(secure) != len(pcm[label]) || !slices.Equal(clear, secure) {
			t.Errorf("label %s: %d samples over SRTP, %d in clear: not bit-identical", label, len(secure), len(clear))
		}
		srsMatchAudio(t, label, sinks[1].chunks(label), srsThrough(media.EncodingPCMU, pcm[label]))
	}
}

func flatten(chunks []srsChunk) []int16 {
	var out []int16
	for _, c := range chunks {
		out = append(out, c.pcm...)
	}
	return out
}

// TestSRSSDESOverClearSignalling: by default an offer whose SDP holds
// a=crypto keys and came over TCP (or UDP) is answered 488 with a Warning
// saying why, and reported as RejectClearSDES; a re-INVITE of a clear
// session that brings keys is refused the same way.
func TestSRSSDESOverClearSignalling(t *testing.T) {
	t.Parallel()
	var rejects srsRejects
	e := newSRSEnv(t, Config{OnReject: rejects.onReject})
	cl := newSRSClient(t, e)
	legs := []sdesLeg{{label: "1", port: 40000, crypto: newCrypto(t, 1, media.SuiteAESCM128HMACSHA1_80)}}
	res := cl.invite(sdesOffer(1, legs...), srsMetadataFor("", "1"), false)
	checkWarned(t, res, 488, "clear signalling")
	rejects.want(t, "488 "+RejectClearSDES)

	cl2 := newSRSClient(t, e)
	ans := srsAnswerOf(t, cl2.invite(sdesOffer(1, sdesLeg{label: "1", port: 40000}), srsMetadataFor("", "1"), false))
	if ans.Media[0].Protocol != media.ProtoRTP {
		t.Fatalf("clear offer answered %s", ans.Media[0].Protocol)
	}
	res = cl2.do(cl2.offerRequest(sipgosip.INVITE, sdesOffer(2, legs...), nil), false)
	checkWarned(t, res, 488, "clear signalling")
}

// checkWarned checks a refusal's code and that its Warning says why.
func checkWarned(t *testing.T, res *sipgosip.Response, code int, says string) {
	t.Helper()
	if res.StatusCode != code {
		t.Fatalf("answer %d %s, want %d", res.StatusCode, res.Reason, code)
	}
	w := res.GetHeader("Warning")
	if w == nil || !strings.Contains(w.Value(), says) {
		t.Fatalf("Warning %v, want one saying %q", w, says)
	}
	if strings.Contains(res.String(), "inline:") {
		t.Fatal("the refusal repeats the keys")
	}
}

// TestSRSSRTPRequired: with SRTP required, by the Config or by the
// Policy's Admission (an account's policy), an offer with a line in clear
// is answered 488 with a Warning naming the line; an SRTP session then
// refuses a re-INVITE that moves a line to clear and keeps recording as it
// was.
func TestSRSSRTPRequired(t *testing.T) {
	t.Parallel()
	for _, by := range []string{"config", "admission"} {
		t.Run(by, func(t *testing.T) {
			t.Parallel()
			var rejects srsRejects
			cfg := Config{OnReject: rejects.onReject, SRTP: SRTPConfig{AllowClearSignalling: true}}
			if by == "config" {
				cfg.SRTP.Require = true
			} else {
				cfg.Policy = PolicyFunc(func(context.Context, *Offer) (Admission, error) {
					return Admission{RequireSRTP: true}, nil
				})
			}
			e := newSRSEnv(t, cfg)
			cl := newSRSClient(t, e)
			key := newCrypto(t, 1, media.SuiteAEADAES128GCM)
			res := cl.invite(sdesOffer(1, sdesLeg{label: "1", port: 40000, crypto: key}, sdesLeg{label: "2", port: 40002}), srsMetadataFor("", "1", "2"), false)
			checkWarned(t, res, 488, `SRTP is required and m-line 1 (label '2') offers RTP/AVP`)
			rejects.want(t, "488 "+RejectSRTPRequired)

			cl2 := newSRSClient(t, e)
			ans := srsAnswerOf(t, cl2.invite(sdesOffer(1, sdesLeg{label: "1", port: 40000, crypto: key}), srsMetadataFor("", "1"), false))
			k := e.sinks.wait(t)
			if ans.Media[0].Protocol != media.ProtoSRTP {
				t.Fatalf("answer %s", ans.Media[0].Protocol)
			}
			res = cl2.do(cl2.offerRequest(sipgosip.INVITE, sdesOffer(2, sdesLeg{label: "1", port: 40000}), nil), false)
			checkWarned(t, res, 488, "SRTP is required")
			if st := k.sess.Streams(); len(st) != 1 || st[0].SRTP() != media.SuiteAEADAES128GCM {
				t.Fatalf("after the refused re-INVITE the session has %d streams", len(st))
			}
		})
	}
}

// TestSRSSRTPRekey: a re-INVITE with the same key gets the same answer (a
// session refresh: the server keeps its own key too); one with a new key
// re-keys the stream, and libsrtp's packets under the new key (a new
// crypto context) are recorded, with none lost at the change and no
// authentication failure.
func TestSRSSRTPRekey(t *testing.T) {
	srtppeer.Require(t)
	t.Parallel()
	e := newSRSEnv(t, Config{SRTP: SRTPConfig{AllowClearSignalling: true}})
	cl := newSRSClient(t, e)
	port := freeUDPPort(t)
	key1 := newCrypto(t, 1, media.SuiteAESCM128HMACSHA1_80)
	res := cl.invite(sdesOffer(1, sdesLeg{label: "1", port: port, crypto: key1}), srsMetadataFor("", "1"), false)
	ans := srsAnswerOf(t, res)
	k := e.sinks.wait(t)

	again := cl.do(cl.offerRequest(sipgosip.INVITE, sdesOffer(1, sdesLeg{label: "1", port: port, crypto: key1}), nil), false)
	if !bytes.Equal(again.Body(), res.Body()) {
		t.Fatalf("a session refresh changed the answer:\n%s\nthen\n%s", res.Body(), again.Body())
	}
	key2 := newCrypto(t, 1, media.SuiteAESCM128HMACSHA1_80)
	pcm := srsTone(440, 8000)
	pkts := rtpPackets(t, pcm, 0xABC, 100)
	script := [][2]any{}
	for j := range 25 {
		script = append(script, [2]any{"send", j}, [2]any{"sleep", 10})
	}
	p := srtppeer.Start(t, map[string]any{"mode": "send", "suite": string(media.SuiteAESCM128HMACSHA1_80), "to": []any{"127.0.0.1", ans.Media[0].Port},
		"from": port, "packets": pkts, "script": script, "key": keyOf(key1)})
	var sent struct{ Sent int }
	p.Read(t, &sent)
	k.waitTimeline(t, "1", 25*160)

	rekeyed := srsAnswerOf(t, cl.do(cl.offerRequest(sipgosip.INVITE, sdesOffer(2, sdesLeg{label: "1", port: port, crypto: key2}), nil), false))
	if rekeyed.Media[0].Port != ans.Media[0].Port {
		t.Fatalf("re-key moved the stream from port %d to %d", ans.Media[0].Port, rekeyed.Media[0].Port)
	}
	script = script[:0]
	for j := 25; j < len(pkts); j++ {
		script = append(script, [2]any{"send2", j}, [2]any{"sleep", 10})
	}
	p = srtppeer.Start(t, map[string]any{"mode": "send", "suite": string(media.SuiteAESCM128HMACSHA1_80), "to": []any{"127.0.0.1", ans.Media[0].Port},
		"from": port, "packets": pkts, "script": script, "key": keyOf(key1), "key2": keyOf(key2), "key2_from": 25})
	p.Read(t, &sent)
	k.waitTimeline(t, "1", int64(len(pcm)))
	st, _ := k.sess.Stream("1")
	if s := st.Stats(); s.AuthFailures != 0 || s.Lost != 0 {
		t.Errorf("after the re-key: %d auth failures, %d lost", s.AuthFailures, s.Lost)
	}
	srsMatchAudio(t, "1", k.chunks("1"), srsThrough(media.EncodingPCMU, pcm))
	if got := len(flatten(k.chunks("1"))); got != len(pcm) {
		t.Errorf("%d samples recorded, want %d", got, len(pcm))
	}
}
