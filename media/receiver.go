package media

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// ReceiverConfig configures a Receiver. The zero value works: it accepts
// PCMU/0, PCMA/8 and telephone-event/101 from the first source that sends
// 4 valid packets in a row, reorders up to 5 packets and discards what it
// decodes (statistics only). A server that answered an SDP offer sets
// Remote (and, for relaxed latching, Signalling).
type ReceiverConfig struct {
	// Remote is where the stream's RTP is expected from: the address and
	// port of the SDP offer's c= and m= lines (the offer's
	// Media.RTPAddr()). With the default LatchStrict, only packets from
	// exactly this address and port are accepted; every other packet is
	// dropped and counted in Stats.Strangers. Leave it unset only where no
	// SDP names the sender (a test, a client receiving whatever its peer
	// sends back): without a Remote there is nothing to check against, and
	// any source may latch (as with LatchAny). Receiver.SetRemote changes
	// it on a running Receiver (a re-INVITE that moved the remote).
	Remote netip.AddrPort

	// Signalling is the address the SIP request that offered the stream
	// came from (the INVITE's transport source, not its Via or Contact).
	// LatchRelaxed accepts RTP from any port of this address as well as
	// from Remote; the other modes ignore it.
	Signalling netip.Addr

	// Latching says which addresses may become the stream's source:
	// LatchStrict (the default), LatchRelaxed or LatchAny; see Latching.
	Latching Latching

	// LatchPackets is how many consecutive valid packets (a usable payload
	// type, from one address, no packet of another allowed address in
	// between) a source must send before it latches; default
	// DefaultLatchPackets (4), at most 64. The packets of the source that
	// latches are delivered, none is lost to the wait; a stream that
	// stops before LatchPackets packets is delivered when the Receiver
	// stops, if no other address competed.
	LatchPackets int

	// Handler receives the decoded audio, the gaps and the DTMF events; nil
	// discards them.
	Handler Handler

	// Codecs is the payload type table: packets of other payload types are
	// counted in Stats.Ignored and never latch the source. Default
	// DefaultCodecs(). Pass the Codecs of the negotiated m= line (the
	// answer's). SetCodecs changes it on a running Receiver.
	Codecs []Codec

	// ReorderDepth is how many packets may wait for a missing one before it
	// is declared lost; default 5. A negative value disables reordering:
	// packets are delivered as they come and a late one is dropped.
	ReorderDepth int

	// ReorderWait is how long a packet may wait for a missing predecessor
	// before it is declared lost, even when fewer than ReorderDepth packets
	// wait; default ReorderDepth × 20 ms.
	ReorderWait time.Duration

	// MaxTimestampSkew bounds how far the RTP timestamp may disagree with
	// the arrival time before the arrival time wins (see Gap and
	// GapResync); default 1 s. A sender that resets its clock, or stops it
	// during a pause, then gives a gap of the wall-clock time that passed,
	// not of what its timestamps claim. It also bounds the timeline as a
	// whole: no packet is placed more than MaxTimestampSkew ahead of its
	// arrival time (counted from the arrival of the timeline's first
	// sample), whatever its timestamp says; what would be is dropped and
	// counted in Stats.Ahead and Stats.AheadSamples.
	MaxTimestampSkew time.Duration

	// Now returns the arrival time of a packet; default time.Now. Tests and
	// simulations set it to make arrival-time rules deterministic.
	Now func() time.Time

	// Logger receives source latching and changes (Info) and the first
	// dropped packet of each kind (Debug); nil discards.
	Logger *slog.Logger

	// Poller, when set, receives the stream on one of the Poller's workers
	// instead of in the goroutine running Run; the Handler is then called
	// from that worker (see Poller). Default nil: Run reads the socket.
	Poller *Poller

	// SRTP, when set, makes the stream SRTP (RFC 3711): every packet is
	// authenticated and decrypted with this context, made from the
	// remote's a=crypto line, before anything else looks at it; forged,
	// replayed and expired-key packets are dropped and counted in Stats
	// (AuthFailures, Replayed, KeyExpired) and never latch the source.
	// The context belongs to this Receiver from now on. Default nil:
	// plain RTP.
	SRTP *SRTPContext
}

