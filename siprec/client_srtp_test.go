package siprec

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/voicegw/voicegw/internal/srtppeer"
	"github.com/voicegw/voicegw/media"
	"github.com/voicegw/voicegw/sip"
)

// The recording client's SRTP (ClientSRTPConfig) against libsrtp2, the
// reference implementation (internal/srtppeer), as the recorder's media
// receiver. sipp, the recorder's SIP side, has no TLS here, so the Client
// is told to offer SDES over clear signalling (AllowClearSignalling); which
// transport gets SRTP by default is TestClientSRTPOnlyOverTLS's.

// offeredKeys returns the a=crypto line the Client offered for each label
// in the INVITE of sipp's message trace.
func offeredKeys(t *testing.T, srv *srs) map[string]media.Crypto {
	t.Helper()
	msgs := srv.messages()
	i := strings.Index(msgs, "INVITE sip:")
	if i < 0 {
		t.Fatalf("no INVITE in sipp's trace:\n%s", msgs)
	}
	body := msgs[i:]
	if j := strings.Index(body, "rs-metadata"); j > 0 {
		body = body[:j]
	}
	return sdpKeys(t, body)
}

// sdpKeys returns the a=crypto line of each labelled m= line of an SDP.
func sdpKeys(t *testing.T, sdp string) map[string]media.Crypto {
	t.Helper()
	label, crypto := regexp.MustCompile(`a=label:(\S+)`), regexp.MustCompile(`a=crypto:([^\r\n]+)`)
	keys := map[string]media.Crypto{}
	for _, sec := range strings.Split(sdp, "m=audio")[1:] {
		l, k := label.FindStringSubmatch(sec), crypto.FindStringSubmatch(sec)
		if l == nil || k == nil {
			continue
		}
		c, err := media.ParseCrypto(strings.TrimSpace(k[1]))
		if err != nil {
			t.Fatalf("a=crypto:%s: %v", k[1], err)
		}
		keys[l[1]] = c
	}
	return keys
}

// libsrtpReceivers starts n libsrtp receivers waiting for their key and
// returns them with their ports.
func libsrtpReceivers(t *testing.T, n, count int) ([]*srtppeer.Peer, []int) {
	t.Helper()
	var peers []*srtppeer.Peer
	var ports []int
	for range n {
		p := srtppeer.Start(t, map[string]any{"mode": "recv", "count": count, "idle_ms": 1500})
		var got struct{ Port int }
		p.Read(t, &got)
		peers, ports = append(peers, p), append(ports, got.Port)
	}
	return peers, ports
}

// keyB64 returns the base64 key and salt of a=crypto line c.
func keyB64(c media.Crypto) string { return base64.StdEncoding.EncodeToString(c.Keys[0].Key.Reveal()) }

// decrypted reads what libsrtp receiver p decrypted: every packet must have
// authenticated; it returns the audio and the SSRCs.
func decrypted(t *testing.T, p *srtppeer.Peer, stream, min int) ([]int16, map[uint32]bool) {
	t.Helper()
	var got struct {
		Packets []*string
		Errors  []string
	}
	p.Read(t, &got)
	if len(got.Packets) < min || len(got.Errors) > 0 {
		t.Fatalf("stream %d: libsrtp received %d packets (want %d), errors %v", stream, len(got.Packets), min, got.Errors)
	}
	var pcm []int16
	ssrcs := map[uint32]bool{}
	for _, h := range got.Packets {
		b, err := hex.DecodeString(*h)
		if err != nil || len(b) != 12+160 || b[1]&0x7f != 0 {
			t.Fatalf("stream %d: decrypted packet %q: want RTP with 160 bytes of PCMU", stream, *h)
		}
		ssrcs[uint32(b[8])<<24|uint32(b[9])<<16|uint32(b[10])<<8|uint32(b[11])] = true
		frame := make([]int16, 160)
		media.DecodePCMU(frame, b[12:])
		pcm = append(pcm, frame...)
	}
	return pcm, ssrcs
}

