package sip

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"
)

// PacketConnConfig configures a PacketConn. The zero value works.
type PacketConnConfig struct {
	// Allow decides whether a datagram's source address may reach sipgo;
	// a refused one is dropped unanswered before sipgo parses it (see
	// ListenerConfig.Allow). Default nil: every address.
	Allow func(netip.Addr) bool
	// MaxMessageSize is the largest datagram handed to sipgo. A larger
	// one, or one larger than the buffer sipgo reads into (its
	// TransportBufferReadSize, 32 KiB unless the program raises it), is
	// answered 513 Message Too Large, when it is a request, and dropped:
	// sipgo would get it cut and log it as unparsable. Default
	// DefaultMaxMessageSize (65,535, above the largest UDP payload).
	MaxMessageSize int
	// LogInterval is the least time between two log lines of one kind.
	// Default DefaultLogInterval (1 minute).
	LogInterval time.Duration
	// Logger receives the PacketConn's lines. Nil discards.
	Logger *slog.Logger
	// OnEvent, when set, is called for every refused or too large
	// datagram (EventRefused, EventTooLarge), on sipgo's reading
	// goroutine: count, do not block. Default nil.
	OnEvent func(TransportEvent)
	// Guard, when set, is the fast path of the Guard that wraps the
	// server's handlers: the requests it answers without a handler and
	// without state are answered here, on the reading goroutine, before
	// sipgo parses them — a request without credentials gets its
	// challenge (401 or 407), one from a blocked source, for an unknown
	// realm or from outside its tenant's allowlist its 403, and the ACK of
	// such an answer is dropped. The answers are those Guard.Wrap sends
	// (the same headers, To tag, nonce binding, amplification bound,
	// decisions and log lines), built from the datagram without sipgo's
	// parser, its transaction layer or a goroutine, and without allocating
	// on the challenge path. Everything else reaches sipgo and the Guard
	// in front of the handlers as before: answers to verify, in-dialog
	// requests, ACK and CANCEL, methods and tenants that pass without
	// digest, a GuardConfig.Realm of the caller's, a failing tenant
	// lookup, and anything the fast path does not read (folded lines, a
	// header it needs written twice, a top Via not over UDP…). The Guard's
	// TenantLookup and OnDecision then also run on the reading goroutine:
	// they must not block (Tenants and SingleTenant do not); with
	// OnDecision set, the datagrams answered here are parsed by sipgo for
	// it. Default nil: every datagram goes to sipgo.
	Guard *Guard
	// Stateless maps request methods to handlers that answer statelessly
	// (RFC 3261 §8.2.7): a request of one of these methods is parsed (by
	// sipgo's parser) and handled on a reading goroutine, with a server
	// transaction that keeps no state: Respond sends the answer once to
	// where sipgo would (RespondStateless does the same), Acks never
	// yields, the transaction is done at once. Answers the reader queued
	// before (the Guard fast path's, on Linux) are sent before a handler
	// runs, and a handler's answers are sent at once unless
	// BatchStateless is set. sipgo's transaction layer,
	// its goroutine per request and its timers are not involved; a
	// retransmitted request is handled again (the Guard marks one it
	// accepted before Identity.Retransmission). For requests answered at
	// once and never ACKed: REGISTER, OPTIONS, a registrar's or a
	// keepalive's; never INVITE. Give it the same handlers the sipgo server
	// has for TCP, Guard.Wrap included. The handlers' context is done when
	// the PacketConn is closed. Default nil.
	Stateless map[sipgosip.RequestMethod]Handler
	// BatchStateless promises that the Stateless handlers never block
	// (no I/O, no wait on anything that waits on I/O: a registrar's
	// in-memory bindings): on Linux the answers they give while they run
	// then leave with the other answers of the reader's batch of
	// datagrams, in one system call, before the reader reads again —
	// fewer system calls per answer under load — and Respond reports only
	// the errors it can see before sending (size, address family); a
	// refusal by the kernel is logged at Debug. A handler that blocks
	// anyway delays the answers queued after its own in the batch (its
	// own, and the fast path's to other sources) until it returns: an
	// attacker whose request makes it block delays other clients'
	// answers. A provisional answer is sent at once when the handler
	// returns without a final one (a final answer from another goroutine
	// must not overtake it). Default false: each handler's answer is sent
	// at once, and what the reader queued is sent before a handler runs.
	BatchStateless bool
	// Readers is how many goroutines read the socket when Guard or
	// Stateless is set: each reads a datagram, answers it when the fast
	// path or a stateless handler takes it (as Kamailio's UDP workers do),
	// and hands the rest to sipgo. Reads of one socket take turns (Go
	// serializes them), so more readers overlap one's reading with the
	// others' work at the price of a hand-over between them per datagram:
	// measured with the registrar, one reader cost the least CPU per
	// registration. A handler that blocks (a tenant checked by webhook)
	// holds its reader meanwhile: give such servers more; so does a
	// machine shared with busy processes, where the kernel gives each
	// thread its share of the cores and one reader gets one share.
	// Default 1.
	Readers int
}