// rtpBufSize is the largest datagram read; longer ones are truncated (and
// are not RTP this package can use).
const rtpBufSize = 2048

// Receiver receives one RTP stream (RFC 3550) on an Endpoint: it latches a
// source the Latching mode allows (by default only the SDP's Remote) once it
// sent LatchPackets valid packets in a row, drops packets from other
// addresses, follows SSRC
// changes and sequence wrap-around, reorders and removes duplicates, decodes
// G.711 to PCM, decodes RFC 4733 DTMF, and delivers audio, gaps and events
// on a continuous per-stream sample timeline to its Handler.
//
// The per-packet path does not allocate once buffers have grown to the
// stream's packet size.
//
// Typical use:
//
//	ep, err := pool.Allocate()            // port for the SDP answer
//	rx, err := media.NewReceiver(ep, media.ReceiverConfig{Handler: h, Codecs: answer.Media[i].Codecs})
//	go rx.Run(ctx)
//	...
//	rx.Close()                            // stops Run, flushes, frees the port
type Receiver struct {
	ep  *Endpoint
	s   *stream // owned by the goroutine in Run, or by the Poller's worker while registered
	now func() time.Time
	// sysClock: now is time.Now, so a Poller may stamp a batch of
	// datagrams with one reading.
	sysClock bool
	buf      []byte // read buffer without a Poller, made by the first Run
	poller   *Poller
	polled   bool          // the Poller's workers read the socket
	wake     chan struct{} // with a Poller: ends Run's wait (Close, a failed socket)
	ps       pollState     // registration with the Poller; guarded by the worker's mu

	ctl      atomic.Bool // control changes are pending
	stopping atomic.Bool

	mu        sync.Mutex
	snap      Stats
	newCodecs []Codec
	hasCodecs bool
	relatch   bool
	newRemote netip.AddrPort
	hasRemote bool
	running   bool
	gen       int // counts Runs, so a late cancellation stops only its own
	closed    bool
	done      chan struct{}
}

// NewReceiver returns a Receiver reading from ep, which it owns from now on:
// Close closes it. Call Run to start receiving.
func NewReceiver(ep *Endpoint, cfg ReceiverConfig) (*Receiver, error) {
	if ep == nil {
		return nil, fmt.Errorf("%w: nil Endpoint", ErrInvalidConfig)
	}
	sc, codecs, err := resolveConfig(cfg)
	if err != nil {
		return nil, err
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	if cfg.SRTP != nil {
		if err := cfg.SRTP.claim(); err != nil {
			return nil, err
		}
	}
	r := &Receiver{ep: ep, s: newStream(sc, codecs), now: now, sysClock: cfg.Now == nil, poller: cfg.Poller}
	if r.poller != nil && r.poller.native() {
		r.polled = true
		r.wake = make(chan struct{}, 1)
	}
	return r, nil
}

func resolveConfig(cfg ReceiverConfig) (streamConfig, []Codec, error) {
	sc := streamConfig{handler: cfg.Handler, log: logger(cfg.Logger), srtp: cfg.SRTP}
	if sc.handler == nil {
		sc.handler = HandlerFuncs{}
	}
	switch {
	case cfg.ReorderDepth == 0:
		sc.depth = 5
	case cfg.ReorderDepth < 0:
		sc.depth = 0
	case cfg.ReorderDepth > 1024:
		return sc, nil, fmt.Errorf("%w: ReorderDepth %d is over 1024", ErrInvalidConfig, cfg.ReorderDepth)
	default:
		sc.depth = cfg.ReorderDepth
	}
	sc.wait = cfg.ReorderWait
	if sc.wait <= 0 {
		sc.wait = time.Duration(max(sc.depth, 1)) * 20 * time.Millisecond
	}
	sc.skew = cfg.MaxTimestampSkew
	if sc.skew <= 0 {
		sc.skew = time.Second
	}
	if cfg.Latching > LatchAny {
		return sc, nil, fmt.Errorf("%w: Latching %d", ErrInvalidConfig, uint8(cfg.Latching))
	}
	sc.latch = latchConfig{mode: cfg.Latching, remote: unmapAddrPort(cfg.Remote), signalling: cfg.Signalling.Unmap(), need: cfg.LatchPackets}
	switch {
	case cfg.LatchPackets == 0:
		sc.latch.need = DefaultLatchPackets
	case cfg.LatchPackets < 0 || cfg.LatchPackets > maxLatchPackets:
		return sc, nil, fmt.Errorf("%w: LatchPackets %d (want 1 to %d)", ErrInvalidConfig, cfg.LatchPackets, maxLatchPackets)
	}
	codecs := cfg.Codecs
	if len(codecs) == 0 {
		codecs = DefaultCodecs()
	}
	return sc, codecs, nil
}

// LocalAddr returns the address the Receiver listens on.
func (r *Receiver) LocalAddr() netip.AddrPort { return r.ep.LocalAddr() }

// Stats returns the stream's statistics as of the last packet processed;
// on a Poller whose datagrams are steered (PollerConfig.Steering), as of at
// most 100 ms ago while packets keep coming (the counters are published
// once per 100 ms, not after each packet), and of the last packet 100 ms
// after it. When Run has returned they are final.
// It is safe to call at any time, from any goroutine, including a Handler.
func (r *Receiver) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.snap
}

