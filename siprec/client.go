package siprec

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/media"
	"github.com/voicegw/voicegw/rbac/secret"
	vsip "github.com/voicegw/voicegw/sip"
)

// Defaults of ClientConfig.
const (
	// DefaultAnswerTimeout bounds the wait for a recording server's final
	// answer to an INVITE, re-INVITE or BYE.
	DefaultAnswerTimeout = 10 * time.Second
	// DefaultUserAgent is the User-Agent header value.
	DefaultUserAgent = "voicegw-siprec"
	// DefaultFromUser is the user part of From and Contact.
	DefaultFromUser = "src"
)

// udpLimit is the largest request sent over UDP: RFC 3261 §18.1.1 asks for
// a congestion-controlled transport above 1300 bytes when the path MTU is
// unknown, and sipgo refuses UDP messages above its MTU limit less 200
// bytes (1300 with its default). A SIPREC INVITE (about 2.5 KB) always goes
// over TCP.
const udpLimit = 1300

// ClientConfig configures a Client. The zero value works: it listens on
// every IPv4 address on a port the system picks, advertises the address
// the system uses to reach each recorder, resolves names with the system
// resolver, and sends no credentials.
type ClientConfig struct {
	// ListenAddr is where the client receives SIP over UDP and TCP (the same
	// port): the recording servers' in-dialog requests (BYE, session-refresh
	// re-INVITE, OPTIONS) and responses. Default 0.0.0.0:0: every IPv4
	// address, a port the system picks (Client.Addr tells which).
	ListenAddr netip.AddrPort
	// Host is the address written in Via, Contact and the SDP (c=, o=).
	// Default: ListenAddr's address when it is not unspecified, else the
	// local address the system routes each recorder's traffic from.
	Host netip.Addr
	// Username and Password answer a recording server's digest challenge
	// (401 or 407, RFC 3261 §22.2; MD5, SHA-256, SHA-512-256). Empty: no
	// credentials, a challenge is a refusal.
	Username string
	Password secret.String // redacted in every printed form, masked in JSON
	// FromUser is the user part of the From and Contact URIs; default
	// DefaultFromUser ("src").
	FromUser string
	// UserAgent is the User-Agent header; default DefaultUserAgent.
	UserAgent string
	// Resolver resolves recording server host names (RFC 3263 SRV, then
	// A/AAAA); nil means net.DefaultResolver. A *net.Resolver is also given
	// to sipgo for host names in Contact and Record-Route.
	Resolver Resolver
	// Ports allocates the RTP endpoint each forked stream is sent from (its
	// port is the m= line's). Nil: media.Listen on ListenAddr's address.
	Ports *media.PortPool
	// RTPConn, when set, sends every forked stream of every call from this
	// one socket and puts its port on every m= line. Recording servers
	// receive only, so nothing needs a port of its own; this saves two file
	// descriptors per stream, which a load generator with thousands of
	// sessions needs. A *net.UDPConn, or a *media.BatchWriter over one
	// (the forks' packets then leave at its Flush, many per system call).
	// The Client does not close it.
	RTPConn RTPConn
	// Codecs are the codecs offered for every forked stream, in order of
	// preference; default PCMU/0 then PCMA/8. Forks transcode between them.
	Codecs []media.Codec
	// AnswerTimeout bounds the wait for each recording server's final answer
	// to an INVITE, re-INVITE or BYE; default DefaultAnswerTimeout. An
	// unanswered INVITE is cancelled (CANCEL) and reported as ErrNoAnswer.
	AnswerTimeout time.Duration
	// TLSConfig is used for sips: recording servers; nil means sipgo's
	// default (the system's roots).
	TLSConfig *tls.Config
	// SRTP says which recorders get SRTP; the zero value offers it to those
	// reached over TLS (sips: URIs, transport=tls). See ClientSRTPConfig.
	SRTP ClientSRTPConfig
	// Logger receives dialog events (recorders accepting, refusing, hanging
	// up) and sipgo's own logs; nil discards.
	Logger *slog.Logger
}

// RTPConn is the socket ClientConfig.RTPConn sends the forked streams
// from: *net.UDPConn and *media.BatchWriter implement it.
type RTPConn interface {
	media.PacketWriter
	LocalAddr() net.Addr
}

