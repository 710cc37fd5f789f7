package sip

import (
	"net"
	"net/netip"

	"github.com/voicegw/voicegw/sip/connlimit"
)

// TransportEventKind says what happened at a Listener or PacketConn.
type TransportEventKind uint8

// The events a Listener (TCP) and a PacketConn (UDP) report to their
// OnEvent observer, and count in their Stats.
const (
	// EventAccepted: a connection was accepted and handed to sipgo.
	EventAccepted TransportEventKind = iota + 1
	// EventRefused: the source is refused by Allow: the connection is
	// closed at accept, the datagram dropped before sipgo parses it.
	EventRefused
	// EventOverLimit: the Listener holds MaxConns connections; the new
	// one is closed at accept.
	EventOverLimit
	// EventOverSourceLimit: the source (IPv4 address, IPv6 /64) holds
	// MaxConnsPerSource connections; the new one is closed at accept.
	EventOverSourceLimit
	// EventAcceptError: Accept failed (too many open files, a connection
	// aborted before it was accepted…); the Listener backs off and goes
	// on. Err is the error.
	EventAcceptError
	// EventMessageTimeout: a connection did not deliver a complete SIP
	// message within MessageTimeout (the first one from accept, later
	// ones from their first byte); it is closed.
	EventMessageTimeout
	// EventIdleTimeout: a connection sent nothing, not even a keep-alive,
	// for IdleTimeout; it is closed.
	EventIdleTimeout
	// EventTooLarge: a message over MaxMessageSize was answered 513 and
	// dropped (over TCP the connection goes on after its body, unless its
	// header section alone was over the limit).
	EventTooLarge
	// EventClosed: a connection handed to sipgo was closed, by either side.
	EventClosed
	// EventHandshakeFailed: a TLS connection did not complete its
	// handshake within HandshakeTimeout, or the handshake failed (not TLS,
	// no common version or cipher, no or an untrusted client certificate
	// under mutual TLS); it is closed. Err is the handshake's error.
	EventHandshakeFailed
	// EventOverRate: the source (IPv4 address, IPv6 /64) opened
	// connections faster than NewConnRate (past NewConnBurst); the new one
	// is closed at accept, before any TLS handshake or read.
	EventOverRate

	eventKinds // the number of kinds, plus one
)

// String returns the event's name, fit for a metric label.
func (k TransportEventKind) String() string {
	switch k {
	case EventAccepted:
		return "accepted"
	case EventRefused:
		return "refused"
	case EventOverLimit:
		return "over_limit"
	case EventOverSourceLimit:
		return "over_source_limit"
	case EventAcceptError:
		return "accept_error"
	case EventMessageTimeout:
		return "message_timeout"
	case EventIdleTimeout:
		return "idle_timeout"
	case EventTooLarge:
		return "too_large"
	case EventClosed:
		return "closed"
	case EventHandshakeFailed:
		return "handshake_failed"
	case EventOverRate:
		return "over_rate"
	}
	return "unknown"
}

// TransportEvent is one event of a Listener or PacketConn.
type TransportEvent struct {
	// Kind says what happened.
	Kind TransportEventKind
	// Remote is the peer's address (zero for EventAcceptError).
	Remote netip.AddrPort
	// Err is the error of EventAcceptError and EventHandshakeFailed, nil
	// otherwise.
	Err error
}

// addrPortOf returns a's address and port, IPv4-mapped addresses unmapped.
func addrPortOf(a net.Addr) netip.AddrPort { return connlimit.AddrPortOf(a) }