// SetCodecs replaces the payload type table, for instance after a
// re-INVITE changed the codecs. It takes effect before the next packet.
func (r *Receiver) SetCodecs(codecs []Codec) {
	r.mu.Lock()
	r.newCodecs = append([]Codec(nil), codecs...)
	r.hasCodecs = true
	r.mu.Unlock()
	r.ctl.Store(true)
}

// Relatch forgets the latched source address: the next source allowed by
// the Latching mode that sends LatchPackets valid packets in a row becomes
// the source. A new address with the same SSRC continues the stream
// seamlessly; a new SSRC is a source change. When a re-INVITE changed the
// remote address or port, call SetRemote instead, which also changes what
// LatchStrict accepts.
func (r *Receiver) Relatch() {
	r.mu.Lock()
	r.relatch = true
	r.mu.Unlock()
	r.ctl.Store(true)
}

// SetRemote changes the address and port the RTP is expected from
// (ReceiverConfig.Remote) and relatches: call it when a re-INVITE's offer
// gave another c= address or m= port. It takes effect before the next
// packet; from then on the old address is a stranger.
func (r *Receiver) SetRemote(remote netip.AddrPort) {
	r.mu.Lock()
	r.newRemote, r.hasRemote = remote, true
	r.mu.Unlock()
	r.ctl.Store(true)
}

// Run reads and processes packets until ctx is done or Close is called, then
// delivers what is still pending (packets held for reordering, an unfinished
// DTMF event) and returns nil. It returns another error only when reading
// the socket fails, or when the Receiver's Poller was closed (an error
// wrapping ErrClosed). Handler methods are called from Run's goroutine, or
// from a worker of ReceiverConfig.Poller. Run may be called again after it
// returned; it returns ErrRunning while running and ErrClosed after Close.
//
// Datagrams that reach the socket before Run takes it over wait there, up
// to the socket's receive buffer (about 255 packets of G.711); with a
// Poller they are read once the worker has the socket. A caller that gives
// the Receiver's port to a peer (in an SDP answer) should do so once it is
// read: see RunReady.
func (r *Receiver) Run(ctx context.Context) error { return r.RunReady(ctx, nil) }

// RunReady is Run that calls ready (when not nil) once the Receiver reads
// its socket: with a Poller, once a worker has the socket and, when the
// Poller steers, the stream's port is steered to the worker's shared
// socket; without one, when Run's goroutine starts reading. ready is called
// exactly once, from Run's goroutine, also when Run returns without getting
// there (an error, ErrRunning, ErrClosed). A server that starts its
// Receivers with RunReady in goroutines and waits for ready before sending
// the SDP answer that gives their ports has every datagram of the peer
// read from the first, none waiting in a socket that nothing reads yet
// (which overflows when the registration comes late, and whose datagrams
// would be read after later ones). ready must not block, nor call the
// Receiver's methods other than Stats.
func (r *Receiver) RunReady(ctx context.Context, ready func()) error {
	if ready != nil {
		called := false
		once := func() {
			if !called {
				called = true
				ready()
			}
		}
		defer once()
		return r.run(ctx, once)
	}
	return r.run(ctx, func() {})
}

