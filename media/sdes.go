package media

import (
	"fmt"
	"strings"
)

// Transport protocols of an m= line (RFC 3551, RFC 3711 §12).
const (
	ProtoRTP  = "RTP/AVP"  // RTP in clear
	ProtoSRTP = "RTP/SAVP" // SRTP; with a=crypto, keyed by SDES (RFC 4568)
)

// SDESConfig makes Answer accept SRTP offers keyed in the SDP itself (SDES,
// RFC 4568): RTP/SAVP lines with a=crypto. The zero value accepts every
// supported suite and still accepts lines in clear.
//
// SDES keys travel in the SDP: an offer or answer holding them must only
// be sent and received over TLS (SIPS). Answer cannot know the transport;
// the SIP layer must refuse a=crypto over clear signalling.
type SDESConfig struct {
	// Suites lists the crypto-suites this side accepts; default
	// SupportedCryptoSuites(). The answer takes the offer's first a=crypto
	// line whose suite is listed here and that Crypto.Validate accepts, so
	// the offerer's order of preference decides (RFC 4568 §5.1.2).
	Suites []CryptoSuite

	// Require refuses lines offered in clear: an RTP/AVP line is rejected
	// (port 0) and, when no line is left, Answer's error wraps
	// ErrSRTPRequired as well as ErrNoUsableCodec. Default false: RTP/AVP
	// lines are answered in clear, RTP/SAVP lines with SRTP.
	Require bool
}

// answerSDES decides the keying of an offered line that negotiate
// accepted: nothing for a line in clear (unless SRTP is required), our own
// a=crypto line for RTP/SAVP. kind is the error class of a rejection.
func answerSDES(om *Media, cfg *SDESConfig) (keys []Crypto, why string, kind error) {
	if om.Protocol != ProtoSRTP {
		if cfg != nil && cfg.Require {
			return nil, "SRTP is required and the line offers " + om.Protocol, ErrSRTPRequired
		}
		return nil, "", nil
	}
	var reasons []string
	for _, c := range om.Crypto {
		if n := countTag(om.Crypto, c.Tag); n > 1 { // RFC 4568 §5.1.1: tags are unique
			reasons = append(reasons, fmt.Sprintf("a=crypto tag %d appears %d times", c.Tag, n))
			continue
		}
		if !acceptsSuite(cfg.Suites, c.Suite) {
			reasons = append(reasons, fmt.Sprintf("a=crypto:%d crypto-suite %q is not accepted", c.Tag, clip(string(c.Suite))))
			continue
		}
		if err := c.Validate(); err != nil {
			reasons = append(reasons, strings.TrimPrefix(err.Error(), ErrUnsupportedCrypto.Error()+": "))
			continue
		}
		ours, err := NewCrypto(c.Tag, c.Suite)
		if err != nil { // cannot happen: Validate accepted the suite and the tag parsed
			return nil, err.Error(), ErrUnsupportedCrypto
		}
		return []Crypto{ours}, "", nil
	}
	for _, a := range om.Attributes {
		if a.Key == "crypto" {
			if _, err := ParseCrypto(a.Value); err != nil {
				reasons = append(reasons, strings.TrimPrefix(err.Error(), ErrMalformedSDP.Error()+": "))
			}
		}
	}
	if len(reasons) == 0 {
		return nil, "RTP/SAVP without an a=crypto line (only SDES keying is supported)", ErrUnsupportedCrypto
	}
	return nil, "no usable a=crypto line: " + strings.Join(reasons, ", "), ErrUnsupportedCrypto
}

func countTag(lines []Crypto, tag int) int {
	n := 0
	for _, c := range lines {
		if c.Tag == tag {
			n++
		}
	}
	return n
}

func acceptsSuite(accepted []CryptoSuite, s CryptoSuite) bool {
	if len(accepted) == 0 {
		return s.Supported()
	}
	for _, a := range accepted {
		if strings.EqualFold(string(a), string(s)) {
			return s.Supported()
		}
	}
	return false
}

// SDESKeys are the two a=crypto lines an offer/answer exchange agreed on
// for one m= line (RFC 4568 §5.1.2). Each side encrypts what it sends with
// its own line's key and decrypts what it receives with the other's:
//
//	answerer (a recording server): Receiver with NewSRTPContext(k.Offer), Sender with k.Answer
//	offerer (a recording client):  Sender with NewSRTPContext(k.Offer), Receiver with k.Answer
type SDESKeys struct {
	// Offer is the offered line the answer accepted (the same tag).
	Offer Crypto
	// Answer is the answer's line.
	Answer Crypto
}

// NegotiatedSDES returns the keys an answered RTP/SAVP line agreed on: the
// answer's single a=crypto line and the offered line with its tag. It
// checks what an offerer must check of an answer: the line is accepted
// over RTP/SAVP, holds exactly one a=crypto line, with a tag that was
// offered once, the same suite, and keys this package can use. Errors wrap
// ErrUnsupportedCrypto and say which rule failed.
func NegotiatedSDES(offered, answered *Media) (SDESKeys, error) {
	switch {
	case answered.Rejected():
		return SDESKeys{}, fmt.Errorf("%w: the answer rejected the line (port 0)", ErrUnsupportedCrypto)
	case answered.Protocol != ProtoSRTP || offered.Protocol != ProtoSRTP:
		return SDESKeys{}, fmt.Errorf("%w: offer %s, answer %s: both must be %s", ErrUnsupportedCrypto, offered.Protocol, answered.Protocol, ProtoSRTP)
	case len(answered.Crypto) != 1:
		return SDESKeys{}, fmt.Errorf("%w: the answer holds %d a=crypto lines, it must hold exactly one", ErrUnsupportedCrypto, len(answered.Crypto))
	}
	a := answered.Crypto[0]
	if n := countTag(offered.Crypto, a.Tag); n > 1 {
		return SDESKeys{}, fmt.Errorf("%w: the offer holds a=crypto tag %d %d times", ErrUnsupportedCrypto, a.Tag, n)
	}
	for _, o := range offered.Crypto {
		if o.Tag != a.Tag {
			continue
		}
		if !strings.EqualFold(string(o.Suite), string(a.Suite)) {
			return SDESKeys{}, fmt.Errorf("%w: the answer's a=crypto:%d has suite %q, the offer's %q", ErrUnsupportedCrypto, a.Tag, clip(string(a.Suite)), o.Suite)
		}
		if err := o.Validate(); err != nil {
			return SDESKeys{}, fmt.Errorf("offered line: %w", err)
		}
		if err := a.Validate(); err != nil {
			return SDESKeys{}, fmt.Errorf("answered line: %w", err)
		}
		return SDESKeys{Offer: o, Answer: a}, nil
	}
	return SDESKeys{}, fmt.Errorf("%w: the answer's a=crypto tag %d was not offered", ErrUnsupportedCrypto, a.Tag)
}