// Client is the SIP side of a recording client (SRC, RFC 7866): one SIP
// user agent, listening on one port, that opens, refreshes and ends the
// SIPREC dialogs of any number of calls. Each call gets a Manager
// (NewManager). A Client is safe for concurrent use.
//
// Licensing: a recorded call is one session. The Client and its Managers
// create SIP dialogs and RTP streams towards recording servers but expose
// no session count and call no limiter: nothing here counts against an
// account's licensed sessions (seed 003 FAQ).
type Client struct {
	cfg  ClientConfig
	log  *slog.Logger
	ua   *sipgo.UserAgent
	sc   *sipgo.Client
	srv  *sipgo.Server
	pc   net.PacketConn
	ln   net.Listener
	addr netip.AddrPort

	mu      sync.Mutex
	dialogs map[string]*dialog // by Call-ID
	closed  bool
	wg      sync.WaitGroup
	done    chan struct{} // closed by Close: background work gives up
}

// NewClient listens on cfg.ListenAddr (UDP and TCP) and returns a Client.
// Close releases it.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if !cfg.ListenAddr.Addr().IsValid() {
		cfg.ListenAddr = netip.AddrPortFrom(netip.IPv4Unspecified(), cfg.ListenAddr.Port())
	}
	if !cfg.Host.IsValid() && !cfg.ListenAddr.Addr().IsUnspecified() {
		cfg.Host = cfg.ListenAddr.Addr()
	}
	cfg.FromUser = cmp.Or(cfg.FromUser, DefaultFromUser)
	cfg.UserAgent = cmp.Or(cfg.UserAgent, DefaultUserAgent)
	cfg.AnswerTimeout = cmp.Or(cfg.AnswerTimeout, DefaultAnswerTimeout)
	if len(cfg.Codecs) == 0 {
		cfg.Codecs = []media.Codec{
			{PayloadType: media.PayloadTypePCMU, Encoding: media.EncodingPCMU, ClockRate: media.SampleRate},
			{PayloadType: media.PayloadTypePCMA, Encoding: media.EncodingPCMA, ClockRate: media.SampleRate},
		}
	}
	if cfg.SRTP.Suite == "" {
		cfg.SRTP.Suite = media.SuiteAESCM128HMACSHA1_80
	}
	if _, err := media.NewCrypto(1, cfg.SRTP.Suite); err != nil {
		return nil, fmt.Errorf("siprec: ClientConfig.SRTP.Suite: %w", err)
	}
	for _, c := range cfg.Codecs {
		if !c.Encoding.IsAudio() {
			return nil, fmt.Errorf("siprec: ClientConfig.Codecs: %v is not PCMU or PCMA", c)
		}
	}
	switch c := cfg.RTPConn.(type) { // a typed nil is no socket, as before RTPConn was an interface
	case *net.UDPConn:
		if c == nil {
			cfg.RTPConn = nil
		}
	case *media.BatchWriter:
		if c == nil {
			cfg.RTPConn = nil
		}
	}
	if cfg.RTPConn != nil {
		if _, ok := cfg.RTPConn.LocalAddr().(*net.UDPAddr); !ok {
			return nil, fmt.Errorf("siprec: ClientConfig.RTPConn: local address %v is not a UDP address", cfg.RTPConn.LocalAddr())
		}
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	log := cfg.Logger
	opts := []sipgo.UserAgentOption{
		sipgo.WithUserAgent(cfg.UserAgent),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(log)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(log)),
	}
	if r, ok := cfg.Resolver.(*net.Resolver); ok {
		opts = append(opts, sipgo.WithUserAgentDNSResolver(r))
	}
	if cfg.TLSConfig != nil {
		opts = append(opts, sipgo.WithUserAgenTLSConfig(cfg.TLSConfig))
	}
	ua, err := sipgo.NewUA(opts...)
	if err != nil {
		return nil, fmt.Errorf("siprec: client user agent: %w", err)
	}
	c := &Client{cfg: cfg, log: log, ua: ua, dialogs: map[string]*dialog{}, done: make(chan struct{})}
	if c.sc, err = sipgo.NewClient(ua, sipgo.WithClientLogger(log)); err == nil {
		c.srv, err = sipgo.NewServer(ua, sipgo.WithServerLogger(log))
	}
	if err == nil {
		c.pc, c.ln, err = listenUDPAndTCP(cfg.ListenAddr)
	}
	if err != nil {
		_ = ua.Close()
		return nil, fmt.Errorf("siprec: client: %w", err)
	}
	c.addr = netip.AddrPortFrom(cfg.ListenAddr.Addr(), uint16(c.pc.LocalAddr().(*net.UDPAddr).Port))
	c.srv.OnInvite(c.onInvite)
	c.srv.OnAck(c.onAck)
	c.srv.OnBye(c.onBye)
	c.srv.OnOptions(c.onOptions)
	c.srv.OnUpdate(c.onUpdate)
	c.srv.OnInfo(c.onOther)
	c.srv.OnNoRoute(c.onOther)
	c.wg.Add(2)
	go func() { defer c.wg.Done(); _ = c.srv.ServeUDP(c.pc) }()
	go func() { defer c.wg.Done(); _ = c.srv.ServeTCP(c.ln) }()
	return c, nil
}