// TestClientSRTPToLibsrtp: the Client offers each stream as RTP/SAVP with a
// key of its own; libsrtp decrypts and authenticates every packet it sends
// with the offered key, and the audio is each stream's tone.
func TestClientSRTPToLibsrtp(t *testing.T) {
	srtppeer.Require(t)
	c, _ := newTestClient(t, ClientConfig{SRTP: ClientSRTPConfig{AllowClearSignalling: true}})
	peers, ports := libsrtpReceivers(t, 2, 100)
	srv := startSRS(t, "srs_srtp.xml", map[string]string{"srs_p1": itoa(ports[0]), "srs_p2": itoa(ports[1]),
		"srs_k1": answerKey(t), "srs_k2": answerKey(t)})
	m := newTestManager(t, c, ManagerConfig{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if _, err := m.Start(ctx, StartRequest{Recorders: URIList{srv.uri}}); err != nil {
		t.Fatalf("Start: %v\n%s", err, srv.messages())
	}
	keys := offeredKeys(t, srv)
	if len(keys) != 2 || keyB64(keys["1"]) == keyB64(keys["2"]) {
		t.Fatalf("offered keys %v: want one per stream, distinct", keys)
	}
	for i, label := range []string{"1", "2"} {
		peers[i].Send(t, map[string]any{"suite": string(keys[label].Suite), "key": keyB64(keys[label])})
	}
	done := pump(ctx, m)
	for i, p := range peers {
		pcm, _ := decrypted(t, p, i+1, 50)
		if f, want := frequency(pcm[800:]), 440.0*float64(i+1); f < want-20 || f > want+20 {
			t.Errorf("stream %d: libsrtp decrypted %.0f Hz, want %.0f Hz", i+1, f, want)
		}
	}
	if _, err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	srv.wait(t)
}

// answerKey returns a recorder's a=crypto key (base64).
func answerKey(t *testing.T) string {
	t.Helper()
	k, err := media.NewCrypto(1, media.SuiteAESCM128HMACSHA1_80)
	if err != nil {
		t.Fatal(err)
	}
	return keyB64(k)
}

// TestClientSRTPRekeyedByRecorder: the recorder's re-INVITE offers new
// ports and keys; the Client answers each SRTP line with a new key of its
// own and goes on sending there, with the same SSRC, encrypted with the
// new key: libsrtp authenticates every packet with the offered key before,
// with the answered key after.
func TestClientSRTPRekeyedByRecorder(t *testing.T) {
	srtppeer.Require(t)
	c, _ := newTestClient(t, ClientConfig{SRTP: ClientSRTPConfig{AllowClearSignalling: true}})
	before, p12 := libsrtpReceivers(t, 2, 25)
	after, p34 := libsrtpReceivers(t, 2, 50)
	srv := startSRS(t, "srs_srtp_reinvite.xml", map[string]string{"srs_p1": itoa(p12[0]), "srs_p2": itoa(p12[1]),
		"srs_p3": itoa(p34[0]), "srs_p4": itoa(p34[1]),
		"srs_k1": answerKey(t), "srs_k2": answerKey(t), "srs_k3": answerKey(t), "srs_k4": answerKey(t)}, "-d", "1500")
	m := newTestManager(t, c, ManagerConfig{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if _, err := m.Start(ctx, StartRequest{Recorders: URIList{srv.uri}}); err != nil {
		t.Fatalf("Start: %v\n%s", err, srv.messages())
	}
	first := offeredKeys(t, srv)
	for i, label := range []string{"1", "2"} {
		before[i].Send(t, map[string]any{"suite": string(first[label].Suite), "key": keyB64(first[label])})
	}
	done := pump(ctx, m)
	var ssrcs [2]map[uint32]bool
	for i, p := range before {
		_, ssrcs[i] = decrypted(t, p, i+1, 25)
	}

	// the Client's answer to the re-INVITE, in sipp's trace
	var second map[string]media.Crypto
	srsEventually(t, "the Client's answer to the re-INVITE", func() bool {
		msgs := srv.messages()
		i := strings.Index(msgs, "o=SRS 1 2")
		if i < 0 {
			return false
		}
		j := strings.Index(msgs[i:], "o=voicegw")
		if j < 0 {
			return false
		}
		ans := msgs[i+j:]
		if k := strings.Index(ans, "-----"); k > 0 {
			ans = ans[:k]
		}
		second = sdpKeys(t, ans)
		return len(second) == 2
	})
	for i, label := range []string{"1", "2"} {
		if keyB64(second[label]) == keyB64(first[label]) {
			t.Fatalf("stream %s: the answer kept the first key", label)
		}
		after[i].Send(t, map[string]any{"suite": string(second[label].Suite), "key": keyB64(second[label])})
	}
	for i, p := range after {
		pcm, got := decrypted(t, p, i+1, 50)
		if len(got) != 1 || !got[firstKey(ssrcs[i])] {
			t.Errorf("stream %d: SSRCs %v after the re-key, want %v", i+1, got, ssrcs[i])
		}
		if f, want := frequency(pcm[800:]), 440.0*float64(i+1); f < want-20 || f > want+20 {
			t.Errorf("stream %d: libsrtp decrypted %.0f Hz after the re-key, want %.0f Hz", i+1, f, want)
		}
	}
	if _, err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	srv.wait(t)
}

func firstKey(m map[uint32]bool) uint32 {
	for k := range m {
		return k
	}
	return 0
}

// TestClientSRTPAnsweredInClear: a recorder that answers the SRTP offer
// with RTP/AVP is refused (ErrBadAnswer) and gets a BYE, and not one
// packet reaches it in clear.
func TestClientSRTPAnsweredInClear(t *testing.T) {
	c, _ := newTestClient(t, ClientConfig{SRTP: ClientSRTPConfig{AllowClearSignalling: true}})
	s1, s2 := newSink(t), newSink(t)
	srv := startSRS(t, "srs_uas.xml", map[string]string{"srs_p1": itoa(s1.port()), "srs_p2": itoa(s2.port())})
	m := newTestManager(t, c, ManagerConfig{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := pump(ctx, m)
	res, err := m.Start(ctx, StartRequest{Recorders: URIList{srv.uri}})
	if !errors.Is(err, ErrAllRecordersFailed) || len(res) != 1 || !errors.Is(res[0].Err, ErrBadAnswer) || !errors.Is(res[0].Err, media.ErrUnsupportedCrypto) {
		t.Fatalf("Start = %v, %v: want ErrBadAnswer (unsupported crypto)", res, err)
	}
	srv.wait(t) // sipp saw its BYE
	time.Sleep(200 * time.Millisecond)
	for i, s := range []*sink{s1, s2} {
		if pcm, _, _ := s.samples(); len(pcm) != 0 {
			t.Errorf("stream %d: %d samples reached the recorder in clear", i+1, len(pcm))
		}
	}
	cancel()
	<-done
}

// TestClientSRTPSuiteRefused: a suite this package does not support stops
// NewClient.
func TestClientSRTPSuiteRefused(t *testing.T) {
	_, err := NewClient(ClientConfig{SRTP: ClientSRTPConfig{Suite: "F8_128_HMAC_SHA1_80"}})
	if !errors.Is(err, media.ErrUnsupportedCrypto) || !strings.Contains(err.Error(), "F8_128_HMAC_SHA1_80") {
		t.Fatalf("NewClient = %v, want ErrUnsupportedCrypto naming the suite", err)
	}
}

// TestClientSRTPOnlyOverTLS: with the zero ClientSRTPConfig a recorder
// reached over TLS (sips:) is offered SRTP, one over TCP plain RTP, and
// the package's own recording server hears each stream's tone from both;
// with Disable, the TLS recorder gets plain RTP.
func TestClientSRTPOnlyOverTLS(t *testing.T) {
	e := newSRSEnv(t, clientSRSConfig(t))
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	cert, err := sip.WriteSelfSigned(certFile, keyFile, []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() { _ = e.sipgo.ServeTLS(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{pair}})) }()
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	sips := mustParseURI(fmt.Sprintf("sips:srs@%s", ln.Addr()))
	tcp := mustParseURI(fmt.Sprintf("sip:srs@%s;transport=tcp", e.addr))

	for _, tc := range []struct {
		name    string
		srtp    ClientSRTPConfig
		uri     URI
		wantTr  string
		encrypt bool
	}{
		{"sips", ClientSRTPConfig{}, sips, "TLS", true},
		{"tcp", ClientSRTPConfig{}, tcp, "TCP", false},
		{"sips disabled", ClientSRTPConfig{Disable: true}, sips, "TLS", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newTestClient(t, ClientConfig{TLSConfig: &tls.Config{RootCAs: roots}, SRTP: tc.srtp})
			m := newTestManager(t, c, ManagerConfig{})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if _, err := m.Start(ctx, StartRequest{Recorders: URIList{tc.uri}}); err != nil {
				t.Fatal(err)
			}
			k := e.sinks.wait(t)
			body := string(k.sess.Request().Body())
			if tr := k.sess.Transport(); tr != tc.wantTr {
				t.Errorf("session over %s, want %s", tr, tc.wantTr)
			}
			if got := strings.Count(body, "RTP/SAVP"); tc.encrypt != (got == 2) || strings.Contains(body, "a=crypto") != tc.encrypt {
				t.Errorf("offer (SRTP wanted: %v):\n%s", tc.encrypt, body)
			}
			done := pump(ctx, m)
			srsEventually(t, "both streams' audio at the sink", func() bool {
				return k.audioSamples("1") >= 4000 && k.audioSamples("2") >= 4000
			})
			for i, label := range []string{"1", "2"} {
				if f, want := frequency(sinkPCM(k, label)[800:]), 440.0*float64(i+1); f < want-20 || f > want+20 {
					t.Errorf("stream %s at the server's sink: %.0f Hz, want %.0f Hz", label, f, want)
				}
			}
			if _, err := m.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			cancel()
			<-done
			k.waitEnd(t)
		})
	}
}