// PacketConnStats counts what a PacketConn did since it was made.
type PacketConnStats struct {
	// Passed is the datagrams handed to sipgo.
	Passed uint64
	// Refused is the datagrams dropped for their source (Allow).
	Refused uint64
	// TooLarge is the datagrams over the size limit (answered 513 when
	// they were requests).
	TooLarge uint64
	// Answered is the datagrams the Guard's fast path answered or dropped
	// (PacketConnConfig.Guard) before sipgo.
	Answered uint64
	// Handled is the requests given to a Stateless handler.
	Handled uint64
}

// PacketConn is a net.PacketConn for SIP over UDP in front of sipgo
// (sipgo.Server.ServeUDP): it drops datagrams from sources Allow refuses
// before sipgo parses them, and answers datagrams over the size limit
// with 513 instead of handing sipgo a cut message. Writes go through
// unchanged. Without Guard and Stateless, reading allocates no more than
// the wrapped connection's ReadFrom does; with either, Readers goroutines
// read the socket, answer what those take, and queue the rest for sipgo's
// ReadFrom.
type PacketConn struct {
	net.PacketConn
	cfg    PacketConnConfig
	log    *slog.Logger
	parser *sipgosip.Parser
	cutLog logEvery

	passed, refused, tooLarge, answered, handled atomic.Uint64
	bufs                                         sync.Pool // *[]byte for answers and queued datagrams

	// readers mode (Guard or Stateless set)
	readers  bool
	queue    chan queued
	done     chan struct{} // closed when the readers stop
	doneOnce sync.Once
	readErr  error // why they stopped, set before done is closed
	ctx      context.Context
	cancel   context.CancelFunc
	over     chan struct{} // closed: the Done of every stateless transaction
	udp      *net.UDPConn  // the wrapped connection when it is one
	kernel   *kernelSocket // readers blocking in the kernel (Linux), or nil
}

// readerYieldInterval is how often a reader blocking in the kernel
// yields to the scheduler (kernelReader.recv): under sysmon's 10 ms time
// slice with room for one blocking read and one batch's work. Each
// yield costs a thread wake-up and sleep (Gosched wakes an idle
// processor's thread, which may take the reader over): 5.7% of the
// registrar's CPU at 4,000 registrations/s when it was 2 ms
// (BENCHMARKS.md).
const readerYieldInterval = 5 * time.Millisecond

// queued is a datagram a reader hands to sipgo.
type queued struct {
	buf *[]byte
	src netip.AddrPort
}

// NewPacketConn wraps pc. With Guard or Stateless set and pc a
// *net.UDPConn on Linux, the PacketConn takes pc's socket over: it reads
// and writes a duplicate of its descriptor (readers blocking in the
// kernel) and closes pc, which takes the socket out of Go's network
// poller (left there, every datagram would wake an idle thread for
// nothing). Use the PacketConn from then on: its ReadFrom, WriteTo,
// LocalAddr and Close work as pc's did; pc's other methods (deadlines,
// buffer sizes) fail as on a closed connection, so set socket options
// before.
func NewPacketConn(pc net.PacketConn, cfg PacketConnConfig) *PacketConn {
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = DefaultMaxMessageSize
	}
	if cfg.LogInterval <= 0 {
		cfg.LogInterval = DefaultLogInterval
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &PacketConn{PacketConn: pc, cfg: cfg, log: log, parser: sipgosip.NewParser(), cutLog: logEvery{interval: cfg.LogInterval}}
	if cfg.Guard != nil || len(cfg.Stateless) > 0 {
		if p.cfg.Readers <= 0 {
			p.cfg.Readers = 1
		}
		p.readers = true
		p.queue = make(chan queued, 256)
		p.done = make(chan struct{})
		p.ctx, p.cancel = context.WithCancel(context.Background())
		p.over = make(chan struct{})
		close(p.over)
		p.udp, _ = pc.(*net.UDPConn)
		if p.udp != nil {
			p.kernel = newKernelSocket(p.udp, p.cfg.Readers)
		}
		for range p.cfg.Readers {
			go p.read()
		}
	}
	return p
}

