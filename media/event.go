package media

import (
	"encoding/binary"
	"fmt"
	"io"
)

// TelephoneEvent is the payload of an RFC 4733 telephone-event RTP packet
// (§2.3), which carries DTMF digits and other named events. Every packet of
// one key press has the same RTP timestamp (the start of the event) and a
// growing Duration; the last one has End set and is sent three times
// (§2.5.1.4).
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     event     |E|R| volume    |          duration             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
type TelephoneEvent struct {
	// Event is the event code: 0-9 the digits, 10 '*', 11 '#', 12-15 A-D,
	// 16 flash (RFC 4733 §3.2).
	Event uint8
	// End is the E bit: this packet ends the event.
	End bool
	// Volume is the power level in -dBm0, 0..63 (6 bits).
	Volume uint8
	// Duration is the duration of the event so far, in RTP timestamp units.
	Duration uint16
}

// telephoneEventSize is the size of one event on the wire.
const telephoneEventSize = 4

// MarshalSize returns the size of the payload: 4 bytes.
func (e TelephoneEvent) MarshalSize() int { return telephoneEventSize }

// MarshalTo writes the payload into buf and returns the bytes written. It
// returns io.ErrShortBuffer when buf is shorter than 4 bytes and an error
// wrapping ErrMalformedPacket when Volume does not fit in 6 bits.
func (e TelephoneEvent) MarshalTo(buf []byte) (int, error) {
	if len(buf) < telephoneEventSize {
		return 0, io.ErrShortBuffer
	}
	if e.Volume > 63 {
		return 0, fmt.Errorf("%w: telephone-event volume %d does not fit in 6 bits", ErrMalformedPacket, e.Volume)
	}
	buf[0] = e.Event
	buf[1] = e.Volume
	if e.End {
		buf[1] |= 0x80
	}
	binary.BigEndian.PutUint16(buf[2:], e.Duration)
	return telephoneEventSize, nil
}

// Marshal returns the payload as a new 4-byte slice.
func (e TelephoneEvent) Marshal() ([]byte, error) {
	buf := make([]byte, telephoneEventSize)
	if _, err := e.MarshalTo(buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// Unmarshal parses the first event of buf. The reserved R bit is ignored, as
// RFC 4733 asks of receivers; bytes after the first 4 are ignored. A buffer
// shorter than 4 bytes gives an error wrapping ErrMalformedPacket.
func (e *TelephoneEvent) Unmarshal(buf []byte) error {
	if len(buf) < telephoneEventSize {
		return fmt.Errorf("%w: telephone-event payload of %d bytes, need %d", ErrMalformedPacket, len(buf), telephoneEventSize)
	}
	e.Event = buf[0]
	e.End = buf[1]&0x80 != 0
	e.Volume = buf[1] & 0x3f
	e.Duration = binary.BigEndian.Uint16(buf[2:])
	return nil
}

// EventDigit returns the DTMF character of an event code: '0'-'9', '*',
// '#', 'A'-'D', or 0 for codes that are not DTMF digits (16 is flash).
func EventDigit(event uint8) rune {
	switch {
	case event <= 9:
		return rune('0' + event)
	case event == 10:
		return '*'
	case event == 11:
		return '#'
	case event >= 12 && event <= 15:
		return rune('A' + event - 12)
	}
	return 0
}

// DigitEvent returns the event code of a DTMF character ('0'-'9', '*', '#',
// 'A'-'D', or 'a'-'d').
func DigitEvent(digit rune) (uint8, bool) {
	switch {
	case digit >= '0' && digit <= '9':
		return uint8(digit - '0'), true
	case digit == '*':
		return 10, true
	case digit == '#':
		return 11, true
	case digit >= 'A' && digit <= 'D':
		return uint8(12 + digit - 'A'), true
	case digit >= 'a' && digit <= 'd':
		return uint8(12 + digit - 'a'), true
	}
	return 0, false
}
