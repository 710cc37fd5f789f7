package sip

import (
	"log/slog"
	"net"
	"net/netip"
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
}

// PacketConn is a net.PacketConn for SIP over UDP in front of sipgo
// (sipgo.Server.ServeUDP): it drops datagrams from sources Allow refuses
// before sipgo parses them, and answers datagrams over the size limit
// with 513 instead of handing sipgo a cut message. Writes go through
// unchanged. Reading allocates no more than the wrapped connection's
// ReadFrom does.
type PacketConn struct {
	net.PacketConn
	cfg    PacketConnConfig
	log    *slog.Logger
	parser *sipgosip.Parser
	cutLog logEvery

	passed, refused, tooLarge atomic.Uint64
}

// NewPacketConn wraps pc.
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
	return &PacketConn{PacketConn: pc, cfg: cfg, log: log, parser: sipgosip.NewParser(), cutLog: logEvery{interval: cfg.LogInterval}}
}

// Stats returns the PacketConn's counts.
func (p *PacketConn) Stats() PacketConnStats {
	return PacketConnStats{Passed: p.passed.Load(), Refused: p.refused.Load(), TooLarge: p.tooLarge.Load()}
}

// ReadFrom returns the next datagram that passes Allow and the size
// limit.
func (p *PacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
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
		_, _ = p.PacketConn.WriteTo(res, net.UDPAddrFromAddrPort(to))
	}
}
