package siprec

import (
	"context"
	"math"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/internal/siptest"
	"github.com/voicegw/voicegw/internal/uuid"
	"github.com/voicegw/voicegw/media"
	"github.com/voicegw/voicegw/siprec/metadata"
)

// srsClient is a recording client made of sipgo's client and media's
// Sender, for the cases sipp cannot express (codec and port changes, new
// m-lines, BYEs from the server). It talks TCP: sipgo refuses to send UDP
// messages over 1300 bytes, which a SIPREC INVITE is (the sipp tests cover
// UDP).
type srsClient struct {
	t    *testing.T
	e    *srsEnv
	c    *sipgo.Client
	ip   string // the client's own address
	port int    // the client's own SIP port (its Contact)

	mu   sync.Mutex
	byes []*sipgosip.Request

	// The dialog.
	callID  string
	fromTag string
	to      *sipgosip.ToHeader // with the server's tag once answered
	cseq    uint32
	headers []sipgosip.Header // extra headers of the next INVITE
	// uriHost is the host of the Request-URI (the realm a sip.Guard picks
	// the tenant by); default 127.0.0.1.
	uriHost string
}

func newSRSClient(t *testing.T, e *srsEnv) *srsClient {
	t.Helper()
	return newSRSClientAt(t, e, "127.0.0.1")
}

