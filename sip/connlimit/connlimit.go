// Package connlimit caps a server's connections in total and per source,
// for any TCP protocol: the SIP listener of package sip counts with it, and
// an HTTP server wraps its listener in it (examples/gateway does, for its
// admin and Insights APIs).
//
// Every connection is a file descriptor, held until the server lets it go:
// without a cap, one source with idle connections (each kept for an HTTP
// server's ReadHeaderTimeout, then reopened) holds every descriptor of the
// process, which a recording server needs for calls, RTP and recordings.
// A [Counter] refuses a connection past either cap; a [Listener] closes it
// at accept, before the server reads a byte of it, and logs its refusals a
// bounded number of times (a flood is one line a minute, with a count).
//
// A source is what one peer can hold many of: an IPv4 address (/32), or an
// IPv6 /64, the block a single host or site gets (RFC 6177) and can pick
// addresses from at will ([Source]).
//
// The package is a leaf: it imports the standard library only, so every
// layer of the module (and any program) can use it.
package connlimit

import (
	"errors"
	"net"
	"net/netip"
	"sync"
)

// ErrOverLimit is the refusal of a connection past the total cap;
// ErrOverSourceLimit past its source's cap.
var (
	ErrOverLimit       = errors.New("connlimit: too many connections")
	ErrOverSourceLimit = errors.New("connlimit: too many connections from the source")
)

// Source returns the prefix a connection from a is counted under: an IPv4
// address as a /32 (IPv4-mapped IPv6 addresses unmapped), an IPv6 address
// as its /64; the zero Prefix for the zero Addr.
func Source(a netip.Addr) netip.Prefix {
	if !a.IsValid() {
		return netip.Prefix{}
	}
	a = a.Unmap().WithZone("")
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// SourceOf returns the Source of a network address (see AddrPortOf); the
// zero Prefix when it has no IP address.
func SourceOf(a net.Addr) netip.Prefix { return Source(AddrPortOf(a).Addr()) }

// AddrPortOf returns the address and port of a *net.TCPAddr or
// *net.UDPAddr, or of any address whose String is host:port, IPv4-mapped
// addresses unmapped; the zero AddrPort when it has none.
func AddrPortOf(a net.Addr) netip.AddrPort {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.TCPAddr:
		ap = a.AddrPort()
	case *net.UDPAddr:
		ap = a.AddrPort()
	case nil:
		return netip.AddrPort{}
	default:
		ap, _ = netip.ParseAddrPort(a.String())
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// Limits are a Counter's caps. The zero value caps nothing.
type Limits struct {
	// Max caps the connections open at once; 0 or less: no cap.
	Max int
	// PerSource caps the connections open at once from one Source; 0 or
	// less: no cap.
	PerSource int
}

// Counter counts open connections, in total and by source, within its
// Limits. It is safe for concurrent use; Acquire and Release do not
// allocate once a source has been seen.
type Counter struct {
	lim     Limits
	mu      sync.Mutex
	open    int
	sources map[netip.Prefix]int
}

// NewCounter returns a Counter with the caps of lim.
func NewCounter(lim Limits) *Counter {
	return &Counter{lim: lim, sources: make(map[netip.Prefix]int)}
}

// Limits returns the Counter's caps.
func (c *Counter) Limits() Limits { return c.lim }

// Acquire takes a place for a connection from src, or returns
// ErrOverLimit or ErrOverSourceLimit (the total cap is checked first).
// Every nil return must be matched by one Release of the same src.
func (c *Counter) Acquire(src netip.Prefix) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lim.Max > 0 && c.open >= c.lim.Max {
		return ErrOverLimit
	}
	if c.lim.PerSource > 0 && c.sources[src] >= c.lim.PerSource {
		return ErrOverSourceLimit
	}
	c.open++
	c.sources[src]++
	return nil
}

// Release gives back a place Acquire took for src. A Release for a
// source that holds no place changes nothing (it would otherwise lower
// the total below the connections open, letting one more past Max).
func (c *Counter) Release(src netip.Prefix) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.sources[src]
	if !ok {
		return
	}
	c.open--
	if n <= 1 {
		delete(c.sources, src)
	} else {
		c.sources[src] = n - 1
	}
}

// Open returns how many connections hold a place, in total and from src.
func (c *Counter) Open(src netip.Prefix) (total, fromSource int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open, c.sources[src]
}
