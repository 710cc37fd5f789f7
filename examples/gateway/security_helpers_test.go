package main

// Helpers of the security suite (security_test.go): a hand-written SIP peer
// over TCP and UDP that can do what a recording client does (a SIPREC
// INVITE with digest, ACK, RTP, re-INVITE, BYE) and what an attacker does
// (the same requests from other addresses, with other credentials, or
// crafted), and the gateway process's resources read from /proc and pprof.

import (
	"bufio"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/voicegw/voicegw/internal/sqlitedb"
	"github.com/voicegw/voicegw/media"
	"github.com/voicegw/voicegw/sip"
)

// resources are what the gateway process holds.
type resources struct {
	fds, threads, goroutines int
}

func (r resources) String() string {
	return fmt.Sprintf("%d files, %d threads, %d goroutines", r.fds, r.threads, r.goroutines)
}

// noKeepAlive is an HTTP client that keeps no connection open in the
// gateway between requests (they would count as its files).
var noKeepAlive = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}

var reGoroutines = regexp.MustCompile(`goroutine profile: total (\d+)`)

// resources reads the gateway's open files and threads from /proc, and its
// goroutines from pprof (http.pprof is on in the suite's configuration).
func (p *gwProc) resources(t *testing.T) resources {
	t.Helper()
	pid := p.cmd.Process.Pid
	var r resources
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("the gateway's files: %v", err)
	}
	r.fds = len(fds)
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	r.threads = len(tasks)
	res, err := noKeepAlive.Get(p.url("/debug/pprof/goroutine?debug=1"))
	if err != nil {
		t.Fatalf("pprof: %v", err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := reGoroutines.FindSubmatch(b)
	if m == nil {
		t.Fatalf("pprof answered %d without a goroutine count", res.StatusCode)
	}
	r.goroutines, _ = strconv.Atoi(string(m[1]))
	return r
}

// Slack over the baseline: each SQLite database (state.db, insights.db)
// keeps up to sqlitedb.MaxConns (4) connections open once a burst made
// them, two files each (the database and its WAL): bounded, whatever the
// number of calls. A few threads may stay parked by the Go runtime.
const (
	slackFiles      = 2*sqlitedb.MaxConns*2 + 4
	slackGoroutines = 10
	slackThreads    = 4
)

// backToBaseline closes the suite's SIP connections, then waits until the
// gateway holds no more files, threads and goroutines than base plus the
// slack, and fails with what it holds after 20 s.
func (p *gwProc) backToBaseline(t *testing.T, base resources) resources {
	t.Helper()
	closePeers()
	deadline := time.Now().Add(20 * time.Second)
	for {
		p.alive(t)
		r := p.resources(t)
		if r.fds <= base.fds+slackFiles && r.goroutines <= base.goroutines+slackGoroutines && r.threads <= base.threads+slackThreads {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("not back to the baseline: %s, baseline %s", r, base)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// alive fails when the gateway exited.
func (p *gwProc) alive(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		t.Fatalf("the gateway exited: %v\n%s", p.waitErr, tail(p.stderr.String(), 4096))
	default:
	}
}

// sipMsg is a SIP message as read from the wire.
type sipMsg struct {
	raw    string
	method string // requests
	status int    // responses
	hdrs   map[string][]string
	body   string
}

var compactNames = map[string]string{"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact",
	"l": "content-length", "c": "content-type", "k": "supported"}

func parseSIP(head, body string) *sipMsg {
	m := &sipMsg{raw: head + body, hdrs: map[string][]string{}, body: body}
	lines := strings.Split(strings.TrimRight(head, "\r\n"), "\r\n")
	if f := strings.Fields(lines[0]); len(f) >= 2 {
		if strings.HasPrefix(f[0], "SIP/") {
			m.status, _ = strconv.Atoi(f[1])
		} else {
			m.method = f[0]
		}
	}
	for _, l := range lines[1:] {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if long, ok := compactNames[k]; ok {
			k = long
		}
		m.hdrs[k] = append(m.hdrs[k], strings.TrimSpace(v))
	}
	return m
}

func (m *sipMsg) hdr(name string) string {
	if v := m.hdrs[strings.ToLower(name)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (m *sipMsg) String() string { return tail(m.raw, 600) }

// sipPeer is a SIP peer on one TCP connection or UDP socket, bound to a
// chosen loopback address.
type sipPeer struct {
	t     *testing.T
	tcp   net.Conn
	udp   *net.UDPConn
	to    *net.UDPAddr
	local netip.AddrPort
	tr    string // TCP or UDP
	resps chan *sipMsg
	reqs  chan *sipMsg
	// bytes sent and received (UDP), for amplification figures
	mu        sync.Mutex
	in, out   int
	closeOnce sync.Once
}

// dialSIP connects a peer at ip to the gateway over tr ("tcp" or "udp").
func dialSIP(t *testing.T, gw *gwProc, ip, tr string) *sipPeer {
	t.Helper()
	p := &sipPeer{t: t, resps: make(chan *sipMsg, 64), reqs: make(chan *sipMsg, 64)}
	if tr == "tcp" {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", gw.sipAddr())
		if err != nil {
			t.Fatalf("connecting from %s: %v", ip, err)
		}
		p.tcp, p.tr = c, "TCP"
		p.local = c.LocalAddr().(*net.TCPAddr).AddrPort()
		go p.readTCP()
	} else {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
		if err != nil {
			t.Fatal(err)
		}
		p.udp, p.tr = c, "UDP"
		p.to, _ = net.ResolveUDPAddr("udp", gw.sipAddr())
		p.local = c.LocalAddr().(*net.UDPAddr).AddrPort()
		go p.readUDP()
	}
	t.Cleanup(p.close)
	peersMu.Lock()
	peers = append(peers, p)
	peersMu.Unlock()
	return p
}

var (
	peersMu sync.Mutex
	peers   []*sipPeer // open, closed by closePeers
)

// closePeers closes every SIP connection of the suite.
func closePeers() {
	peersMu.Lock()
	defer peersMu.Unlock()
	for _, p := range peers {
		p.close()
	}
	peers = nil
}

func (p *sipPeer) close() {
	p.closeOnce.Do(p.closeConn)
}

func (p *sipPeer) closeConn() {
	if p.tcp != nil {
		_ = p.tcp.Close()
	}
	if p.udp != nil {
		_ = p.udp.Close()
	}
}

func (p *sipPeer) deliver(m *sipMsg) {
	ch := p.resps
	if m.method != "" {
		ch = p.reqs
	}
	select {
	case ch <- m:
	default: // nobody reads: drop
	}
}

func (p *sipPeer) readTCP() {
	r := bufio.NewReaderSize(p.tcp, 1<<16)
	for {
		var head strings.Builder
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if head.Len() == 0 && strings.TrimSpace(line) == "" {
				continue // keep-alive
			}
			head.WriteString(line)
			if line == "\r\n" {
				break
			}
		}
		m := parseSIP(head.String(), "")
		n, _ := strconv.Atoi(m.hdr("content-length"))
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		m.body, m.raw = string(body), m.raw+string(body)
		p.deliver(m)
	}
}

func (p *sipPeer) readUDP() {
	buf := make([]byte, 65536)
	for {
		n, _, err := p.udp.ReadFromUDP(buf)
		if err != nil {
			return
		}
		p.mu.Lock()
		p.out += n
		p.mu.Unlock()
		s := string(buf[:n])
		head, body, _ := strings.Cut(s, "\r\n\r\n")
		p.deliver(parseSIP(head+"\r\n\r\n", body))
	}
}

// send writes one message (Via transport and sent-by filled in for the
// placeholders TRANSPORT and LOCAL).
func (p *sipPeer) send(msg string) {
	p.t.Helper()
	if err := p.trySend(msg); err != nil {
		p.t.Fatalf("sending: %v", err)
	}
}

// trySend is send returning the error.
func (p *sipPeer) trySend(msg string) error {
	msg = strings.NewReplacer("TRANSPORT", p.tr, "LOCAL", p.local.String()).Replace(msg)
	var err error
	if p.tcp != nil {
		_, err = p.tcp.Write([]byte(msg))
	} else {
		_, err = p.udp.WriteToUDP([]byte(msg), p.to)
	}
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.in += len(msg)
	p.mu.Unlock()
	return nil
}

// response waits for the final response to the request with CSeq cseq
// (provisional ones are skipped), or returns nil after d.
func (p *sipPeer) response(cseq string, d time.Duration) *sipMsg {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case m := <-p.resps:
			if m.status >= 200 && m.hdr("cseq") == cseq {
				return m
			}
		case <-timer.C:
			return nil
		}
	}
}

// mustResponse is response failing the test on silence.
func (p *sipPeer) mustResponse(cseq string) *sipMsg {
	p.t.Helper()
	m := p.response(cseq, 10*time.Second)
	if m == nil {
		p.t.Fatalf("no answer to %s from %s", cseq, p.local)
	}
	return m
}

// request waits for a request from the gateway (a BYE), or nil after d.
func (p *sipPeer) request(d time.Duration) *sipMsg {
	select {
	case m := <-p.reqs:
		return m
	case <-time.After(d):
		return nil
	}
}

// answer sends a response to a request the gateway sent.
func (p *sipPeer) answer(req *sipMsg, code int, reason string) {
	var b strings.Builder
	fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", code, reason)
	for _, h := range []string{"via", "from", "to", "call-id", "cseq"} {
		for _, v := range req.hdrs[h] {
			fmt.Fprintf(&b, "%s: %s\r\n", h, v)
		}
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	p.send(b.String())
}

func md5hex(parts ...string) string {
	h := md5.Sum([]byte(strings.Join(parts, ":")))
	return hex.EncodeToString(h[:])
}

// digest answers the MD5 challenge of a 401/407 for method and uri:
// qop=auth with nc 1, or, with rfc2069, the qop-less form of RFC 2069.
func digest(t *testing.T, res *sipMsg, method, uri, user, pass string, rfc2069 bool) string {
	t.Helper()
	var ch sip.Challenge
	for _, v := range append(res.hdrs["proxy-authenticate"], res.hdrs["www-authenticate"]...) {
		c, err := sip.ParseChallenge(v)
		if err == nil && (c.Algorithm == "" || strings.EqualFold(string(c.Algorithm), "MD5")) {
			ch = c
			break
		}
	}
	if ch.Nonce == "" {
		t.Fatalf("no MD5 challenge in %s", res)
	}
	ha1, ha2 := md5hex(user, ch.Realm, pass), md5hex(method, uri)
	if rfc2069 {
		return fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=MD5`,
			user, ch.Realm, ch.Nonce, uri, md5hex(ha1, ch.Nonce, ha2))
	}
	cnonce := fmt.Sprintf("%016x", rand.Uint64())
	return fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=MD5, cnonce="%s", qop=auth, nc=00000001`,
		user, ch.Realm, ch.Nonce, uri, md5hex(ha1, ch.Nonce, "00000001", cnonce, "auth", ha2), cnonce)
}

// metadataXML is RFC 7865 metadata for two streams labelled 1 and 2, with
// pad bytes of an extension element (to make it large).
func metadataXML(pad int) string {
	x := `<?xml version="1.0" encoding="UTF-8"?>
<recording xmlns='urn:ietf:params:xml:ns:recording:1'>
<datamode>complete</datamode>
<session session_id="hVpd7YQgRW2nD22h7q60JQ=="><sipSessionID>ab30317f;remote=47755a9d</sipSessionID></session>
<participant participant_id="srfBElmCRp2QB23b7Mpk0w=="><nameID aor="sip:alice@example.com"/></participant>
<participant participant_id="zSfPoSvdSDCmU3A3TRDxAw=="><nameID aor="sip:bob@example.com"/></participant>
<stream stream_id="UAAMm5GRQKSCMVvLyl4rFw==" session_id="hVpd7YQgRW2nD22h7q60JQ=="><label>1</label></stream>
<stream stream_id="i1Pz3to5hGk8fuXl+PbwCw==" session_id="hVpd7YQgRW2nD22h7q60JQ=="><label>2</label></stream>
<participantstreamassoc participant_id="srfBElmCRp2QB23b7Mpk0w=="><send>UAAMm5GRQKSCMVvLyl4rFw==</send></participantstreamassoc>
<participantstreamassoc participant_id="zSfPoSvdSDCmU3A3TRDxAw=="><send>i1Pz3to5hGk8fuXl+PbwCw==</send></participantstreamassoc>
`
	if pad > 0 {
		x += "<x:pad xmlns:x='urn:example:pad'>" + strings.Repeat("p", pad) + "</x:pad>\n"
	}
	return x + "</recording>\n"
}

// sdpOffer is a SIPREC offer: one sendonly PCMU m-line per port, labelled
// 1, 2…, on ip; dir replaces sendonly (a=inactive pauses).
func sdpOffer(ip string, ports []int, dir string, version int) string {
	s := fmt.Sprintf("v=0\r\no=SRC 2890844526 %d IN IP4 %s\r\ns=SIPREC\r\nc=IN IP4 %s\r\nt=0 0\r\n", version, ip, ip)
	for i, port := range ports {
		s += fmt.Sprintf("m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=label:%d\r\na=%s\r\n", port, i+1, dir)
	}
	return s
}

const boundary = "sec-boundary"

// siprecBody is the multipart body of a SIPREC INVITE.
func siprecBody(sdp, md string) string {
	return "--" + boundary + "\r\nContent-Type: application/sdp\r\n\r\n" + sdp +
		"\r\n--" + boundary + "\r\nContent-Type: application/rs-metadata+xml\r\nContent-Disposition: recording-session\r\n\r\n" + md +
		"\r\n--" + boundary + "--\r\n"
}

// dialog is a SIPREC session a sipPeer set up, or tries to.
type dialog struct {
	peer             *sipPeer
	realm, uri       string // Request-URI of the INVITE (sip:srs@realm)
	callID, fromTag  string
	toTag            string
	cseq             int
	target           string           // the gateway's Contact, where in-dialog requests go
	rtp              []*net.UDPConn   // our RTP sockets, one per m-line
	media            []netip.AddrPort // the gateway's RTP address per m-line
	user, pass       string
	started, stopped time.Time
}

// newDialog prepares a session from peer to realm with n streams, whose
// RTP sockets are bound on the peer's address.
func newDialog(t *testing.T, p *sipPeer, realm, user, pass string, n int) *dialog {
	t.Helper()
	d := &dialog{peer: p, realm: realm, uri: "sip:srs@" + realm, callID: fmt.Sprintf("sec-%016x", rand.Uint64()),
		fromTag: fmt.Sprintf("%08x", rand.Uint32()), user: user, pass: pass}
	for range n {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: p.local.Addr().AsSlice()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		d.rtp = append(d.rtp, c)
	}
	return d
}

func (d *dialog) ports() []int {
	var ps []int
	for _, c := range d.rtp {
		ps = append(ps, c.LocalAddr().(*net.UDPAddr).Port)
	}
	return ps
}

// inviteMsg is an INVITE of the dialog (initial when toTag is empty) with
// a body of the given type, and an optional Proxy-Authorization.
func (d *dialog) inviteMsg(ctype, body, auth string) string {
	d.cseq++
	to := "<" + d.uri + ">"
	if d.toTag != "" {
		to += ";tag=" + d.toTag
	}
	ruri := d.uri
	if d.target != "" {
		ruri = d.target
	}
	m := "INVITE " + ruri + " SIP/2.0\r\n" +
		fmt.Sprintf("Via: SIP/2.0/TRANSPORT LOCAL;branch=z9hG4bK-%016x\r\n", rand.Uint64()) +
		"Max-Forwards: 70\r\n" +
		"From: <sip:src@example.com>;tag=" + d.fromTag + "\r\n" +
		"To: " + to + "\r\n" +
		"Call-ID: " + d.callID + "\r\n" +
		fmt.Sprintf("CSeq: %d INVITE\r\n", d.cseq) +
		"Contact: <sip:src@LOCAL;transport=TRANSPORT>;+sip.src\r\n" +
		"Require: siprec\r\nAccept: application/sdp, application/rs-metadata+xml\r\n" +
		"User-Agent: voicegw-security-test\r\n"
	if auth != "" {
		m += "Proxy-Authorization: " + auth + "\r\n"
	}
	return m + "Content-Type: " + ctype + "\r\n" + fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body)) + body
}

// start sends the SIPREC INVITE (answering one digest challenge) with pad
// bytes of extra metadata and returns the final response; on 200 it ACKs
// and reads the gateway's RTP ports and Contact.
func (d *dialog) start(t *testing.T, pad int) *sipMsg {
	t.Helper()
	body := siprecBody(sdpOffer(d.peer.local.Addr().String(), d.ports(), "sendonly", 1), metadataXML(pad))
	ctype := "multipart/mixed;boundary=" + boundary
	d.peer.send(d.inviteMsg(ctype, body, ""))
	res := d.peer.mustResponse(fmt.Sprintf("%d INVITE", d.cseq))
	d.started = time.Now()
	if res.status == 407 && d.user != "" {
		d.ack(res)
		auth := digest(t, res, "INVITE", d.uri, d.user, d.pass, false)
		d.started = time.Now()
		d.peer.send(d.inviteMsg(ctype, body, auth))
		res = d.peer.mustResponse(fmt.Sprintf("%d INVITE", d.cseq))
	}
	if res.status != 200 {
		d.ack(res)
		return res
	}
	// a test that fails mid-call does not leave its session to the next
	t.Cleanup(func() {
		if d.stopped.IsZero() {
			_ = d.peer.trySend(d.inDialog("BYE", d.target, "", "", ""))
		}
	})
	d.toTag = tagOf(res.hdr("to"))
	if c := res.hdr("contact"); c != "" {
		d.target = strings.Trim(strings.SplitN(c, ">", 2)[0], "<")
	}
	d.media = mediaOf(t, res.body)
	if len(d.media) != len(d.rtp) {
		t.Fatalf("answer with %d m-lines for %d offered:\n%s", len(d.media), len(d.rtp), res)
	}
	d.ack(res)
	return res
}

// mustStart is start failing the test on anything but 200.
func (d *dialog) mustStart(t *testing.T) {
	t.Helper()
	if res := d.start(t, 0); res.status != 200 {
		t.Fatalf("the legitimate call was refused: %s", res)
	}
}

// ack acknowledges a final response to the last INVITE.
func (d *dialog) ack(res *sipMsg) {
	ruri := d.uri
	if res.status == 200 && d.target != "" {
		ruri = d.target
	}
	d.peer.send("ACK " + ruri + " SIP/2.0\r\n" +
		fmt.Sprintf("Via: SIP/2.0/TRANSPORT LOCAL;branch=z9hG4bK-%016x\r\n", rand.Uint64()) +
		"Max-Forwards: 70\r\nFrom: <sip:src@example.com>;tag=" + d.fromTag + "\r\n" +
		"To: " + res.hdr("to") + "\r\nCall-ID: " + d.callID + "\r\n" +
		fmt.Sprintf("CSeq: %d ACK\r\nContent-Length: 0\r\n\r\n", d.cseq))
}

// inDialog is a request of the dialog, written for peer p (which may be
// another than the dialog's own: an attacker who learnt its identifiers),
// to ruri.
func (d *dialog) inDialog(method, ruri, ctype, body, auth string) string {
	d.cseq++
	m := method + " " + ruri + " SIP/2.0\r\n" +
		fmt.Sprintf("Via: SIP/2.0/TRANSPORT LOCAL;branch=z9hG4bK-%016x\r\n", rand.Uint64()) +
		"Max-Forwards: 70\r\nFrom: <sip:src@example.com>;tag=" + d.fromTag + "\r\n" +
		"To: <" + d.uri + ">;tag=" + d.toTag + "\r\nCall-ID: " + d.callID + "\r\n" +
		fmt.Sprintf("CSeq: %d %s\r\n", d.cseq, method) + "Contact: <sip:src@LOCAL;transport=TRANSPORT>\r\n"
	if auth != "" {
		m += "Proxy-Authorization: " + auth + "\r\n"
	}
	if ctype != "" {
		m += "Content-Type: " + ctype + "\r\n"
	}
	return m + fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body)) + body
}

