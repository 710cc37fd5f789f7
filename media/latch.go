package media

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Latching says which senders a Receiver accepts RTP from: the defence
// against a stranger who sends RTP to a port it guessed, before or instead
// of the real sender, so that its audio is recorded in place of the call's.
// The zero value is LatchStrict.
//
// Whatever the mode, a Receiver latches a source only after
// ReceiverConfig.LatchPackets consecutive valid packets from it (see
// DefaultLatchPackets), and from then on drops, and counts in
// Stats.Strangers, every packet from another address until the remote
// changes (Receiver.SetRemote, Receiver.Relatch).
type Latching uint8

const (
	// LatchStrict accepts RTP only from ReceiverConfig.Remote: the address
	// and port the SDP offer gave on its c= and m= lines (rtpengine's
	// "strict source", Asterisk's strictrtp). The default. An offer whose
	// address is unspecified (c=0.0.0.0, RFC 3264 §8.4) names no sender,
	// and nothing is accepted until a new offer does (Receiver.SetRemote).
	LatchStrict Latching = iota
	// LatchRelaxed accepts RTP from ReceiverConfig.Remote and from any port
	// of ReceiverConfig.Signalling, the address the SIP request that
	// offered the stream came from: for senders behind a NAT, whose SDP
	// names a private address, or whose NAT maps the RTP to another port
	// than the SDP says, while their media leaves from the same public
	// address as their signalling.
	LatchRelaxed
	// LatchAny accepts the first source that sends LatchPackets
	// consecutive valid packets, from any address: no protection against
	// a stranger who sends first (or faster). For trusted networks, or
	// senders whose media leaves from another address than both their SDP
	// and their signalling say.
	LatchAny
)

// DefaultLatchPackets is how many consecutive valid packets a source must
// send before a Receiver latches it, when ReceiverConfig.LatchPackets is 0.
//
// Four is Asterisk's "probation" default (rtp.conf), and 80 ms of audio at
// the usual 20 ms ptime: enough that a stray packet, or a few spoofed
// ones interleaved with the real stream, do not win the latch, short
// enough that the wait is not heard. Nothing is lost by waiting: the
// packets of the source that latches are held and delivered in order once
// it has latched (or when the Receiver stops). In LatchStrict mode only
// one address can latch, so the count only delays; it matters in the
// other modes, where several addresses compete.
const DefaultLatchPackets = 4

// maxLatchPackets bounds ReceiverConfig.LatchPackets: the packets of a
// candidate source are held, up to this many datagrams.
const maxLatchPackets = 64

// String returns "strict", "relaxed" or "any".
func (l Latching) String() string {
	switch l {
	case LatchStrict:
		return "strict"
	case LatchRelaxed:
		return "relaxed"
	case LatchAny:
		return "any"
	}
	return fmt.Sprintf("Latching(%d)", uint8(l))
}

// ParseLatching parses "strict", "relaxed" or "any" (any case); the empty
// string is LatchStrict, the default.
func ParseLatching(s string) (Latching, error) {
	switch strings.ToLower(s) {
	case "", "strict":
		return LatchStrict, nil
	case "relaxed":
		return LatchRelaxed, nil
	case "any":
		return LatchAny, nil
	}
	return 0, fmt.Errorf("%w: RTP latching %q (want strict, relaxed or any)", ErrInvalidConfig, s)
}

// MarshalText implements encoding.TextMarshaler.
func (l Latching) MarshalText() ([]byte, error) {
	if l > LatchAny {
		return nil, fmt.Errorf("%w: RTP latching %d", ErrInvalidConfig, uint8(l))
	}
	return []byte(l.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (l *Latching) UnmarshalText(b []byte) error {
	v, err := ParseLatching(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// latchConfig is the resolved latching part of a ReceiverConfig.
type latchConfig struct {
	mode       Latching
	remote     netip.AddrPort // expected source; invalid when unknown
	signalling netip.Addr     // relaxed mode: any port of this address
	need       int            // consecutive packets before latching
}

// probePkt is a datagram of a candidate source, held until it latches.
type probePkt struct {
	buf []byte // grown when needed, then reused
	at  time.Time
}

// allowed reports whether a packet from addr may become the source.
func (s *stream) allowed(addr netip.AddrPort) bool {
	l := &s.latch
	switch {
	case l.mode == LatchAny:
		return true
	case l.remote.IsValid() && addr == l.remote:
		return true
	case l.mode == LatchRelaxed && l.signalling.IsValid():
		return addr.Addr() == l.signalling
	}
	// Without a Remote (and, relaxed, a signalling address) there is
	// nothing to check against: see ReceiverConfig.Remote.
	return !l.remote.IsValid()
}

// stranger counts a packet from an address that is not the source.
func (s *stream) stranger(from netip.AddrPort) {
	s.st.Strangers++
	if s.st.Strangers == 1 {
		if s.latched {
			s.log.Debug("media: RTP packet from a stranger dropped", "from", from, "source", s.source)
		} else {
			s.log.Debug("media: RTP packet from an address that may not latch dropped", "from", from,
				"remote", s.latch.remote, "latching", s.latch.mode.String())
		}
	}
}

// probation holds a packet (parsed in s.rp) of a source that has not
// latched yet. A usable packet (its payload type is in the table) from
// another address than the current candidate's makes that address the
// candidate, and the previous candidate's packets are dropped as a
// stranger's. An unusable packet does not make a candidate, but one of the
// candidate's is held with the others (it takes part in the sequence). When
// the candidate has sent need usable packets in a row it latches, and its
// packets are delivered in the order they came.
func (s *stream) probation(b []byte, from netip.AddrPort, at time.Time, usable bool) {
	if !usable && (s.candN == 0 || from != s.cand || s.candN >= 2*maxLatchPackets) {
		s.st.Ignored++ // an unusable packet does not latch
		return
	}
	if from != s.cand {
		s.st.Strangers += uint64(s.candN)
		s.cand, s.candN, s.candOK = from, 0, 0
	}
	if s.candN == len(s.probe) {
		s.probe = append(s.probe, probePkt{})
	}
	p := &s.probe[s.candN]
	p.buf = append(p.buf[:0], b...)
	p.at = at
	s.candN++
	if usable {
		s.candOK++
	}
	if s.candOK >= s.latch.need {
		s.latchCandidate()
	}
}

// latchCandidate makes the candidate the source and delivers its held
// packets.
func (s *stream) latchCandidate() {
	n := s.candN
	s.candN, s.candOK = 0, 0
	if n == 0 {
		return
	}
	s.latched, s.source = true, s.cand
	s.st.Source = s.cand
	for i := range n {
		p := &s.probe[i]
		if s.rp.Unmarshal(p.buf) != nil { // parsed once already: cannot fail
			continue
		}
		if i == 0 {
			h := &s.rp.Header
			s.log.Info("media: RTP source latched", "source", s.source, "ssrc", h.SSRC, "payload_type", h.PayloadType,
				"remote", s.latch.remote, "latching", s.latch.mode.String())
		}
		s.receive(p.at)
	}
}

// relatch forgets the source: the next LatchPackets valid packets from an
// address that may latch make it the source again.
func (s *stream) relatch() {
	s.latched = false
	s.st.Strangers += uint64(s.candN)
	s.candN, s.candOK = 0, 0
	s.cand = netip.AddrPort{}
}

// setRemote changes the expected source and relatches.
func (s *stream) setRemote(remote netip.AddrPort) {
	s.latch.remote = unmapAddrPort(remote)
	s.relatch()
}

func unmapAddrPort(a netip.AddrPort) netip.AddrPort {
	if !a.IsValid() {
		return a
	}
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}