// Stats returns the PacketConn's counts.
func (p *PacketConn) Stats() PacketConnStats {
	return PacketConnStats{Passed: p.passed.Load(), Refused: p.refused.Load(), TooLarge: p.tooLarge.Load(),
		Answered: p.answered.Load(), Handled: p.handled.Load()}
}

// ReadFrom returns the next datagram that passes Allow and the size
// limit (and, with Guard or Stateless, that they leave to sipgo).
func (p *PacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	if p.readers {
		return p.readQueued(b)
	}
	u, isUDP := p.PacketConn.(*net.UDPConn)
	for {
		var (
			n   int
			src netip.AddrPort
			cut bool
			err error
			a   net.Addr
		)
		if isUDP {
			var flags int
			n, _, flags, src, err = u.ReadMsgUDPAddrPort(b, nil)
			cut = flags&msgTrunc != 0
		} else {
			n, a, err = p.PacketConn.ReadFrom(b)
			src = addrPortOf(a)
			cut = n == len(b) // cannot tell: a full buffer may hold a cut datagram
		}
		if err != nil {
			if a == nil && src.IsValid() {
				a = net.UDPAddrFromAddrPort(src)
			}
			return n, a, err
		}
		from := netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		if p.cfg.Allow != nil && !p.cfg.Allow(from.Addr()) {
			p.refused.Add(1)
			if p.cfg.OnEvent != nil {
				p.cfg.OnEvent(TransportEvent{Kind: EventRefused, Remote: from})
			}
			continue
		}
		if cut || n > p.cfg.MaxMessageSize {
			p.refuseTooLarge(b[:n], src, from, cut, len(b))
			continue
		}
		p.passed.Add(1)
		if a == nil {
			a = net.UDPAddrFromAddrPort(src)
		}
		return n, a, nil
	}
}

// WriteTo sends b to addr: through the wrapped connection, or, when the
// PacketConn took its socket over (readers on Linux), through the
// PacketConn's own descriptor.
func (p *PacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if p.kernel == nil {
		return p.PacketConn.WriteTo(b, addr)
	}
	dst := addrPortOf(addr)
	if !dst.IsValid() {
		return 0, &net.OpError{Op: "write", Net: "udp", Addr: addr, Err: net.InvalidAddrError("not a UDP address")}
	}
	if err := p.kernel.send(b, dst); err != nil {
		return 0, err
	}
	return len(b), nil
}

// Close closes the connection; with Guard or Stateless, the readers stop
// and the stateless handlers' context is done.
func (p *PacketConn) Close() error {
	if p.cancel != nil {
		p.cancel()
	}
	if p.kernel != nil {
		// the wrapped connection is closed already (newKernelSocket)
		if !p.kernel.close() {
			return &net.OpError{Op: "close", Net: "udp", Err: net.ErrClosed}
		}
		return nil
	}
	return p.PacketConn.Close()
}

// readQueued is ReadFrom in readers mode: the next datagram a reader
// queued for sipgo.
func (p *PacketConn) readQueued(b []byte) (int, net.Addr, error) {
	for {
		select {
		case q := <-p.queue:
			data := *q.buf
			if len(data) > len(b) {
				// larger than sipgo's buffer: it would get it cut
				from := netip.AddrPortFrom(q.src.Addr().Unmap(), q.src.Port())
				p.refuseTooLarge(data, q.src, from, true, len(b))
				p.putBuf(q.buf)
				continue
			}
			n := copy(b, data)
			p.putBuf(q.buf)
			p.passed.Add(1)
			return n, net.UDPAddrFromAddrPort(q.src), nil
		case <-p.done:
			return 0, nil, p.readErr
		}
	}
}