// listenUDPAndTCP listens on one port for UDP and TCP; with port 0 it
// retries until the system's UDP port is free for TCP too.
func listenUDPAndTCP(addr netip.AddrPort) (net.PacketConn, net.Listener, error) {
	var lastErr error
	for range 50 {
		pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
		if err != nil {
			return nil, nil, err
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", net.JoinHostPort(addr.Addr().String(), strconv.Itoa(port)))
		if err == nil {
			return pc, ln, nil
		}
		_ = pc.Close()
		lastErr = err
		if addr.Port() != 0 {
			break
		}
	}
	return nil, nil, lastErr
}

// Addr returns the address the client listens on for SIP (UDP and TCP).
func (c *Client) Addr() netip.AddrPort { return c.addr }

// Close stops listening and releases the user agent. Dialogs still open are
// not ended: Stop every Manager first.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.done)
	c.mu.Unlock()
	err := errors.Join(c.pc.Close(), c.ln.Close())
	err = errors.Join(err, c.ua.Close())
	c.wg.Wait()
	return err
}

// background runs f in a goroutine that Close waits for; done is closed
// when the client closes.
func (c *Client) background(f func(done <-chan struct{})) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f(c.done)
	}()
}

// register adds d to the dialogs the client answers for.
func (c *Client) register(d *dialog) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClientClosed
	}
	c.dialogs[d.callID] = d
	return nil
}

func (c *Client) unregister(d *dialog) {
	c.mu.Lock()
	if c.dialogs[d.callID] == d {
		delete(c.dialogs, d.callID)
	}
	c.mu.Unlock()
}

// lookup returns the dialog an in-dialog request from a recording server
// belongs to: its Call-ID, our tag in To and the server's in From.
func (c *Client) lookup(req *sip.Request) *dialog {
	cid := req.CallID()
	if cid == nil {
		return nil
	}
	c.mu.Lock()
	d := c.dialogs[cid.Value()]
	c.mu.Unlock()
	if d == nil {
		return nil
	}
	if to := req.To(); to == nil || to.Params.GetOr("tag", "") != d.localTag {
		return nil
	}
	if from := req.From(); from == nil || from.Params.GetOr("tag", "") != d.remoteTagValue() {
		return nil
	}
	return d
}

// hostFor returns the address to advertise to a recorder at dst.
func (c *Client) hostFor(dst netip.AddrPort) (netip.Addr, error) {
	if c.cfg.Host.IsValid() {
		return c.cfg.Host, nil
	}
	// A connected UDP socket sends nothing but tells which local address
	// the system routes dst's traffic from.
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(dst))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("siprec: no route to %v: %w", dst, err)
	}
	defer conn.Close()
	return conn.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}