// bye ends the dialog from the client and requires 200.
func (d *dialog) bye(t *testing.T) {
	t.Helper()
	d.stopped = time.Now()
	d.peer.send(d.inDialog("BYE", d.target, "", "", ""))
	if res := d.peer.mustResponse(fmt.Sprintf("%d BYE", d.cseq)); res.status != 200 {
		t.Fatalf("BYE: %s", res)
	}
}

var reTag = regexp.MustCompile(`;\s*tag=([^;>\s]+)`)

func tagOf(h string) string {
	if m := reTag.FindStringSubmatch(h); m != nil {
		return m[1]
	}
	return ""
}

var reMLine = regexp.MustCompile(`(?m)^m=audio (\d+) `)
var reCLine = regexp.MustCompile(`(?m)^c=IN IP4 ([0-9.]+)`)

func mediaOf(t *testing.T, sdp string) []netip.AddrPort {
	t.Helper()
	c := reCLine.FindStringSubmatch(sdp)
	if c == nil {
		t.Fatalf("no c= line in the answer:\n%s", sdp)
	}
	ip := netip.MustParseAddr(c[1])
	var out []netip.AddrPort
	for _, m := range reMLine.FindAllStringSubmatch(sdp, -1) {
		port, _ := strconv.Atoi(m[1])
		out = append(out, netip.AddrPortFrom(ip, uint16(port)))
	}
	return out
}