// newSRSClientAt returns a client whose SIP (and own server) is on ip, a
// loopback address: 127.0.0.2 stands for another host.
func newSRSClientAt(t *testing.T, e *srsEnv, ip string) *srsClient {
	t.Helper()
	sc := siptest.Config{Host: ip}
	c, ua := siptest.NewClient(t, sc)
	cl := &srsClient{t: t, e: e, c: c, callID: uuid.New(), fromTag: newTag(), cseq: 1}
	// The client's own server, for the BYEs the recording server sends.
	srv := siptest.ServerOn(t, ua, sc)
	srv.OnBye(func(req *sipgosip.Request, tx sipgosip.ServerTransaction) {
		cl.mu.Lock()
		cl.byes = append(cl.byes, req)
		cl.mu.Unlock()
		_ = tx.Respond(sipgosip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	cl.ip = ip
	cl.port = l.Addr().(*net.TCPAddr).Port
	go func() { _ = srv.ServeTCP(l) }()
	t.Cleanup(func() {
		e.shutdown() // first (before siptest closes ua), so that the server's BYEs find the client
		_ = l.Close()
	})
	return cl
}

func (cl *srsClient) byeCount() int {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return len(cl.byes)
}

// request builds a request of the client's dialog (out of dialog until the
// INVITE was answered).
func (cl *srsClient) request(method sipgosip.RequestMethod, contentType string, body []byte) *sipgosip.Request {
	host := cl.uriHost
	if host == "" {
		host = "127.0.0.1"
	}
	req := sipgosip.NewRequest(method, sipgosip.Uri{Scheme: "sip", User: "srs", Host: host, Port: cl.e.port})
	req.SetTransport("TCP")
	req.SetDestination(cl.e.addr)
	from := &sipgosip.FromHeader{Address: sipgosip.Uri{Scheme: "sip", User: "src", Host: cl.ip}, Params: sipgosip.NewParams()}
	from.Params.Add("tag", cl.fromTag)
	req.AppendHeader(from)
	to := cl.to
	if to == nil {
		to = &sipgosip.ToHeader{Address: sipgosip.Uri{Scheme: "sip", User: "srs", Host: "127.0.0.1"}, Params: sipgosip.NewParams()}
	}
	req.AppendHeader(sipgosip.HeaderClone(to))
	id := sipgosip.CallIDHeader(cl.callID)
	req.AppendHeader(&id)
	if method != sipgosip.ACK {
		cl.cseq++
	}
	req.AppendHeader(&sipgosip.CSeqHeader{SeqNo: cl.cseq, MethodName: method})
	contact := &sipgosip.ContactHeader{
		Address: sipgosip.Uri{Scheme: "sip", User: "src", Host: cl.ip, Port: cl.port, UriParams: sipgosip.HeaderParams{{K: "transport", V: "tcp"}}},
		Params:  sipgosip.HeaderParams{{K: "+sip.src", V: ""}},
	}
	req.AppendHeader(contact)
	if method == sipgosip.INVITE || method == sipgosip.UPDATE {
		req.AppendHeader(sipgosip.NewHeader("Require", "siprec"))
	}
	if contentType != "" {
		req.AppendHeader(sipgosip.NewHeader("Content-Type", contentType))
	}
	req.SetBody(body)
	return req
}

// do sends req and returns the final response; a 2xx to an INVITE is ACKed
// unless noAck.
func (cl *srsClient) do(req *sipgosip.Request, noAck bool) *sipgosip.Response {
	cl.t.Helper()
	ctx, cancel := context.WithTimeout(cl.t.Context(), 10*time.Second)
	defer cancel()
	res, err := cl.c.Do(ctx, req)
	if err != nil {
		cl.t.Fatalf("%s: %v", req.Method, err)
	}
	if req.IsInvite() && res.IsSuccess() {
		if cl.to == nil {
			cl.to = sipgosip.HeaderClone(res.To()).(*sipgosip.ToHeader)
		}
		if !noAck {
			ack := cl.request(sipgosip.ACK, "", nil)
			ack.CSeq().SeqNo = req.CSeq().SeqNo
			if err := cl.c.WriteRequest(ack); err != nil {
				cl.t.Fatalf("ACK: %v", err)
			}
		}
	}
	return res
}

// invite sends the initial INVITE with offer and md (either may be nil).
func (cl *srsClient) invite(offer *media.SessionDescription, md *metadata.Recording, noAck bool) *sipgosip.Response {
	cl.t.Helper()
	req := cl.offerRequest(sipgosip.INVITE, offer, md)
	for _, h := range cl.headers {
		req.AppendHeader(h)
	}
	return cl.do(req, noAck)
}

// offerRequest builds an INVITE, re-INVITE or UPDATE carrying an SDP offer,
// metadata, both or neither.
func (cl *srsClient) offerRequest(method sipgosip.RequestMethod, offer *media.SessionDescription, md *metadata.Recording) *sipgosip.Request {
	cl.t.Helper()
	var sdp []byte
	if offer != nil {
		var err error
		if sdp, err = offer.Marshal(); err != nil {
			cl.t.Fatal(err)
		}
	}
	ct, body, err := BuildBody(sdp, md, nil)
	if err != nil {
		cl.t.Fatal(err)
	}
	return cl.request(method, ct, body)
}

// srsAnswerOf checks that res is a 200 with an SDP answer and parses it.
func srsAnswerOf(t *testing.T, res *sipgosip.Response) *media.SessionDescription {
	t.Helper()
	if res.StatusCode != 200 {
		t.Fatalf("answer %d %s, want 200", res.StatusCode, res.Reason)
	}
	if ct := res.ContentType(); ct == nil || ct.Value() != "application/sdp" {
		t.Fatalf("answer Content-Type %v, want application/sdp", ct)
	}
	d, err := media.ParseSDP(res.Body())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// srsLeg is one stream the test client offers and sends.
type srsLeg struct {
	label string
	ep    *media.Endpoint
	dir   media.Direction
	codec media.Codec // default PCMU/0
}

func srsLegs(t *testing.T, labels ...string) []*srsLeg {
	t.Helper()
	out := make([]*srsLeg, len(labels))
	for i, l := range labels {
		out[i] = &srsLeg{label: l, ep: srsListen(t), dir: media.SendOnly}
	}
	return out
}

func srsListen(t *testing.T) *media.Endpoint {
	t.Helper()
	ep, err := media.Listen(netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ep.Close() })
	return ep
}

// srsOfferOf builds an offer with one m-line per leg (port 0 for a nil
// endpoint: a removed line), with version v.
func srsOfferOf(v uint64, legs ...*srsLeg) *media.SessionDescription {
	d := &media.SessionDescription{
		Origin:  media.Origin{Username: "src", SessionID: 4242, SessionVersion: v, Address: "127.0.0.1"},
		Address: netip.MustParseAddr("127.0.0.1"),
	}
	for _, l := range legs {
		c := l.codec
		if c.Encoding == 0 {
			c = media.Codec{PayloadType: 0, Encoding: media.EncodingPCMU, ClockRate: 8000}
		}
		m := media.Media{Type: "audio", Protocol: "RTP/AVP", Codecs: []media.Codec{c, {PayloadType: 101, Encoding: media.EncodingTelephoneEvent, ClockRate: 8000, Fmtp: "0-16"}},
			Address: d.Address, Label: l.label, Direction: l.dir, PTime: 20 * time.Millisecond}
		if l.ep != nil {
			m.Port = l.ep.Port()
		}
		d.Media = append(d.Media, m)
	}
	return d
}

// srsMetadataFor returns complete metadata in which party i sends on label i.
func srsMetadataFor(recordingID string, labels ...string) *metadata.Recording {
	parties := make([]metadata.Party, len(labels))
	for i, l := range labels {
		parties[i] = metadata.Party{AOR: "sip:party" + strconv.Itoa(i) + "@example.com", Label: l}
	}
	return metadata.NewComplete(metadata.Call{SessionID: "c2Vzc2lvbjE=", Parties: parties, RecordingID: recordingID})
}

// srsTone returns n samples of a sine at freq Hz.
func srsTone(freq float64, n int) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(8000 * math.Sin(2*math.Pi*freq*float64(i)/media.SampleRate))
	}
	return out
}

// send plays pcm in real time from a leg's endpoint to the answered port of
// its m-line, with the leg's codec.
func (l *srsLeg) send(t *testing.T, answer *media.SessionDescription, i int, ssrc uint32, pcm []int16) *media.Sender {
	t.Helper()
	m := answer.Media[i]
	c, ok := m.AudioCodec()
	if !ok {
		t.Fatalf("answer m-line %d has no audio codec", i)
	}
	s, err := media.NewSender(l.ep, m.RTPAddr(), media.SenderConfig{Codec: c, SSRC: ssrc})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Play(t.Context(), pcm); err != nil {
		t.Fatal(err)
	}
	return s
}

// srsThrough returns what pcm becomes through G.711 encoding c and back.
func srsThrough(c media.Encoding, pcm []int16) []int16 {
	b := make([]byte, len(pcm))
	out := make([]int16, len(pcm))
	if c == media.EncodingPCMA {
		media.EncodePCMA(b, pcm)
		media.DecodePCMA(out, b)
	} else {
		media.EncodePCMU(b, pcm)
		media.DecodePCMU(out, b)
	}
	return out
}