// rtpEndpoint returns a socket to send one forked stream from, and the
// port for its m= line; release frees it (nil for the shared RTPConn).
func (c *Client) rtpEndpoint() (w media.PacketWriter, port int, release func(), err error) {
	if c.cfg.RTPConn != nil {
		return c.cfg.RTPConn, c.cfg.RTPConn.LocalAddr().(*net.UDPAddr).Port, nil, nil // checked by NewClient
	}
	var ep *media.Endpoint
	if c.cfg.Ports != nil {
		ep, err = c.cfg.Ports.Allocate()
	} else {
		ep, err = media.Listen(c.cfg.ListenAddr.Addr())
	}
	if err != nil {
		return nil, 0, nil, err
	}
	return ep, ep.Port(), func() { _ = ep.Close() }, nil
}

// respond answers req, logging a failure to send.
func (c *Client) respond(req *sip.Request, tx sip.ServerTransaction, code int, reason string, body []byte, hdrs ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, body)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		c.log.Debug("siprec client: cannot send response", "code", code, "method", req.Method.String(), "error", err)
	}
}

// respondStateless sends a refusal that creates no state (481 for a
// dialog the Client does not know, 403 to an INVITE it does not take,
// 405) statelessly, once: such requests come from anyone, and over UDP a
// spoofed source must not get the answer retransmitted until an ACK that
// never comes.
func (c *Client) respondStateless(req *sip.Request, tx sip.ServerTransaction, code int, reason string, hdrs ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if err := vsip.RespondStateless(tx, res); err != nil {
		c.log.Debug("siprec client: cannot send response", "code", code, "method", req.Method.String(), "error", err)
	}
}

const allowMethods = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO"

func (c *Client) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if d := c.lookup(req); d != nil {
		d.onReInvite(req, tx)
		return
	}
	if to := req.To(); to != nil && to.Params.Has("tag") {
		c.respondStateless(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	// A recording client does not take calls (no SRS-initiated recording).
	c.respondStateless(req, tx, 403, "Forbidden")
}

func (c *Client) onUpdate(req *sip.Request, tx sip.ServerTransaction) {
	if d := c.lookup(req); d != nil {
		d.onUpdate(req, tx)
		return
	}
	c.respondStateless(req, tx, 481, "Call/Transaction Does Not Exist")
}

func (c *Client) onAck(req *sip.Request, _ sip.ServerTransaction) {
	if d := c.lookup(req); d != nil {
		d.onAck(req)
	}
}

func (c *Client) onBye(req *sip.Request, tx sip.ServerTransaction) {
	d := c.lookup(req)
	if d == nil {
		c.respondStateless(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	if !d.checkCSeq(req) {
		c.respond(req, tx, 500, "CSeq Out of Order", nil)
		return
	}
	c.respond(req, tx, 200, "OK", nil)
	d.endedByRemote()
}

func (c *Client) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	if d := c.lookup(req); d != nil {
		d.onOptions(req, tx)
		return
	}
	if to := req.To(); to != nil && to.Params.Has("tag") {
		c.respondStateless(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	// An out-of-dialog OPTIONS is a keep-alive ping: say what we do.
	c.respond(req, tx, 200, "OK", nil,
		sip.NewHeader("Allow", allowMethods),
		sip.NewHeader("Accept", ContentTypeSDP),
		sip.NewHeader("Supported", "siprec"))
}

func (c *Client) onOther(req *sip.Request, tx sip.ServerTransaction) {
	if req.IsAck() {
		return
	}
	if d := c.lookup(req); d != nil && req.Method == sip.INFO {
		if d.checkCSeq(req) {
			c.respond(req, tx, 200, "OK", nil)
		} else {
			c.respond(req, tx, 500, "CSeq Out of Order", nil)
		}
		return
	}
	if req.Method == sip.CANCEL {
		c.respondStateless(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	c.respondStateless(req, tx, 405, "Method Not Allowed", sip.NewHeader("Allow", allowMethods))
}

// noBuild keeps sipgo from adding headers: our requests are complete.
func noBuild(*sipgo.Client, *sip.Request) error { return nil }

// sipTransport maps a Target transport to sipgo's name.
func sipTransport(t string) string {
	switch t {
	case TransportTCP:
		return "TCP"
	case TransportTLS:
		return "TLS"
	}
	return "UDP"
}

// waitCtx returns ctx bounded by the answer timeout.
func (c *Client) waitCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.cfg.AnswerTimeout)
}