func (r *Receiver) run(ctx context.Context, ready func()) error {
	r.mu.Lock()
	switch {
	case r.closed:
		r.mu.Unlock()
		return ErrClosed
	case r.running:
		r.mu.Unlock()
		return ErrRunning
	}
	r.running = true
	r.gen++
	gen := r.gen
	r.done = make(chan struct{})
	r.stopping.Store(false)
	if r.polled {
		select { // a wake-up left from an earlier Run
		case <-r.wake:
		default:
		}
	}
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.running = false
		close(r.done)
		r.mu.Unlock()
	}()
	if r.polled {
		return r.runPolled(ctx, ready)
	}
	stop := context.AfterFunc(ctx, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.running && r.gen == gen { // not a later Run
			r.interrupt()
		}
	})
	defer stop()
	ready()
	return r.runSocket()
}

// runSocket is Run without a Poller: this goroutine reads the socket.
func (r *Receiver) runSocket() error {
	if r.buf == nil {
		r.buf = make([]byte, rtpBufSize)
	}
	conn := r.ep.rtp
	var armed time.Time // read deadline currently set
	rearm := true
	var err error
	for {
		var dl time.Time
		if due := r.s.due(); !due.IsZero() {
			dl = time.Now().Add(due.Sub(r.now()))
		}
		if rearm || !dl.Equal(armed) {
			_ = conn.SetReadDeadline(dl)
			armed, rearm = dl, false
		}
		if r.stopping.Load() {
			break
		}
		n, from, rerr := conn.ReadFromUDPAddrPort(r.buf)
		if rerr != nil {
			if r.stopping.Load() {
				break
			}
			var ne net.Error
			if errors.As(rerr, &ne) && ne.Timeout() {
				r.s.expire(r.now())
				r.publish()
				rearm = true
				continue
			}
			if !errors.Is(rerr, net.ErrClosed) {
				err = fmt.Errorf("media: reading RTP on %v: %w", r.ep.LocalAddr(), rerr)
			}
			break
		}
		if r.ctl.Load() {
			r.applyControl()
		}
		r.s.process(r.buf[:n], netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), r.now())
		r.publish()
	}
	r.s.flush()
	r.publish()
	return err
}

// runPolled is Run with a Poller: a worker reads the socket and processes
// the packets while this goroutine waits for the end.
func (r *Receiver) runPolled(ctx context.Context, ready func()) error {
	if ok, err := r.poller.register(r); !ok {
		r.s.flush()
		r.publish()
		return err
	}
	ready()
	select {
	case <-ctx.Done():
	case <-r.wake:
	}
	err := r.poller.deregister(r)
	if errors.Is(err, ErrClosed) && (ctx.Err() != nil || r.stopping.Load()) {
		err = nil // asked to stop before the Poller's Close reached this Receiver
	}
	r.s.flush()
	r.publish()
	return err
}

// interrupt makes a blocked read (or a polled Run's wait) return.
func (r *Receiver) interrupt() {
	r.stopping.Store(true)
	if r.polled {
		r.wakeRun()
		return
	}
	_ = r.ep.rtp.SetReadDeadline(time.Unix(1, 0))
}

// wakeRun ends the wait of a polled Run.
func (r *Receiver) wakeRun() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *Receiver) applyControl() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ctl.Store(false)
	if r.hasCodecs {
		r.s.setCodecs(r.newCodecs)
		r.hasCodecs, r.newCodecs = false, nil
	}
	if r.hasRemote {
		r.s.setRemote(r.newRemote)
		r.hasRemote, r.relatch = false, false
	}
	if r.relatch {
		r.s.relatch()
		r.relatch = false
	}
}

func (r *Receiver) publish() {
	st := r.s.stats()
	r.mu.Lock()
	r.snap = st
	r.mu.Unlock()
}

// Close stops Run (waiting for it to deliver what is pending and return)
// and closes the Endpoint, which returns its ports to the pool. It is safe
// to call more than once, but not from a Handler (with a Poller: not from
// the Handler of any Receiver on the same Poller).
func (r *Receiver) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	running, done := r.running, r.done
	r.mu.Unlock()
	if running {
		r.interrupt()
		<-done
	}
	return r.ep.Close()
}