// tone is a PCMU RTP stream of a sine wave.
type tone struct {
	freq      float64
	ssrc      uint32
	seq       uint16
	ts        uint32
	n         int // samples sent
	pcm       [160]int16
	payload   [160]byte
	tsPerPkt  uint32 // timestamp step; 160 for honest 20 ms packets
	marshaled []byte
}

func newTone(freq float64) *tone {
	return &tone{freq: freq, ssrc: rand.Uint32(), seq: uint16(rand.Uint32()), ts: rand.Uint32(), tsPerPkt: 160}
}

// next returns the next 20 ms packet.
func (s *tone) next() []byte {
	for i := range s.pcm {
		s.pcm[i] = int16(12000 * math.Sin(2*math.Pi*s.freq*float64(s.n+i)/8000))
	}
	s.n += len(s.pcm)
	media.EncodePCMU(s.payload[:], s.pcm[:])
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: s.seq, Timestamp: s.ts, SSRC: s.ssrc}, Payload: s.payload[:]}
	s.seq++
	s.ts += s.tsPerPkt
	s.marshaled, _ = p.Marshal()
	return s.marshaled
}

// sendAudio sends 440 Hz on the first stream and 880 Hz on the second
// (and so on, +440 Hz each) for d, paced at 20 ms.
func (d *dialog) sendAudio(ctx context.Context, dur time.Duration, tones []*tone) {
	if tones == nil {
		for i := range d.rtp {
			tones = append(tones, newTone(440*float64(i+1)))
		}
	}
	// one packet per 20 ms of the wall clock, caught up when the machine
	// is busy (a late ticker would send less audio than time passed)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	for sent := 0; sent < int(dur/(20*time.Millisecond)); {
		for due := int(time.Since(start)/(20*time.Millisecond)) + 1; sent < due; sent++ {
			for i, c := range d.rtp {
				_, _ = c.WriteToUDPAddrPort(tones[i].next(), d.media[i])
			}
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// blaster sends RTP of freq at every even port of [lo, hi] from sockets on
// the given addresses, pps packets per second per port, until stopped: an
// attacker who knows the gateway's RTP range.
type blaster struct {
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
	sent atomic.Int64
}

func blast(t *testing.T, froms []string, lo, hi int, pps int, freq float64) *blaster {
	t.Helper()
	b := &blaster{stop: make(chan struct{})}
	for _, from := range froms {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(from)})
		if err != nil {
			t.Fatal(err)
		}
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			defer c.Close()
			ip := netip.MustParseAddr("127.0.0.1")
			var tones []*tone
			for port := lo + lo%2; port <= hi; port += 2 {
				tones = append(tones, newTone(freq))
			}
			tick := time.NewTicker(time.Second / time.Duration(pps))
			defer tick.Stop()
			for {
				for i, tn := range tones {
					port := lo + lo%2 + 2*i
					if _, err := c.WriteToUDPAddrPort(tn.next(), netip.AddrPortFrom(ip, uint16(port))); err == nil {
						b.sent.Add(1)
					}
				}
				select {
				case <-tick.C:
				case <-b.stop:
					return
				}
			}
		}()
	}
	return b
}

func (b *blaster) halt() int {
	b.once.Do(func() { close(b.stop) })
	b.wg.Wait()
	return int(b.sent.Load())
}
