package media

import "errors"

// Errors callers can match with errors.Is. Every error returned by this
// package wraps one of them with context naming the bad value, except on
// the per-packet SRTP path: SRTPContext.Decrypt and Encrypt return
// ErrMalformedPacket, ErrSRTPAuth, ErrSRTPReplay and ErrSRTPKeyExpired
// themselves, so that a refused packet costs no allocation.
var (
	// ErrMalformedSDP reports an SDP body that cannot be parsed (RFC 4566), or
	// a description that cannot be marshalled. A SIP server answers 400.
	ErrMalformedSDP = errors.New("media: malformed SDP")

	// ErrNoUsableCodec reports an offer in which no m=audio line can be
	// accepted: none offers PCMU or PCMA over RTP/AVP (or RTP/SAVP with a
	// usable a=crypto line, with AnswerConfig.SDES) on a non-zero port.
	// A SIP server answers 488 Not Acceptable Here.
	ErrNoUsableCodec = errors.New("media: no usable codec in offer")

	// ErrNoFreePort reports that every RTP/RTCP port pair of a PortPool is in
	// use. A SIP server answers 503 Service Unavailable.
	ErrNoFreePort = errors.New("media: no free RTP port")

	// ErrInvalidConfig reports a configuration value that cannot work (a port
	// range without an even/odd pair, a ptime that is not a whole number of
	// samples, an unknown codec for a Sender...).
	ErrInvalidConfig = errors.New("media: invalid configuration")

	// ErrMalformedPacket reports a wire payload that cannot be parsed, such as
	// an RFC 4733 telephone-event shorter than 4 bytes.
	ErrMalformedPacket = errors.New("media: malformed packet")

	// ErrUnsupportedCrypto reports an a=crypto line (RFC 4568) this package
	// cannot protect RTP with: an unknown crypto-suite, a key of the wrong
	// length, a lifetime over 2^48, several master keys, a session
	// parameter it does not implement; or an SDES answer that does not
	// match its offer. The error names the value, never the key. Answering
	// an offer, such a line is skipped; a SIP server answers 488 when no
	// line is left.
	ErrUnsupportedCrypto = errors.New("media: unsupported SRTP crypto")

	// ErrSRTPRequired reports a line offered in clear (RTP/AVP) to an
	// Answer whose SDESConfig.Require is set. A SIP server answers 488.
	ErrSRTPRequired = errors.New("media: SRTP required")

	// ErrSRTPAuth reports an SRTP packet whose authentication tag is wrong
	// (RFC 3711 §3.4): forged, corrupted, or protected with another key (or
	// an MKI this context does not know). It is dropped.
	ErrSRTPAuth = errors.New("media: SRTP authentication failed")

	// ErrSRTPReplay reports an SRTP packet whose index was already
	// received, or is older than the replay window (RFC 3711 §3.3.2). It
	// is dropped.
	ErrSRTPReplay = errors.New("media: SRTP replayed packet")

	// ErrSRTPKeyExpired reports that the master key protected as many
	// packets as its lifetime allows (RFC 3711 §9.2, RFC 4568 §6.1): the
	// stream must be re-keyed by a new offer/answer.
	ErrSRTPKeyExpired = errors.New("media: SRTP master key lifetime reached")

	// ErrRunning is returned by Receiver.Run when it is already running.
	ErrRunning = errors.New("media: receiver already running")

	// ErrClosed reports use of a Receiver, Sender or Endpoint after Close.
	ErrClosed = errors.New("media: closed")

	// ErrSteeringUnavailable is what NewPoller returns, wrapped with the
	// system's reason, when PollerConfig.Steering is SteerOn and the kernel
	// cannot steer (see Steering).
	ErrSteeringUnavailable = errors.New("media: RTP steering unavailable")
)
