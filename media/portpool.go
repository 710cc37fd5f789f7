package media

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
)

// PortPoolConfig configures a PortPool. The zero value binds all IPv4
// addresses on ports 10000-20000.
type PortPoolConfig struct {
	// Address is the local address endpoints bind to; default 0.0.0.0 (every
	// IPv4 address). Use 127.0.0.1 in tests and the media address of the
	// host in production.
	Address netip.Addr
	// MinPort and MaxPort bound the range, both included; default 10000 and
	// 20000. RTP uses the even ports of the range, each with the next odd
	// port for RTCP (RFC 3550 §11), so the range must hold at least one
	// pair: MinPort rounded up to even, plus one, at most MaxPort.
	MinPort, MaxPort int
	// NoRTCPSocket leaves the RTCP port of each pair unbound: for
	// receivers that never read RTCP, such as a SIPREC recording server, it
	// saves one file descriptor per stream (a two-party call then holds
	// two sockets, not four: at 4,000 calls, 8,000 descriptors of the
	// 20,000 a process may often open). Pairs are still handed out whole
	// (an RTP port is always even), but another process may bind the RTCP
	// port meanwhile, and RTCP sent there is refused by the system.
	// Default false: the RTCP port is bound and reserved (RFC 3550 §11).
	NoRTCPSocket bool
	// Logger receives allocation failures; nil discards.
	Logger *slog.Logger
}

// PortPool hands out RTP endpoints from a port range: each Endpoint is an
// even RTP port bound to a UDP socket with the next odd port bound too,
// reserved for RTCP. It is safe for concurrent use.
//
// Allocation picks a pair at random (crypto/rand) among the free pairs
// that have been free the longest, the older half of them, so that:
//   - the next port cannot be guessed from the ports of earlier calls (a
//     stranger who guesses where the next call's RTP goes can race its
//     sender for the latch; see Latching);
//   - a pair just released is reused only when no other pair is free,
//     and in general only after about half the free pairs were handed out
//     since (late packets of a finished call do not reach the next one).
//
// Pairs that another process holds are skipped.
type PortPool struct {
	addr  netip.Addr
	min   int // first even RTP port
	pairs int
	log   *slog.Logger
	mu    sync.Mutex
	// free holds the indexes of the free pairs, those free the longest
	// first: Allocate takes one from the first half, release appends.
	free   []int32
	inUse  int
	rnd    [8]byte
	noRTCP bool
}

// NewPortPool validates cfg and returns a pool. No port is bound until
// Allocate. A range without a pair gives an error wrapping ErrInvalidConfig.
func NewPortPool(cfg PortPoolConfig) (*PortPool, error) {
	addr := cfg.Address
	if !addr.IsValid() {
		addr = netip.IPv4Unspecified()
	}
	lo, hi := cfg.MinPort, cfg.MaxPort
	if lo == 0 && hi == 0 {
		lo, hi = 10000, 20000
	}
	if lo < 1 || hi > 65535 || lo > hi {
		return nil, fmt.Errorf("%w: RTP port range %d-%d", ErrInvalidConfig, cfg.MinPort, cfg.MaxPort)
	}
	first := lo + lo%2
	pairs := (hi - first + 1) / 2
	if pairs < 1 {
		return nil, fmt.Errorf("%w: RTP port range %d-%d holds no even RTP port with its RTCP port", ErrInvalidConfig, lo, hi)
	}
	p := &PortPool{addr: addr, min: first, pairs: pairs, log: logger(cfg.Logger), free: make([]int32, pairs), noRTCP: cfg.NoRTCPSocket}
	for i := range p.free {
		p.free[i] = int32(i)
	}
	return p, nil
}

// Size returns the number of RTP/RTCP pairs in the range.
func (p *PortPool) Size() int { return p.pairs }

// InUse returns the number of endpoints allocated and not yet closed.
func (p *PortPool) InUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inUse
}

// Allocate binds a free even port of the range, picked at random (see
// PortPool), and the odd port after it, and returns them as an Endpoint.
// When every pair is in use (by this pool or another process) it returns
// an error wrapping ErrNoFreePort.
func (p *PortPool) Allocate() (*Endpoint, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// Candidates are free[:k], the older half; a pair another process
	// holds is swapped to the end of the candidates and k shrinks. When
	// no candidate binds, the younger half is tried in order.
	k := (len(p.free) + 1) / 2
	for tried := 0; tried < len(p.free); tried++ {
		j := tried // the younger half, in order, once every candidate failed
		if k > 0 {
			j = p.random(k)
		}
		idx := int(p.free[j])
		port := p.min + 2*idx
		rtp, rtcp, err := bindPair(p.addr, port, !p.noRTCP)
		if err != nil { // held by another process
			if k > 0 {
				p.free[j], p.free[k-1] = p.free[k-1], p.free[j]
				k--
			}
			continue
		}
		p.free = append(p.free[:j], p.free[j+1:]...)
		p.inUse++
		return &Endpoint{rtp: rtp, rtcp: rtcp, local: netip.AddrPortFrom(p.addr, uint16(port)), pool: p, idx: idx}, nil
	}
	p.log.Warn("media: RTP port pool exhausted", "address", p.addr, "min", p.min, "pairs", p.pairs, "in_use", p.inUse)
	return nil, fmt.Errorf("%w: all %d RTP/RTCP pairs of %v ports %d-%d are in use", ErrNoFreePort, p.pairs, p.addr, p.min, p.min+2*p.pairs-1)
}

