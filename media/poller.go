package media

import (
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"
)

// PollerConfig configures a Poller. The zero value works: one worker per
// GOMAXPROCS, one round per millisecond under load, one datagram read per
// system call.
type PollerConfig struct {
	// Workers is the number of goroutines that read the sockets and run
	// the Receivers' per-packet processing; each Receiver is served by one
	// of them, the least loaded when its Run starts. Default
	// runtime.GOMAXPROCS(0) when NewPoller is called; at most 1024.
	Workers int

	// RoundInterval is how often a busy worker takes the packets that
	// arrived: after a round it sleeps out the rest of the interval, so
	// that the next round takes many sockets at once and the cost of
	// waiting is paid per round, not per packet. A packet waits up to this
	// long in its socket (its Arrival is when it was read), which adds as
	// much to the interarrival jitter the statistics report (RFC 3550 §6.4.1
	// measures arrival times). Default 1 ms; negative: no pause, each round
	// right after the previous one (lowest latency, most CPU per packet).
	RoundInterval time.Duration

	// Batch is the most datagrams read from one socket in one system call:
	// 1 (the default) reads with recvfrom, more with recvmmsg; at most 64.
	// A 20 ms stream rarely has more than one packet waiting, and a
	// recvmmsg that finds one costs more than a recvfrom; a larger batch
	// helps streams that arrive in bursts. A read that fills the batch is
	// followed by another, up to 64 datagrams per socket per round (with a
	// batch of one, only when the previous round read the socket too: a
	// burst's first packet is read in one round, the rest in the next);
	// more are read in the next round.
	Batch int

	// Steering says whether the workers receive their Receivers' RTP
	// through one socket each, to which the kernel steers the datagrams of
	// every stream's port (see Steering). Default SteerAuto: when the
	// process may.
	Steering Steering

	// Logger receives failures of the workers (Warn) and, with SteerAuto,
	// why steering is off (Info); nil discards.
	Logger *slog.Logger
}

// Steering says how a Poller's workers take their streams' datagrams from
// the kernel. The zero value is SteerAuto.
//
// Without steering, each stream's datagrams wait in the stream's own
// socket, and a worker reads each socket that has one: a system call per
// packet (a 20 ms stream rarely has two waiting). With steering, each
// stream keeps its own port and socket (the port of its SDP answer, picked
// at random by the PortPool), but a BPF sk_lookup program that the Poller
// attaches to the process's network namespace hands every datagram for a
// registered stream's address and port to its worker's shared socket
// instead, and the worker reads them with recvmmsg, 64 at a time, and hands
// each to its stream by the address and port it was sent to (its
// original destination). The kernel does less per datagram too: one socket
// is woken, not thousands. On the capacity benchmark the receive side's
// CPU per packet fell from 2.8 to 0.7 µs, and the sender's (which, on
// loopback, also delivers the datagram) from 3.4 to 2.0 µs (BENCHMARKS.md).
//
// Nothing else changes: each Receiver still applies its latching, SRTP,
// statistics and timeline rules to every datagram, with its source address
// as received; a stream's own socket stays open, reserving its port, and
// is still read, for what reaches it before steering starts, after it
// ends, or if the program ever passes a datagram on. Datagrams read in one
// recvmmsg share one arrival time, taken when the call returns (they
// waited up to a RoundInterval in the socket either way).
//
// Steering needs Linux 5.9 or later on a 64-bit system, and the
// capabilities CAP_BPF and CAP_NET_ADMIN (root has them); the program is
// detached when the Poller is closed, or when the process ends. It only
// ever takes datagrams for the addresses and ports of the Poller's
// registered streams, each of which the process holds bound; every other
// datagram goes the kernel's usual way.
type Steering uint8

const (
	// SteerAuto steers when the process may, and otherwise reads each
	// stream's socket (Poller.Steered says which).
	SteerAuto Steering = iota
	// SteerOff reads each stream's socket.
	SteerOff
	// SteerOn steers, or NewPoller fails with an error wrapping
	// ErrSteeringUnavailable.
	SteerOn
)

// String returns "auto", "off" or "on".
func (s Steering) String() string {
	switch s {
	case SteerAuto:
		return "auto"
	case SteerOff:
		return "off"
	case SteerOn:
		return "on"
	}
	return fmt.Sprintf("Steering(%d)", uint8(s))
}