// read is one reader: it reads datagrams until the socket fails, answers
// those the fast path and the stateless handlers take, and queues the
// rest for sipgo.
func (p *PacketConn) read() {
	if p.kernel != nil {
		defer p.kernel.readerDone()
	}
	var (
		buf []byte
		kr  *kernelReader
	)
	if p.kernel != nil {
		kr = p.kernel.newReader()
	} else {
		buf = make([]byte, 65536)
	}
	bufSize := len(buf)
	if kr != nil {
		bufSize = kernelSlot
	}
	for {
		data, src, err := p.readDatagram(buf, kr)
		if err != nil {
			p.doneOnce.Do(func() {
				p.readErr = err
				close(p.done)
			})
			return
		}
		if kr != nil {
			if n, err := kr.sendFailures(); n > 0 {
				p.log.Debug("sending answers failed", "answers", n, "error", err)
			}
		}
		from := netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		if p.cfg.Allow != nil && !p.cfg.Allow(from.Addr()) {
			p.refused.Add(1)
			if p.cfg.OnEvent != nil {
				p.cfg.OnEvent(TransportEvent{Kind: EventRefused, Remote: from})
			}
			continue
		}
		if len(data) > p.cfg.MaxMessageSize {
			p.refuseTooLarge(data, src, from, false, bufSize)
			continue
		}
		if p.cfg.Guard != nil && p.answerFast(data, src, kr) {
			continue
		}
		if h := p.statelessHandler(data); h != nil {
			p.handleStateless(h, data, src, kr)
			continue
		}
		q := queued{buf: p.getBuf(len(data)), src: src}
		*q.buf = append((*q.buf)[:0], data...)
		select {
		case p.queue <- q:
			continue
		default:
		}
		// sipgo is behind: the answers queued so far leave before the
		// reader waits for it
		if kr != nil {
			kr.flush()
		}
		select {
		case p.queue <- q:
		case <-p.done:
			if kr != nil {
				kr.flush()
			}
			return
		}
	}
}

// readDatagram reads the next datagram for a reader: from its batch
// read in the kernel (Linux: kr), or through Go's network poller into buf.
func (p *PacketConn) readDatagram(buf []byte, kr *kernelReader) ([]byte, netip.AddrPort, error) {
	switch {
	case kr != nil:
		return kr.recv()
	case p.udp != nil:
		n, _, _, src, err := p.udp.ReadMsgUDPAddrPort(buf, nil)
		return buf[:n], src, err
	default:
		n, a, err := p.PacketConn.ReadFrom(buf)
		return buf[:n], addrPortOf(a), err
	}
}

func (p *PacketConn) getBuf(n int) *[]byte {
	bp, _ := p.bufs.Get().(*[]byte)
	if bp == nil {
		b := make([]byte, 0, max(n, 2048))
		bp = &b
	}
	return bp
}

func (p *PacketConn) putBuf(bp *[]byte) {
	if cap(*bp) <= 64<<10 {
		p.bufs.Put(bp)
	}
}

// answerFast lets the Guard answer data from src (PacketConnConfig.Guard)
// and reports whether it did. It counts the datagram in Stats.Answered
// before the answer leaves, so a peer that has the answer sees it counted.
// With kr, the answer leaves with the others of kr's batch (answer).
func (p *PacketConn) answerFast(data []byte, src netip.AddrPort, kr *kernelReader) bool {
	bp := p.getBuf(0)
	defer p.putBuf(bp)
	ans := p.cfg.Guard.answerRaw(p.ctx, data, src, (*bp)[:0], p.parseForDecision)
	if !ans.handled {
		return false
	}
	p.answered.Add(1)
	if ans.msg != nil {
		*bp = ans.msg[:0] // keep a buffer grown for a large answer
		if err := p.answer(kr, ans.msg, ans.dst); err != nil {
			p.log.Debug("sending the guard's answer failed", "to", ans.dst.String(), "error", err)
		}
	}
	return true
}