// random returns a uniformly distributed number in [0, n), n > 0, from
// crypto/rand.
func (p *PortPool) random(n int) int {
	_, _ = rand.Read(p.rnd[:]) // never fails (crypto/rand, Go 1.24)
	// 64 random bits modulo n ≤ 32768: the bias is below 2^-48.
	return int(binary.LittleEndian.Uint64(p.rnd[:]) % uint64(n))
}

func (p *PortPool) release(idx int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.free = append(p.free, int32(idx))
	p.inUse--
}

// bindPair binds the RTP port, and the RTCP port after it when withRTCP.
func bindPair(addr netip.Addr, port int, withRTCP bool) (rtp, rtcp *net.UDPConn, err error) {
	network := "udp4"
	if addr.Is6() && !addr.Is4In6() {
		network = "udp6"
	}
	rtp, err = net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, uint16(port))))
	if err != nil || port == 0 || !withRTCP {
		return rtp, nil, err
	}
	rtcp, err = net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, uint16(port+1))))
	if err != nil {
		_ = rtp.Close()
		return nil, nil, err
	}
	return rtp, rtcp, nil
}

// Listen binds an RTP endpoint outside any pool: an even port chosen by the
// operating system on addr, with the next port reserved for RTCP. It suits
// tests and clients that need no configured range (a PortPool is what a
// server uses). Close releases both ports.
func Listen(addr netip.Addr) (*Endpoint, error) {
	if !addr.IsValid() {
		addr = netip.IPv4Unspecified()
	}
	for range 100 {
		rtp, _, err := bindPair(addr, 0, false)
		if err != nil {
			return nil, fmt.Errorf("media: binding an RTP port on %v: %w", addr, err)
		}
		port := rtp.LocalAddr().(*net.UDPAddr).Port
		_ = rtp.Close()
		if port%2 != 0 || port >= 65535 {
			continue
		}
		rtp, rtcp, err := bindPair(addr, port, true)
		if err != nil {
			continue // taken meanwhile, or its RTCP port is busy
		}
		return &Endpoint{rtp: rtp, rtcp: rtcp, local: netip.AddrPortFrom(addr, uint16(port)), idx: -1}, nil
	}
	return nil, fmt.Errorf("%w: no even port with a free RTCP port on %v after 100 tries", ErrNoFreePort, addr)
}

// Endpoint is one allocated RTP port with its RTCP port reserved (unless
// PortPoolConfig.NoRTCPSocket). A Receiver
// reads from it; a Sender may send from it (symmetric RTP, so the far end
// sees packets come from the port the SDP advertised). Close returns both
// ports to the pool.
type Endpoint struct {
	rtp, rtcp *net.UDPConn
	local     netip.AddrPort
	pool      *PortPool
	idx       int
	once      sync.Once
	closeErr  error

	// mu guards the switch of the RTP socket to raw: a Receiver on a
	// native Poller takes the socket out of Go's network poller (rtp is
	// then closed and raw holds the socket's own descriptor).
	mu  sync.RWMutex
	raw *rawSocket
}

// Port returns the RTP port, the one to write on the m= line.
func (e *Endpoint) Port() int { return int(e.local.Port()) }

// LocalAddr returns the bound RTP address.
func (e *Endpoint) LocalAddr() netip.AddrPort { return e.local }

// WriteToUDPAddrPort sends one datagram from the RTP port; it makes an
// Endpoint a PacketWriter for a Sender.
func (e *Endpoint) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.raw != nil {
		return e.raw.writeTo(b, addr)
	}
	return e.rtp.WriteToUDPAddrPort(b, addr)
}

// Close closes both sockets and returns the pair to its pool. It is safe to
// call more than once.
func (e *Endpoint) Close() error {
	e.once.Do(func() {
		e.mu.Lock()
		var err1 error
		if e.raw != nil {
			err1 = e.raw.close()
		} else {
			err1 = e.rtp.Close()
		}
		e.mu.Unlock()
		var err2 error
		if e.rtcp != nil {
			err2 = e.rtcp.Close()
		}
		if e.pool != nil {
			e.pool.release(e.idx)
		}
		if err1 != nil {
			e.closeErr = err1
		} else {
			e.closeErr = err2
		}
	})
	return e.closeErr
}

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// ErrPortRange is matched by the error of ParsePortRange.
var ErrPortRange = errors.New("media: bad port range")

// ParsePortRange parses a port range written "MIN-MAX" (spaces around
// either number allowed), as configurations give PortPoolConfig's MinPort
// and MaxPort. The range must lie within 1-65535, MIN first, and hold one
// even RTP port with its RTCP port at least (NewPortPool's rule); otherwise
// the error wraps ErrPortRange and names s.
func ParsePortRange(s string) (lo, hi int, err error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	why := ""
	switch {
	case !ok || err1 != nil || err2 != nil:
		why = "want MIN-MAX, like 20000-39999"
	case lo < 1 || hi > 65535 || lo > hi:
		why = "ports must lie within 1-65535, MIN first"
	case (hi-(lo+lo%2)+1)/2 < 1:
		why = "the range holds no even RTP port with its RTCP port"
	}
	if why != "" {
		return 0, 0, fmt.Errorf("%w %q: %s", ErrPortRange, s, why)
	}
	return lo, hi, nil
}
