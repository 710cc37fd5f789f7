package media

import "errors"

// Errors callers can match with errors.Is. Every error returned by this
// package wraps one of them with context naming the bad value.
var (
	// ErrMalformedSDP reports an SDP body that cannot be parsed (RFC 4566), or
	// a description that cannot be marshalled. A SIP server answers 400.
	ErrMalformedSDP = errors.New("media: malformed SDP")

	// ErrNoUsableCodec reports an offer in which no m=audio line can be
	// accepted: none offers PCMU or PCMA over RTP/AVP on a non-zero port.
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

	// ErrRunning is returned by Receiver.Run when it is already running.
	ErrRunning = errors.New("media: receiver already running")

	// ErrClosed reports use of a Receiver, Sender or Endpoint after Close.
	ErrClosed = errors.New("media: closed")
)