// Poller receives the RTP of many Receivers on a few goroutines, instead of
// one goroutine blocked in a socket read per Receiver. Set
// ReceiverConfig.Poller to use it.
//
// Why: a Receiver of its own reads one packet per wake-up of its goroutine.
// For a 20 ms stream that is 50 wake-ups a second, each costing a read that
// finds the socket empty, a park, a wake-up through Go's network poller, a
// goroutine switch and the read that gets the packet. On a recording
// server most of the CPU went there, not into the audio. A Poller's workers
// (on Linux) each hold the sockets of their Receivers in an epoll instance
// and, while packets come, run one round per RoundInterval: one epoll_wait
// takes every ready socket, each is read once (recvfrom) and its packets
// are processed right there. No goroutine is woken and no read comes back
// empty per packet. A worker that has had nothing for a few rounds waits in
// Go's network poller for the next packet, so an idle Poller costs nothing.
//
// A Receiver on a Poller owns its socket outside Go's network poller (the
// Endpoint's net.UDPConn is replaced by the socket's own descriptor when
// Run first registers it); the Endpoint still sends (symmetric RTP) and
// closes as before.
//
// Threading: a Receiver's Handler is called from the worker that serves it,
// not from the goroutine running Run (except for the datagrams still in the
// socket when Run stops, which Run's goroutine reads and delivers holding
// the worker's lock). Its calls stay serial and in timeline order, but the Handlers of the other Receivers on the same worker wait
// meanwhile, so they must be quick (a recorder's are: they copy samples
// into a buffer). A Handler must not call Close on any Receiver of the same
// Poller (Close waits for the worker, which waits for the Handler).
//
// Run is still called for each Receiver and still returns when its context
// is done or Close is called, after delivering what is pending, as without
// a Poller; while it waits it costs no CPU. Timers (ReceiverConfig's
// ReorderWait, the end of a DTMF event whose end packets were lost) fire
// within a round interval of their time.
//
// On systems other than Linux a Poller has no workers and its Receivers
// read their sockets themselves (Native reports false): code that sets
// ReceiverConfig.Poller is portable.
//
// Close the Poller after its Receivers: Run of a Receiver whose Poller was
// closed returns an error wrapping ErrClosed (nil when Run was asked to
// stop, by its context or Close, before the Poller's Close reached it). On
// systems other than Linux, where the Receivers read their own sockets,
// Poller.Close does not stop them and their Run does not return ErrClosed.
// Poller.Close must not be called from a Handler (it waits for the
// workers, one of which waits for the Handler).
//
// A Poller must be made by NewPoller: on Linux, Run of a Receiver on a
// Poller{} returns an error wrapping ErrInvalidConfig. A Poller is safe for
// concurrent use.
type Poller struct {
	log      *slog.Logger
	batch    int
	interval time.Duration
	steer    *steerer // nil: no steering
	mu       sync.Mutex
	closed   bool
	workers  []*pollWorker
	wg       sync.WaitGroup
}

// NewPoller starts a Poller's workers. It returns an error wrapping
// ErrInvalidConfig for a bad PollerConfig, and the system's error when the
// workers cannot be created (out of file descriptors).
func NewPoller(cfg PollerConfig) (*Poller, error) {
	workers := cfg.Workers
	switch {
	case workers == 0:
		workers = runtime.GOMAXPROCS(0)
	case workers < 0 || workers > 1024:
		return nil, fmt.Errorf("%w: Poller Workers %d (want 1-1024, or 0 for GOMAXPROCS)", ErrInvalidConfig, cfg.Workers)
	}
	batch := cfg.Batch
	switch {
	case batch == 0:
		batch = 1
	case batch < 0 || batch > 64:
		return nil, fmt.Errorf("%w: Poller Batch %d (want 1-64, or 0 for 1)", ErrInvalidConfig, cfg.Batch)
	}
	if cfg.Steering > SteerOn {
		return nil, fmt.Errorf("%w: Poller Steering %d", ErrInvalidConfig, uint8(cfg.Steering))
	}
	p := &Poller{log: logger(cfg.Logger), batch: batch, interval: cfg.RoundInterval}
	if p.interval == 0 {
		p.interval = time.Millisecond
	}
	if cfg.Steering != SteerOff {
		st, err := p.startSteering()
		switch {
		case err == nil:
			p.steer = st
		case cfg.Steering == SteerOn:
			return nil, fmt.Errorf("%w: %w", ErrSteeringUnavailable, err)
		default:
			p.log.Info("media: poller: RTP steering unavailable; each stream's socket is read", "reason", err)
		}
	}
	if err := p.start(workers); err != nil {
		if p.steer != nil {
			p.steer.close()
		}
		return nil, err
	}
	return p, nil
}

// Steered reports whether the Poller steers its streams' datagrams to its
// workers' shared sockets (see Steering).
func (p *Poller) Steered() bool { return p.steer != nil }

// Native reports whether the Poller's workers read the sockets (Linux);
// when false, each Receiver reads its own socket in its Run, as without a
// Poller.
func (p *Poller) Native() bool { return p.native() }

// Workers returns the number of worker goroutines (0 when not Native).
func (p *Poller) Workers() int { return len(p.workers) }

// Close stops the workers. Receivers still running on it stop: their Run
// delivers what is pending and returns an error wrapping ErrClosed (on
// Linux; elsewhere they go on reading their sockets). Close is safe to call
// more than once, but not from a Handler.
func (p *Poller) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	p.stop()
	return nil
}

// errPollerClosed is what Run returns when its Poller was closed.
func errPollerClosed() error {
	return fmt.Errorf("%w: the Receiver's Poller was closed", ErrClosed)
}