// answer sends msg, an answer a reader made, to dst: with kr (a reader
// blocking in the kernel), queued to leave with the other answers of its
// batch when the batch is spent, one sendmmsg(2) for them all; else at
// once.
func (p *PacketConn) answer(kr *kernelReader, msg []byte, dst netip.AddrPort) error {
	if kr != nil {
		return kr.queue(msg, dst)
	}
	return p.writeTo(msg, dst)
}

func (p *PacketConn) writeTo(msg []byte, dst netip.AddrPort) error {
	var err error
	switch {
	case p.kernel != nil:
		err = p.kernel.send(msg, dst)
	case p.udp != nil:
		_, err = p.udp.WriteToUDPAddrPort(msg, dst)
	default:
		_, err = p.PacketConn.WriteTo(msg, net.UDPAddrFromAddrPort(dst))
	}
	return err
}

// statelessHandler returns the Stateless handler of the request in data,
// by its method, or nil.
func (p *PacketConn) statelessHandler(data []byte) Handler {
	if len(p.cfg.Stateless) == 0 {
		return nil
	}
	sp := bytes.IndexByte(data, ' ')
	if sp <= 0 || sp > 16 {
		return nil
	}
	m := knownMethod(data[:sp])
	if m == "" {
		return nil
	}
	return p.cfg.Stateless[m]
}

// handleStateless parses data and runs h with a stateless transaction;
// what h answers before it returns leaves with the other answers of kr's
// batch (answer).
func (p *PacketConn) handleStateless(h Handler, data []byte, src netip.AddrPort, kr *kernelReader) {
	msg, err := p.parser.ParseSIP(data)
	req, ok := msg.(*sipgosip.Request)
	if err != nil || !ok {
		p.log.Debug("a request for a stateless handler does not parse", "source", src.String(), "error", err)
		return
	}
	req.SetTransport("UDP")
	req.SetSource(netip.AddrPortFrom(src.Addr().Unmap(), src.Port()).String())
	p.handled.Add(1)
	tx := &statelessTx{p: p, req: req, src: src}
	if kr != nil {
		if p.cfg.BatchStateless {
			tx.kr = kr
		} else {
			kr.flush() // h may block: what the reader queued leaves first
		}
	}
	h(p.ctx, req, tx)
	if tx.kr != nil {
		// an answer given later (from another goroutine) is sent at once;
		// a provisional one queued goes first, so that it is not overtaken
		tx.mu.Lock()
		tx.kr = nil
		provisional := tx.queued && !tx.final
		tx.mu.Unlock()
		if provisional {
			kr.flush()
		}
	}
}

// parseForDecision parses a datagram the fast path answered, for
// GuardConfig.OnDecision.
func (p *PacketConn) parseForDecision(data []byte) *sipgosip.Request {
	msg, err := p.parser.ParseSIP(data)
	if err != nil {
		return nil
	}
	req, _ := msg.(*sipgosip.Request)
	return req
}

// refuseTooLarge answers a datagram over the limit (data is all of it, or
// its first len(buffer) bytes when cut) with 513, to its source.
func (p *PacketConn) refuseTooLarge(data []byte, to, from netip.AddrPort, cut bool, buffer int) {
	p.tooLarge.Add(1)
	if p.cfg.OnEvent != nil {
		p.cfg.OnEvent(TransportEvent{Kind: EventTooLarge, Remote: from})
	}
	if n, ok := p.cutLog.due(time.Now()); ok {
		if cut && buffer < p.cfg.MaxMessageSize {
			p.log.Warn("refused a datagram larger than sipgo's read buffer with 513, below the configured limit: a program raises it with sipgosip.TransportBufferReadSize = 65535",
				"buffer", buffer, "max_message_size", p.cfg.MaxMessageSize, "source", from.String(), "refused_since_last_line", n)
		} else {
			p.log.Info("refused a datagram over the size limit with 513", "max_message_size", p.cfg.MaxMessageSize, "source", from.String(), "refused_since_last_line", n)
		}
	}
	if res := tooLargeReply(p.parser, data, from, "UDP"); res != nil {
		_ = p.writeTo(res, to)
	}
}
