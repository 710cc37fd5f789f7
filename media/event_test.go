package media

import (
	"errors"
	"io"
	"testing"
)

func TestDigits(t *testing.T) {
	const digits = "0123456789*#ABCD"
	for i, d := range digits {
		ev, ok := DigitEvent(d)
		if !ok || ev != uint8(i) || EventDigit(ev) != d {
			t.Errorf("%c: event %d %v, back %c", d, ev, ok, EventDigit(ev))
		}
	}
	if ev, ok := DigitEvent('b'); !ok || ev != 13 {
		t.Errorf("lower-case b: %d %v", ev, ok)
	}
	for _, r := range "xE!/ " {
		if _, ok := DigitEvent(r); ok {
			t.Errorf("%q accepted as a digit", r)
		}
	}
	if EventDigit(16) != 0 || EventDigit(200) != 0 {
		t.Error("flash or an unknown event has a digit")
	}
}

func TestTelephoneEventErrors(t *testing.T) {
	if _, err := (TelephoneEvent{Volume: 64}).Marshal(); !errors.Is(err, ErrMalformedPacket) {
		t.Errorf("volume 64: %v", err)
	}
	if _, err := (TelephoneEvent{}).MarshalTo(make([]byte, 3)); !errors.Is(err, io.ErrShortBuffer) {
		t.Errorf("short buffer: %v", err)
	}
	var e TelephoneEvent
	if err := e.Unmarshal([]byte{1, 2, 3}); !errors.Is(err, ErrMalformedPacket) {
		t.Errorf("3 bytes: %v", err)
	}
}

// TestShortEventPayloadIsMalformed: a telephone-event packet whose payload
// is shorter than 4 bytes is counted as malformed and does not disturb the
// stream.
func TestShortEventPayloadIsMalformed(t *testing.T) {
	s, rec := newTestStream(t, 0)
	s.process(rtpPacket(t, ssrcA, 1, 0, 0, false, pattern(1, 160)), srcAddr, s.st.LastArrival)
	s.process(rtpPacket(t, ssrcA, 2, 160, PayloadTypeTelephoneEvent, true, []byte{1, 2}), srcAddr, s.st.LastArrival)
	s.process(rtpPacket(t, ssrcA, 3, 160, 0, false, pattern(3, 160)), srcAddr, s.st.LastArrival)
	s.flush()
	if got := rec.Trace(); got != "a1@0 a3@160" {
		t.Errorf("trace %q", got)
	}
	if st := s.stats(); st.Malformed != 1 || st.DTMFEvents != 0 || st.Lost != 0 {
		t.Errorf("stats %+v", st)
	}
}
