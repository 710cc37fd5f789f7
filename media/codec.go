package media

import (
	"strconv"
	"strings"

	"github.com/zaf/g711"
)

// Encoding names an RTP payload format this package understands (the
// encoding name of an a=rtpmap line, RFC 4566 §6).
type Encoding uint8

// The encodings this package can negotiate, receive and send.
const (
	// EncodingPCMU is G.711 μ-law, static payload type 0 (RFC 3551 §4.5.14).
	EncodingPCMU Encoding = iota + 1
	// EncodingPCMA is G.711 A-law, static payload type 8 (RFC 3551 §4.5.14).
	EncodingPCMA
	// EncodingTelephoneEvent is the RFC 4733 telephone-event payload (DTMF),
	// always on a dynamic payload type (101 by convention).
	EncodingTelephoneEvent
)

// String returns the encoding name as SDP spells it: "PCMU", "PCMA" or
// "telephone-event".
func (e Encoding) String() string {
	switch e {
	case EncodingPCMU:
		return "PCMU"
	case EncodingPCMA:
		return "PCMA"
	case EncodingTelephoneEvent:
		return "telephone-event"
	}
	return "Encoding(" + strconv.Itoa(int(e)) + ")"
}

// IsAudio reports whether e carries audio samples (G.711), as opposed to
// events.
func (e Encoding) IsAudio() bool { return e == EncodingPCMU || e == EncodingPCMA }

// parseEncoding maps an rtpmap encoding name (case-insensitive) to an Encoding.
func parseEncoding(name string) (Encoding, bool) {
	switch {
	case strings.EqualFold(name, "PCMU"):
		return EncodingPCMU, true
	case strings.EqualFold(name, "PCMA"):
		return EncodingPCMA, true
	case strings.EqualFold(name, "telephone-event"):
		return EncodingTelephoneEvent, true
	}
	return 0, false
}

// Codec is one payload type of an m= line bound to an encoding: what an
// a=rtpmap (and a=fmtp) line says, or the static assignment of RFC 3551 when
// there is none.
type Codec struct {
	// PayloadType is the RTP payload type, 0..127.
	PayloadType uint8
	// Encoding is the payload format.
	Encoding Encoding
	// ClockRate is the RTP clock rate in Hz; 8000 for everything this
	// package handles.
	ClockRate int
	// Fmtp holds the format parameters of the a=fmtp line, if any; for
	// telephone-event the events supported, such as "0-16".
	Fmtp string
}

// String formats c as the value of its a=rtpmap line, e.g. "0 PCMU/8000".
func (c Codec) String() string {
	return strconv.Itoa(int(c.PayloadType)) + " " + c.Encoding.String() + "/" + strconv.Itoa(c.ClockRate)
}

// The payload types this package uses when nothing else is negotiated.
const (
	// PayloadTypePCMU is the static payload type of G.711 μ-law.
	PayloadTypePCMU = 0
	// PayloadTypePCMA is the static payload type of G.711 A-law.
	PayloadTypePCMA = 8
	// PayloadTypeTelephoneEvent is the conventional dynamic payload type of
	// RFC 4733 telephone-event.
	PayloadTypeTelephoneEvent = 101
)

// DefaultCodecs returns the codecs offered and accepted when a configuration
// names none, in order of preference: PCMU/0, PCMA/8 and
// telephone-event/101 with events 0-16. It returns a new slice on each call.
func DefaultCodecs() []Codec {
	return []Codec{
		{PayloadType: PayloadTypePCMU, Encoding: EncodingPCMU, ClockRate: 8000},
		{PayloadType: PayloadTypePCMA, Encoding: EncodingPCMA, ClockRate: 8000},
		{PayloadType: PayloadTypeTelephoneEvent, Encoding: EncodingTelephoneEvent, ClockRate: 8000, Fmtp: "0-16"},
	}
}

// staticCodec returns the RFC 3551 static assignment of pt, for m= formats
// that come without an a=rtpmap line.
func staticCodec(pt uint8) (Codec, bool) {
	switch pt {
	case PayloadTypePCMU:
		return Codec{PayloadType: pt, Encoding: EncodingPCMU, ClockRate: 8000}, true
	case PayloadTypePCMA:
		return Codec{PayloadType: pt, Encoding: EncodingPCMA, ClockRate: 8000}, true
	}
	return Codec{}, false
}

// DecodePCMU decodes G.711 μ-law bytes into 16-bit linear PCM samples (one
// sample per byte) and returns the number of samples written:
// min(len(dst), len(src)). It does not allocate.
func DecodePCMU(dst []int16, src []byte) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, b := range src {
		dst[i] = g711.DecodeUlawFrame(b)
	}
	return n
}

// DecodePCMA decodes G.711 A-law bytes into 16-bit linear PCM samples and
// returns the number written: min(len(dst), len(src)). It does not allocate.
func DecodePCMA(dst []int16, src []byte) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, b := range src {
		dst[i] = g711.DecodeAlawFrame(b)
	}
	return n
}

// EncodePCMU encodes 16-bit linear PCM samples as G.711 μ-law and returns
// the number of bytes written: min(len(dst), len(src)). It does not allocate.
func EncodePCMU(dst []byte, src []int16) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, s := range src {
		dst[i] = g711.EncodeUlawFrame(s)
	}
	return n
}

// EncodePCMA encodes 16-bit linear PCM samples as G.711 A-law and returns
// the number of bytes written: min(len(dst), len(src)). It does not allocate.
func EncodePCMA(dst []byte, src []int16) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, s := range src {
		dst[i] = g711.EncodeAlawFrame(s)
	}
	return n
}

// decode dispatches to the G.711 decoder of e; it reports false for an
// encoding without samples.
func decode(e Encoding, dst []int16, src []byte) (int, bool) {
	switch e {
	case EncodingPCMU:
		return DecodePCMU(dst, src), true
	case EncodingPCMA:
		return DecodePCMA(dst, src), true
	}
	return 0, false
}

// encode dispatches to the G.711 encoder of e.
func encode(e Encoding, dst []byte, src []int16) (int, bool) {
	switch e {
	case EncodingPCMU:
		return EncodePCMU(dst, src), true
	case EncodingPCMA:
		return EncodePCMA(dst, src), true
	}
	return 0, false
}
