package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/voicegw/voicegw/internal/sipptest"
	"github.com/voicegw/voicegw/internal/srtppeer"
	"github.com/voicegw/voicegw/internal/testenv"
	"github.com/voicegw/voicegw/media"
	"github.com/voicegw/voicegw/sip"
)

// The tests of this file run SIPREC over TLS against the gateway binary
// with real peers: sipp for SIP and libsrtp2 (internal/srtppeer) for SRTP.
//
// Debian's sipp (sip-tester 3.6.1) is built without OpenSSL: "-t l1" answers
// "To use a TLS transport you must compile SIPp with OpenSSL", and there is
// no source package to rebuild it here. So sipp speaks TCP to socat, whose
// OPENSSL address (OpenSSL, an independent TLS implementation) carries
// each connection over TLS to the gateway, verifying the suite's own
// certificate made in the test (and presenting a client certificate for
// mutual TLS): the gateway sees SIP over TLS from a real TLS stack.

// tlsTestCert makes the suite's certificate for the gateway (localhost,
// 127.0.0.1) in dir.
func tlsTestCert(t *testing.T, dir string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, "gw-cert.pem"), filepath.Join(dir, "gw-key.pem")
	cert, err := sip.WriteSelfSigned(certFile, keyFile, []string{"localhost", "127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert
}

// socatTLS starts socat between a loopback TCP port (for sipp) and the
// gateway's TLS address, verifying the gateway's certificate with caFile
// and presenting clientCert/clientKey when given. It returns the TCP
// address to give sipp.
func socatTLS(t *testing.T, tlsAddr, caFile, clientCert, clientKey string) string {
	t.Helper()
	socat := testenv.RequireTool(t, "socat", "apt-get install -y socat")
	port := testenv.FreePort(t)
	host, tport, _ := net.SplitHostPort(tlsAddr)
	opts := fmt.Sprintf("OPENSSL:%s:%s,cafile=%s,verify=1,commonname=localhost", host, tport, caFile)
	if clientCert != "" {
		opts += ",cert=" + clientCert + ",key=" + clientKey
	}
	cmd := exec.Command(socat, "-d", fmt.Sprintf("TCP-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork", port), opts)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("socat: %s", stderr.String())
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	waitFor(t, 10*time.Second, "socat listening", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return addr
}

// sdesCall is one SIPREC call sipp places: its two streams, offered in
// clear (RTP/AVP) or as SRTP with the crypto lines given.
type sdesCall struct {
	Realm   string
	Crypto  [2]string // "" for RTP/AVP; else the a=crypto value
	Expect  int       // the final response sipp expects: 200, or a refusal
	Warning string    // a refusal's Warning must match this (sipp regexp)
	HoldMS  int       // between ACK and BYE
	Ports   [2]int    // the offer's RTP ports (where the libsrtp peer sends from)
	// Timeout bounds sipp's run; default 60 s.
	Timeout time.Duration
}

func (c sdesCall) Proto(i int) string {
	if c.Crypto[i] == "" {
		return media.ProtoRTP
	}
	return media.ProtoSRTP
}

// sdesScenario is a SIPREC SRC with digest authentication whose SDP offers
// each stream as the call says; on 200 it logs the answered ports
// ("PORTS p1 p2", -trace_logs) and holds the call for HoldMS.
var sdesScenario = template.Must(template.New("sdes").Parse(`<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="SIPREC SRC with SDES">
  <send retrans="500">
    <![CDATA[

      INVITE sip:[service]@{{.Realm}} SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      Max-Forwards: 70
      From: <sip:src@[local_ip]:[local_port]>;tag=[pid]SIPpSRC[call_number]
      To: <sip:[service]@{{.Realm}}>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:src@[local_ip]:[local_port];transport=[transport]>;+sip.src
      Require: siprec
      Content-Type: multipart/mixed;boundary=sipp-siprec-boundary
      MIME-Version: 1.0
      Content-Length: [len]

      --sipp-siprec-boundary
      Content-Type: application/sdp

      v=0
      o=SRC 2890844526 2890844526 IN IP4 127.0.0.1
      s=SIPREC
      c=IN IP4 127.0.0.1
      t=0 0
{{- range $i, $c := .Crypto}}
      m=audio {{index $.Ports $i}} {{$.Proto $i}} 0
      a=rtpmap:0 PCMU/8000
      a=ptime:20
      a=label:{{$i}}
      a=sendonly
{{- if $c}}
      a=crypto:{{$c}}
{{- end}}
{{- end}}

      --sipp-siprec-boundary
      Content-Type: application/rs-metadata+xml
      Content-Disposition: recording-session

      <?xml version="1.0" encoding="UTF-8"?>
      <recording xmlns='urn:ietf:params:xml:ns:recording:1'>
      <datamode>complete</datamode>
      <session session_id="hVpd7YQgRW2nD22h7q60JQ=="/>
      <participant participant_id="srfBElmCRp2QB23b7Mpk0w=="><nameID aor="sip:alice@example.com"/></participant>
      <participant participant_id="zSfPoSvdSDCmU3A3TRDxAw=="><nameID aor="sip:bob@example.com"/></participant>
      <stream stream_id="UAAMm5GRQKSCMVvLyl4rFw==" session_id="hVpd7YQgRW2nD22h7q60JQ=="><label>0</label></stream>
      <stream stream_id="i1Pz3to5hGk8fuXl+PbwCw==" session_id="hVpd7YQgRW2nD22h7q60JQ=="><label>1</label></stream>
      <participantstreamassoc participant_id="srfBElmCRp2QB23b7Mpk0w=="><send>UAAMm5GRQKSCMVvLyl4rFw==</send></participantstreamassoc>
      <participantstreamassoc participant_id="zSfPoSvdSDCmU3A3TRDxAw=="><send>i1Pz3to5hGk8fuXl+PbwCw==</send></participantstreamassoc>
      </recording>
      --sipp-siprec-boundary--

    ]]>
  </send>

  <recv response="100" optional="true"/>
  <recv response="407" auth="true"/>

  <send>
    <![CDATA[

      ACK sip:[service]@{{.Realm}} SIP/2.0
      [last_Via:]
      Max-Forwards: 70
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      CSeq: 1 ACK
      Content-Length: 0

    ]]>
  </send>

  <send retrans="500">
    <![CDATA[

      INVITE sip:[service]@{{.Realm}} SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      Max-Forwards: 70
      From: <sip:src@[local_ip]:[local_port]>;tag=[pid]SIPpSRC[call_number]
      To: <sip:[service]@{{.Realm}}>
      Call-ID: [call_id]
      CSeq: 2 INVITE
      Contact: <sip:src@[local_ip]:[local_port];transport=[transport]>;+sip.src
      [authentication]
      Require: siprec
      Content-Type: multipart/mixed;boundary=sipp-siprec-boundary
      MIME-Version: 1.0
      Content-Length: [len]

      --sipp-siprec-boundary
      Content-Type: application/sdp

      v=0
      o=SRC 2890844526 2890844526 IN IP4 127.0.0.1
      s=SIPREC
      c=IN IP4 127.0.0.1
      t=0 0
{{- range $i, $c := .Crypto}}
      m=audio {{index $.Ports $i}} {{$.Proto $i}} 0
      a=rtpmap:0 PCMU/8000
      a=ptime:20
      a=label:{{$i}}
      a=sendonly
{{- if $c}}
      a=crypto:{{$c}}
{{- end}}
{{- end}}

      --sipp-siprec-boundary
      Content-Type: application/rs-metadata+xml
      Content-Disposition: recording-session

      <?xml version="1.0" encoding="UTF-8"?>
      <recording xmlns='urn:ietf:params:xml:ns:recording:1'>
      <datamode>complete</datamode>
      <session session_id="hVpd7YQgRW2nD22h7q60JQ=="/>
      <participant participant_id="srfBElmCRp2QB23b7Mpk0w=="><nameID aor="sip:alice@example.com"/></participant>
      <participant participant_id="zSfPoSvdSDCmU3A3TRDxAw=="><nameID aor="sip:bob@example.com"/></participant>
      <stream stream_id="UAAMm5GRQKSCMVvLyl4rFw==" session_id="hVpd7YQgRW2nD22h7q60JQ=="><label>0</label></stream>
      <stream stream_id="i1Pz3to5hGk8fuXl+PbwCw==" session_id="hVpd7YQgRW2nD22h7q60JQ=="><label>1</label></stream>
      <participantstreamassoc participant_id="srfBElmCRp2QB23b7Mpk0w=="><send>UAAMm5GRQKSCMVvLyl4rFw==</send></participantstreamassoc>
      <participantstreamassoc participant_id="zSfPoSvdSDCmU3A3TRDxAw=="><send>i1Pz3to5hGk8fuXl+PbwCw==</send></participantstreamassoc>
      </recording>
      --sipp-siprec-boundary--

    ]]>
  </send>

  <recv response="100" optional="true"/>
{{- if eq .Expect 200}}
  <recv response="200" rrs="true">
    <action>
      <ereg regexp="m=audio ([0-9]+) RTP/S?AVP.*m=audio ([0-9]+) RTP/S?AVP" search_in="body" check_it="true" assign_to="p0,p1,p2"/>
      <log message="PORTS [$p1] [$p2] (answer: [$p0])"/>
    </action>
  </recv>

  <send>
    <![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      Max-Forwards: 70
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      CSeq: 2 ACK
      Content-Length: 0

    ]]>
  </send>

  <pause milliseconds="{{.HoldMS}}"/>

  <send retrans="500">
    <![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      Max-Forwards: 70
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      CSeq: 3 BYE
      Content-Length: 0

    ]]>
  </send>

  <recv response="200"/>
{{- else}}
  <recv response="{{.Expect}}">
{{- if .Warning}}
    <action>
      <ereg regexp="{{.Warning}}" search_in="hdr" header="Warning:" check_it="true" assign_to="w"/>
      <log message="WARNING [$w]"/>
    </action>
{{- end}}
  </recv>

  <send>
    <![CDATA[

      ACK sip:[service]@{{.Realm}} SIP/2.0
      [last_Via:]
      Max-Forwards: 70
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      CSeq: 2 ACK
      Content-Length: 0

    ]]>
  </send>
{{- end}}
</scenario>
`))

// tlsSipp is a sipp run of an sdesCall over TCP to addr (socat's, for TLS).
type tlsSipp struct {
	proc *sipptest.Process
	dir  string
}

// startSdesCall starts sipp for call c towards addr, authenticating as
// user/password.
func startSdesCall(t *testing.T, addr string, c sdesCall, user, password string) *tlsSipp {
	t.Helper()
	dir := t.TempDir()
	var b bytes.Buffer
	if err := sdesScenario.Execute(&b, c); err != nil {
		t.Fatal(err)
	}
	scen := filepath.Join(dir, "sdes.xml")
	writeFile(t, scen, b.String())
	return &tlsSipp{dir: dir, proc: sipptest.Start(t, sipptest.Options{
		Scenario: scen, Remote: addr, Transport: sipptest.TCP, Dir: dir, Timeout: cmp.Or(c.Timeout, 60*time.Second),
		Args: []string{"-s", "srs", "-auth_uri", c.Realm, "-au", user, "-ap", password,
			"-trace_logs", "-log_file", filepath.Join(dir, "ports.log")},
	})}
}

// ports waits for the ports the gateway answered (logged by sipp).
func (s *tlsSipp) ports(t *testing.T) [2]int {
	t.Helper()
	re := regexp.MustCompile(`PORTS (\d+) (\d+)`)
	var m []string
	deadline := time.Now().Add(20 * time.Second)
	for m == nil {
		b, _ := os.ReadFile(filepath.Join(s.dir, "ports.log"))
		if m = re.FindStringSubmatch(string(b)); m != nil {
			break
		}
		if time.Now().After(deadline) {
			s.proc.Kill()
			_, err := s.proc.Wait()
			t.Fatalf("sipp logged no answered ports: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	a, _ := strconv.Atoi(m[1])
	b, _ := strconv.Atoi(m[2])
	return [2]int{a, b}
}

// toneRTP returns the clear RTP packets (hex) of a tone of freq Hz, n
// packets of 20 ms in PCMU, from ssrc, the sequence wrapping mid-way.
func toneRTP(t *testing.T, freq float64, n int, ssrc uint32) []string {
	t.Helper()
	pcm := make([]int16, n*160)
	for i := range pcm {
		pcm[i] = int16(8000 * math.Sin(2*math.Pi*freq*float64(i)/8000))
	}
	var c packetCapture
	s, err := media.NewSender(&c, netip.MustParseAddrPort("127.0.0.1:9"), media.SenderConfig{SSRC: ssrc, Sequence: 65520, Timestamp: 1000})
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

type packetCapture struct{ pkts [][]byte }

func (c *packetCapture) WriteToUDPAddrPort(b []byte, _ netip.AddrPort) (int, error) {
	c.pkts = append(c.pkts, bytes.Clone(b))
	return len(b), nil
}

// sendStreams sends the call's two tones (440 and 880 Hz, 1 s each) with
// libsrtp from the offered ports to the answered ones: protected with the
// offered keys for SRTP, in clear otherwise. With attack, each SRTP stream
// also gets a forged tag and a forged payload (both before the genuine
// packet) and a replayed packet.
func sendStreams(t *testing.T, c sdesCall, keys [2]*media.Crypto, answered [2]int, attack bool) {
	t.Helper()
	var peers []*srtppeer.Peer
	for i, freq := range []float64{440, 880} {
		pkts := toneRTP(t, freq, 50, 0x5000+uint32(i))
		var script [][2]any
		for j := range pkts {
			op := "clear"
			if keys[i] != nil {
				op = "send"
				if attack && j == 20 {
					script = append(script, [2]any{"forge_tag", j}, [2]any{"forge_payload", j})
				}
			}
			script = append(script, [2]any{op, j}, [2]any{"sleep", 20})
			if keys[i] != nil && attack && j == 30 {
				script = append(script, [2]any{"replay", 24})
			}
		}
		req := map[string]any{"mode": "send", "to": []any{"127.0.0.1", answered[i]}, "from": c.Ports[i],
			"packets": pkts, "script": script,
			"suite": string(media.SuiteAESCM128HMACSHA1_80), "key": base64.StdEncoding.EncodeToString(make([]byte, 30))}
		if keys[i] != nil {
			req["suite"], req["key"] = string(keys[i].Suite), base64.StdEncoding.EncodeToString(keys[i].Keys[0].Key.Reveal())
		}
		peers = append(peers, srtppeer.Start(t, req))
	}
	for _, p := range peers {
		var sent struct{ Sent int }
		p.Read(t, &sent)
	}
}

// newKeys returns a fresh a=crypto line of suite for each stream.
func newKeys(t *testing.T, suite media.CryptoSuite) ([2]*media.Crypto, [2]string) {
	t.Helper()
	var keys [2]*media.Crypto
	var lines [2]string
	for i := range keys {
		c, err := media.NewCrypto(i+1, suite)
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = &c
		if lines[i], err = c.Marshal(); err != nil {
			t.Fatal(err)
		}
	}
	return keys, lines
}

// trimmed returns a channel without its leading and trailing silence
// (exact zeros): the audio, wherever the timeline placed it.
func trimmed(ch []float64) []float64 {
	i, j := 0, len(ch)
	for i < j && ch[i] == 0 {
		i++
	}
	for j > i && ch[j-1] == 0 {
		j--
	}
	return ch[i:j]
}

const (
	tlsPassword  = "tls-sbc-password-1"
	srtpAccounts = `
accounts:
  - name: open
    sip_realm: open.test
    sip: {users: [{username: sbc, password: %[1]s}], allowlist: [127.0.0.0/8]}
    recording: {enabled: true, format: wav, record_all_calls: true, bucket: {vendor: file, file: {dir: %[2]s}}}
  - name: strict
    sip_realm: strict.test
    sip: {users: [{username: sbc, password: %[1]s}], require_tls: true, require_srtp: true}
    recording: {enabled: true, format: wav, record_all_calls: true, bucket: {vendor: file, file: {dir: %[3]s}}}
  - name: fenced
    sip_realm: fenced.test
    sip: {users: [{username: sbc, password: %[1]s}], allowlist: [192.0.2.0/24]}
`
)

// TestSIPREC_TLS_SRTP: sipp places SIPREC calls over TLS (through socat's
// OpenSSL) to the gateway binary, digest authentication unchanged, and
// libsrtp2 sends the media:
//   - the same two-party call in clear (RTP/AVP) and as SRTP (RTP/SAVP,
//     AES_CM_128_HMAC_SHA1_80, each stream with its own key): the WAV
//     files hold bit-identical audio; in the SRTP call a forged tag, a
//     forged payload and a replay per stream are counted in the metrics
//     (voicegw_srtp_auth_failures_total, voicegw_srtp_replayed_total) and
//     absent from the recording;
//   - a call to an account requiring TLS and SRTP is recorded over TLS
//     with SRTP (AEAD_AES_128_GCM); the same clear offer there gets 488
//     with a Warning naming the line, and over plain TCP 488 saying the
//     account requires TLS;
//   - SDES keys offered over plain TCP get 488 with a Warning about clear
//     signalling;
//   - over TLS a wrong password is challenged again (407) and a source
//     outside an account's allowlist refused (403), as over TCP;
//   - at debug level the gateway logs no offered key, no a=crypto line and
//     no password.
func TestSIPREC_TLS_SRTP(t *testing.T) {
	srtppeer.Require(t)
	sipptest.Path(t)
	dir := t.TempDir()
	certFile, keyFile, _ := tlsTestCert(t, dir)
	open, strict := t.TempDir(), t.TempDir()
	tlsPort := testenv.FreePort(t)
	gw := startGateway(t, gwOptions{
		SIP:    fmt.Sprintf("transports: [udp, tcp, tls]\ntls: {listen: 127.0.0.1:%d, cert_file: %s, key_file: %s}", tlsPort, certFile, keyFile),
		Config: fmt.Sprintf(srtpAccounts, tlsPassword, open, strict),
	})
	tlsAddr := socatTLS(t, fmt.Sprintf("127.0.0.1:%d", tlsPort), certFile, "", "")

	call := func(c sdesCall, keys [2]*media.Crypto, attack bool) {
		t.Helper()
		s := startSdesCall(t, tlsAddr, c, "sbc", tlsPassword)
		if c.Expect == 200 {
			sendStreams(t, c, keys, s.ports(t), attack)
		}
		if _, err := s.proc.Wait(); err != nil {
			t.Fatalf("sipp over TLS: %v", err)
		}
	}
	ports := func() [2]int { return [2]int{testenv.FreeUDPPortPair(t), testenv.FreeUDPPortPair(t)} }

	// the same call in clear, then as SRTP under attack
	// HoldMS: the second of audio, sent by two Python peers started after
	// the answer, must be in before sipp's BYE even on a loaded machine.
	call(sdesCall{Realm: "open.test", Expect: 200, HoldMS: 5000, Ports: ports()}, [2]*media.Crypto{}, false)
	waitFor(t, 20*time.Second, "the clear call's recording", func() bool { return len(recordings(t, open)) == 1 })
	clearFiles := recordings(t, open)
	var offered []string // the inline key material of every offer
	keyed := func(keys [2]*media.Crypto, lines [2]string) ([2]*media.Crypto, [2]string) {
		for _, l := range lines {
			offered = append(offered, strings.SplitN(l[strings.Index(l, "inline:")+len("inline:"):], "|", 2)[0])
		}
		return keys, lines
	}
	keys, lines := keyed(newKeys(t, media.SuiteAESCM128HMACSHA1_80))
	call(sdesCall{Realm: "open.test", Crypto: lines, Expect: 200, HoldMS: 5000, Ports: ports()}, keys, true)
	waitFor(t, 20*time.Second, "the SRTP call's recording", func() bool { return len(recordings(t, open)) == 2 })
	var clearPath, srtpPath string
	for k, p := range recordings(t, open) {
		if _, ok := clearFiles[k]; ok {
			clearPath = p
		} else {
			srtpPath = p
		}
	}
	clearWAV, srtpWAV := decodeWAV(t, clearPath), decodeWAV(t, srtpPath)
	for ch := range 2 {
		a, b := trimmed(clearWAV.channels[ch]), trimmed(srtpWAV.channels[ch])
		if len(a) < 7800 || !slices.Equal(a, b) {
			t.Errorf("channel %d: %d samples of audio in clear, %d over SRTP: not bit-identical", ch, len(a), len(b))
		}
	}
	gw.waitMetric(t, "voicegw_srtp_auth_failures_total", 4)
	gw.waitMetric(t, "voicegw_srtp_replayed_total", 2)

	// an account that requires TLS and SRTP
	keys, lines = keyed(newKeys(t, media.SuiteAEADAES128GCM))
	call(sdesCall{Realm: "strict.test", Crypto: lines, Expect: 200, HoldMS: 5000, Ports: ports()}, keys, false)
	waitFor(t, 20*time.Second, "the strict account's recording", func() bool { return len(recordings(t, strict)) == 1 })
	for _, p := range recordings(t, strict) {
		w := decodeWAV(t, p)
		for ch, f := range []float64{440, 880} {
			if got := soxFrequency(t, p, ch+1); !near(got, f, f*0.05) || len(trimmed(w.channels[ch])) < 7800 {
				t.Errorf("strict account's recording, channel %d: %.0f Hz, %d samples of audio", ch+1, got, len(trimmed(w.channels[ch])))
			}
		}
	}
	clearOffer := sdesCall{Realm: "strict.test", Expect: 488, Warning: "SRTP is required and m-line 0", Ports: ports()}
	call(clearOffer, [2]*media.Crypto{}, false)
	overTCP := clearOffer
	overTCP.Warning = "requires SIP over TLS"
	if _, err := startSdesCall(t, gw.sipAddr(), overTCP, "sbc", tlsPassword).proc.Wait(); err != nil {
		t.Fatalf("clear offer over TCP to the strict account: %v", err)
	}
	sdesOverTCP := sdesCall{Realm: "open.test", Crypto: lines, Expect: 488, Warning: "clear signalling", Ports: ports()}
	if _, err := startSdesCall(t, gw.sipAddr(), sdesOverTCP, "sbc", tlsPassword).proc.Wait(); err != nil {
		t.Fatalf("SDES over TCP: %v", err)
	}
	gw.waitMetric(t, `voicegw_calls_total{reason="srtp_required",result="refused"}`, 1)
	gw.waitMetric(t, `voicegw_calls_total{reason="tls_required",result="refused"}`, 1)
	gw.waitMetric(t, `voicegw_calls_total{reason="sdes_over_clear_transport",result="refused"}`, 1)

	// digest and allowlists as over TCP: a wrong password is challenged
	// again, a source outside the account's allowlist refused
	if _, err := startSdesCall(t, tlsAddr, sdesCall{Realm: "open.test", Expect: 407, Ports: ports()}, "sbc", "wrong-password-1").proc.Wait(); err != nil {
		t.Fatalf("a wrong password over TLS: %v", err)
	}
	if got := tlsExchange(t, fmt.Sprintf("127.0.0.1:%d", tlsPort), certFile, "INVITE sip:srs@fenced.test SIP/2.0\r\n"+
		"Via: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK-fenced\r\nFrom: <sip:src@127.0.0.1>;tag=1\r\nTo: <sip:srs@fenced.test>\r\n"+
		"Call-ID: fenced-1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContact: <sip:src@127.0.0.1;transport=tls>\r\nContent-Length: 0\r\n\r\n"); !strings.HasPrefix(got, "SIP/2.0 403") {
		t.Errorf("an INVITE over TLS from outside the account's allowlist: answered %q, want 403", got)
	}

	// each session's streams logged with their suite, never a key
	for _, want := range []string{"srtp=RTP,RTP", "srtp=AES_CM_128_HMAC_SHA1_80,AES_CM_128_HMAC_SHA1_80", "srtp=AEAD_AES_128_GCM,AEAD_AES_128_GCM"} {
		if !strings.Contains(gw.stderr.String(), want) {
			t.Errorf("no session started with %s in the logs", want)
		}
	}

	// at debug level, not one key offered (the SRTP calls', the one over
	// TCP's) nor the password is in the gateway's logs
	logs := gw.stdout.String() + gw.stderr.String()
	for _, secret := range append(offered, tlsPassword, "inline:") {
		if strings.Contains(logs, secret) {
			t.Errorf("the gateway logged %q", secret)
		}
	}
}

// TestTLSMutualAndReload: with a client CA file the gateway refuses a TLS
// client without a certificate (the handshake fails: counted, no call) and
// records one with a certificate of the CA; new certificate files and a
// SIGHUP change the certificate new connections get while a call in
// progress goes on over its connection to its BYE, and is recorded whole.
func TestTLSMutualAndReload(t *testing.T) {
	srtppeer.Require(t)
	sipptest.Path(t)
	dir := t.TempDir()
	certFile, keyFile, first := tlsTestCert(t, dir)
	caFile, caKey := filepath.Join(dir, "sbc-ca.pem"), filepath.Join(dir, "sbc-ca-key.pem")
	if _, err := sip.WriteSelfSigned(caFile, caKey, []string{"sbc.example.test"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	open := t.TempDir()
	tlsPort := testenv.FreePort(t)
	tlsAddr := fmt.Sprintf("127.0.0.1:%d", tlsPort)
	gw := startGateway(t, gwOptions{
		SIP: fmt.Sprintf("transports: [tcp, tls]\ntls: {listen: %s, cert_file: %s, key_file: %s, client_ca_file: %s, reload_interval: 1h}",
			tlsAddr, certFile, keyFile, caFile),
		Config: fmt.Sprintf(srtpAccounts, tlsPassword, open, t.TempDir()),
	})

	// no client certificate: refused at the handshake
	anon := socatTLS(t, tlsAddr, certFile, "", "")
	c := sdesCall{Realm: "open.test", Expect: 200, HoldMS: 500, Ports: [2]int{testenv.FreeUDPPortPair(t), testenv.FreeUDPPortPair(t)}, Timeout: 10 * time.Second}
	if _, err := startSdesCall(t, anon, c, "sbc", tlsPassword).proc.Wait(); err == nil {
		t.Fatal("a TLS client without a certificate placed a call")
	}
	if v := gw.metric(t, "voicegw_sip_tls_handshake_failures_total"); v < 1 {
		t.Fatalf("handshake failures %v, want at least 1", v)
	}

	// a certificate of another authority: refused at the handshake too,
	// before a byte of SIP is read (no answer to the OPTIONS)
	strangerCert, strangerKey := filepath.Join(dir, "stranger.pem"), filepath.Join(dir, "stranger-key.pem")
	if _, err := sip.WriteSelfSigned(strangerCert, strangerKey, []string{"sbc.example.test"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	stranger, err := tls.LoadX509KeyPair(strangerCert, strangerKey)
	if err != nil {
		t.Fatal(err)
	}
	failures := gw.metric(t, "voicegw_sip_tls_handshake_failures_total")
	roots := x509.NewCertPool()
	roots.AddCert(first)
	conn, err := tls.Dial("tcp", tlsAddr, &tls.Config{RootCAs: roots, ServerName: "localhost", Certificates: []tls.Certificate{stranger}})
	if err == nil { // TLS 1.3: the server's refusal comes with the first read
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = fmt.Fprintf(conn, "OPTIONS sip:open.test SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bK-stranger\r\n"+
			"From: <sip:x@open.test>;tag=1\r\nTo: <sip:open.test>\r\nCall-ID: stranger\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
		b := make([]byte, 512)
		n, rerr := conn.Read(b)
		conn.Close()
		if rerr == nil {
			t.Fatalf("a client certificate of another authority got an answer: %q", b[:n])
		}
	}
	gw.waitMetric(t, "voicegw_sip_tls_handshake_failures_total", failures+1)

	// the SBC's certificate: a call, during which the certificate changes
	sbc := socatTLS(t, tlsAddr, certFile, caFile, caKey)
	keys, lines := newKeys(t, media.SuiteAESCM128HMACSHA1_80)
	// HoldMS: the reload, the wait for the new certificate (up to 10 s on a
	// loaded machine) and the second of audio all happen before sipp's BYE.
	c = sdesCall{Realm: "open.test", Crypto: lines, Expect: 200, HoldMS: 12000, Ports: [2]int{testenv.FreeUDPPortPair(t), testenv.FreeUDPPortPair(t)}}
	s := startSdesCall(t, sbc, c, "sbc", tlsPassword)
	answered := s.ports(t)

	next, err := sip.WriteSelfSigned(certFile, keyFile, []string{"localhost", "127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	client, err := tls.LoadX509KeyPair(caFile, caKey)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the new certificate on new connections", func() bool {
		roots := x509.NewCertPool()
		roots.AddCert(next)
		conn, err := tls.Dial("tcp", tlsAddr, &tls.Config{RootCAs: roots, ServerName: "localhost", Certificates: []tls.Certificate{client}})
		if err != nil {
			return false
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Equal(next) && !next.Equal(first)
	})
	sendStreams(t, c, keys, answered, false) // the call in progress goes on
	if _, err := s.proc.Wait(); err != nil {
		t.Fatalf("the call across the reload: %v", err)
	}
	waitFor(t, 20*time.Second, "the recording of the call across the reload", func() bool { return len(recordings(t, open)) == 1 })
	for _, p := range recordings(t, open) {
		w := decodeWAV(t, p)
		for ch := range 2 {
			if n := len(trimmed(w.channels[ch])); n < 7800 {
				t.Errorf("channel %d: %d samples of audio, want the whole second", ch+1, n)
			}
		}
	}
	if !strings.Contains(gw.stderr.String(), "TLS certificate files reloaded") {
		t.Error("the gateway did not log the reload")
	}
}

// TestTLSDevCertSiprecClient: without certificate files the gateway makes
// a self-signed development certificate on its first start (key mode 0600,
// its fingerprint printed), and examples/siprec-client trusting that file
// (-tls-ca) records over sips: with SRTP, which the gateway requires here
// (sip.srtp.require): the call is recorded whole, and the same client with
// -srtp off is refused.
func TestTLSDevCertSiprecClient(t *testing.T) {
	open := t.TempDir()
	tlsPort := testenv.FreePort(t)
	gw := startGateway(t, gwOptions{
		SIP:    fmt.Sprintf("transports: [udp, tcp, tls]\ntls: {listen: 127.0.0.1:%d}\nsrtp: {require: true}\ndefault_account: open", tlsPort),
		Config: fmt.Sprintf(srtpAccounts, tlsPassword, open, t.TempDir()),
	})
	certFile, keyFile := filepath.Join(gw.dataDir, "tls", "cert.pem"), filepath.Join(gw.dataDir, "tls", "key.pem")
	pem, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatalf("no development certificate: %v", err)
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("development key %v: want mode 0600", fi)
	}
	cert, _ := tls.X509KeyPair(pem, mustRead(t, keyFile))
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if out := gw.stdout.String(); !strings.Contains(out, sip.Fingerprint(leaf)) || !strings.Contains(out, certFile) ||
		!strings.Contains(out, fmt.Sprintf(`-srs "sips:127.0.0.1:%d" -tls-ca %s`, tlsPort, certFile)) {
		t.Errorf("the gateway did not print the development certificate's file and fingerprint:\n%s", out)
	}
	if strings.Contains(gw.stdout.String()+gw.stderr.String(), "PRIVATE KEY") {
		t.Error("the development key was printed")
	}

	srs := fmt.Sprintf("sips:127.0.0.1:%d", tlsPort)
	client := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, siprecClient(t), append([]string{"-srs", srs, "-tls-ca", certFile,
			"-user", "sbc", "-password", tlsPassword, "-duration", "2s"}, args...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := client(); err != nil {
		t.Fatalf("siprec-client over sips: with SRTP: %v\n%s", err, out)
	}
	waitFor(t, 20*time.Second, "the recording", func() bool { return len(recordings(t, open)) == 1 })
	for _, p := range recordings(t, open) {
		for ch, f := range []float64{440, 880} {
			if got := soxFrequency(t, p, ch+1); !near(got, f, f*0.05) {
				t.Errorf("channel %d: %.0f Hz, want %.0f", ch+1, got, f)
			}
		}
		if n := len(trimmed(decodeWAV(t, p).channels[0])); n < 12000 {
			t.Errorf("%d samples of audio, want about 2 s", n)
		}
	}
	if out, err := client("-srtp", "off"); err == nil || !strings.Contains(out, "488") {
		t.Fatalf("siprec-client -srtp off to a gateway requiring SRTP: %v\n%s", err, out)
	}
	gw.waitMetric(t, `voicegw_calls_total{reason="srtp_required",result="refused"}`, 1)
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// tlsExchange sends one SIP request over a new TLS connection to addr
// (trusting caFile) and returns the first line of the first answer other
// than 100 Trying.
func tlsExchange(t *testing.T, addr, caFile, req string) string {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(mustRead(t, caFile))
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		if strings.HasPrefix(line, "SIP/2.0 ") && !strings.HasPrefix(line, "SIP/2.0 100") {
			return strings.TrimSpace(line)
		}
	}
}

// TestTLSReloadOnFileChange: without a SIGHUP, new certificate files are
// served to new connections within the reload interval; a certificate file
// that does not load (half written) keeps the certificate in use, logged,
// and the next good files are taken.
func TestTLSReloadOnFileChange(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, first := tlsTestCert(t, dir)
	tlsPort := testenv.FreePort(t)
	tlsAddr := fmt.Sprintf("127.0.0.1:%d", tlsPort)
	gw := startGateway(t, gwOptions{
		SIP:    fmt.Sprintf("transports: [tcp, tls]\ntls: {listen: %s, cert_file: %s, key_file: %s, reload_interval: 100ms}", tlsAddr, certFile, keyFile),
		Config: fmt.Sprintf(srtpAccounts, tlsPassword, t.TempDir(), t.TempDir()),
	})
	served := func() *x509.Certificate {
		conn, err := tls.Dial("tcp", tlsAddr, &tls.Config{InsecureSkipVerify: true}) // the test reads what is served
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0]
	}
	if !served().Equal(first) {
		t.Fatal("the gateway does not serve its certificate file")
	}
	next, err := sip.WriteSelfSigned(certFile, keyFile, []string{"localhost", "127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the changed files served", func() bool { return served().Equal(next) })

	failed := strings.Count(gw.stderr.String(), "TLS files not reloaded") // a rotation may meet a new certificate with the old key
	writeFile(t, certFile, "-----BEGIN CERTIFICATE-----\nhalf written")
	waitFor(t, 10*time.Second, "the failed reload logged", func() bool {
		return strings.Count(gw.stderr.String(), "TLS files not reloaded") > failed
	})
	if !served().Equal(next) {
		t.Fatal("a certificate file that does not load replaced the certificate in use")
	}
	last, err := sip.WriteSelfSigned(certFile, keyFile, []string{"localhost", "127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the repaired files served", func() bool { return served().Equal(last) })
}
