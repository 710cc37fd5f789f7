package sip

import (
	"bytes"
	"net/netip"

	sipgosip "github.com/emiago/sipgo/sip"
)

// DefaultMaxMessageSize is the largest SIP message the Listener and the
// PacketConn hand to sipgo unless configured otherwise: the limit of
// sipgo's parser (ParseMaxMessageLength, 65,535 bytes), which closes a TCP
// connection without an answer above it.
const DefaultMaxMessageSize = 65535

// NewSipgoParser returns a sipgo parser for messages of up to
// maxMessageSize bytes (0: DefaultMaxMessageSize), for
// sipgo.WithUserAgentParser. A program that raises a Listener's
// MaxMessageSize above DefaultMaxMessageSize gives sipgo this parser, or
// sipgo closes the connection of a message the Listener let through. It
// sets no package variable of sipgo's.
func NewSipgoParser(maxMessageSize int) *sipgosip.Parser {
	if maxMessageSize <= 0 {
		maxMessageSize = DefaultMaxMessageSize
	}
	p := sipgosip.NewParser()
	// leading CRLF keep-alives count in sipgo's total but not in ours
	p.MaxMessageLength = maxMessageSize + 64
	return p
}

// tooLargeReply returns "513 Message Too Large" (RFC 3261 §21.5.14) for
// the request whose beginning is head (at least its start line and the
// header lines an answer copies: Via, From, To, Call-ID, CSeq), to be sent
// to src over transport without a transaction; nil when head is no
// request, an ACK (never answered), or too broken to answer.
func tooLargeReply(p *sipgosip.Parser, head []byte, src netip.AddrPort, transport string) []byte {
	// keep whole header lines only, and end the section there
	end := bytes.Index(head, endOfHead)
	if end >= 0 {
		head = head[:end+2]
	} else if k := bytes.LastIndex(head, crlf); k >= 0 {
		head = head[:k+2]
	} else {
		return nil
	}
	data := make([]byte, 0, len(head)+2)
	data = append(append(data, head...), crlf...)
	msg, _, err := p.ParseHeaders(data, false)
	req, ok := msg.(*sipgosip.Request)
	if err != nil || !ok || req.IsAck() || req.SipVersion != "SIP/2.0" || req.Via() == nil || req.CSeq() == nil {
		return nil
	}
	req.SetTransport(transport)
	req.SetSource(src.String())
	res := sipgosip.NewResponseFromRequest(req, 513, "Message Too Large", nil)
	var b bytes.Buffer
	res.StringWrite(&b)
	// sipgo reads some broken headers lazily: send nothing a parser refuses
	if _, err := p.ParseSIP(b.Bytes()); err != nil {
		return nil
	}
	return b.Bytes()
}
