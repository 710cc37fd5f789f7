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
	label, crypto := regexp.MustCompile(`a=label:(\S+)`), regexp.MustCompile(`a=crypto:([^\r\n]+)`)
	keys := map[string]media.Crypto{}
	body := msgs[i:]
	if j := strings.Index(body, "rs-metadata"); j > 0 {
		body = body[:j]
	}
	for _, sec := range strings.Split(body, "m=audio")[1:] {
		l, k := label.FindStringSubmatch(sec), crypto.FindStringSubmatch(sec)
		if l == nil || k == nil {
			continue
		}
		c, err := media.ParseCrypto(strings.TrimSpace(k[1]))
		if err != nil {
			t.Fatalf("offered a=crypto:%s: %v", k[1], err)
		}
		keys[l[1]] = c
	}
	return keys
}

// TestClientSRTPToLibsrtp: the Client offers each stream as RTP/SAVP with a
// key of its own; libsrtp decrypts and authenticates every packet it sends
// with the offered key, and the audio is each stream's tone.
func TestClientSRTPToLibsrtp(t *testing.T) {
	srtppeer.Require(t)
	c, _ := newTestClient(t, ClientConfig{SRTP: ClientSRTPConfig{AllowClearSignalling: true}})
	var peers [2]*srtppeer.Peer
	var ports [2]int
	for i := range peers {
		peers[i] = srtppeer.Start(t, map[string]any{"mode": "recv", "count": 100, "idle_ms": 1500})
		var p struct{ Port int }
		peers[i].Read(t, &p)
		ports[i] = p.Port
	}
	answerKey := func() string {
		k, err := media.NewCrypto(1, media.SuiteAESCM128HMACSHA1_80)
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(k.Keys[0].Key.Reveal())
	}
	srv := startSRS(t, "srs_srtp.xml", map[string]string{"srs_p1": itoa(ports[0]), "srs_p2": itoa(ports[1]),
		"srs_k1": answerKey(), "srs_k2": answerKey()})
	m := newTestManager(t, c, ManagerConfig{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if _, err := m.Start(ctx, StartRequest{Recorders: URIList{srv.uri}}); err != nil {
		t.Fatalf("Start: %v\n%s", err, srv.messages())
	}
	keys := offeredKeys(t, srv)
	if len(keys) != 2 || string(keys["1"].Keys[0].Key.Reveal()) == string(keys["2"].Keys[0].Key.Reveal()) {
		t.Fatalf("offered keys %v: want one per stream, distinct", keys)
	}
	for i, label := range []string{"1", "2"} {
		k := keys[label]
		peers[i].Send(t, map[string]any{"suite": string(k.Suite), "key": base64.StdEncoding.EncodeToString(k.Keys[0].Key.Reveal())})
	}
	done := pump(ctx, m)
	for i, p := range peers {
		var got struct {
			Packets []*string
			Errors  []string
		}
		p.Read(t, &got)
		if len(got.Packets) < 50 || len(got.Errors) > 0 {
			t.Fatalf("stream %d: libsrtp received %d packets, errors %v", i+1, len(got.Packets), got.Errors)
		}
		var pcm []int16
		for _, h := range got.Packets {
			b, err := hex.DecodeString(*h)
			if err != nil || len(b) != 12+160 || b[1]&0x7f != 0 {
				t.Fatalf("stream %d: decrypted packet %q: want RTP with 160 bytes of PCMU", i+1, *h)
			}
			frame := make([]int16, 160)
			media.DecodePCMU(frame, b[12:])
			pcm = append(pcm, frame...)
		}
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
