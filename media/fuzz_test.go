package media

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// FuzzSDP: whatever parses marshals, and parses back to the same
// description; an answer to it, when there is one, marshals, parses back,
// mirrors the offer line by line and only uses offered payload types.
func FuzzSDP(f *testing.F) {
	for _, body := range sdpExamples {
		f.Add([]byte(body))
		f.Add([]byte(crlf(body)))
	}
	for _, c := range cryptoExamples { // SRTP offers (RFC 4568)
		f.Add([]byte("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/SAVP 0\r\na=crypto:" + c + "\r\na=crypto:9 AES_CM_128_HMAC_SHA1_32 inline:" + rfcKey2 + "\r\n"))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := ParseSDP(body)
		if err != nil {
			return
		}
		checkRoundTrip(t, d)
		checkSDESAnswer(t, d)
		ans, err := Answer(d, AnswerConfig{
			Address:   netip.MustParseAddr("192.0.2.99"),
			Direction: RecvOnly,
			Port:      func(i int, _ *Media) (int, error) { return 20000 + 2*i, nil },
		})
		if err != nil {
			return
		}
		checkRoundTrip(t, ans)
		if len(ans.Media) != len(d.Media) {
			t.Fatalf("%d answer lines for %d offered", len(ans.Media), len(d.Media))
		}
		for i, am := range ans.Media {
			om := d.Media[i]
			if am.Label != om.Label || am.Type != om.Type {
				t.Fatalf("line %d: label/type %q/%q for %q/%q", i, am.Label, am.Type, om.Label, om.Type)
			}
			if am.Rejected() {
				continue
			}
			if am.Direction.Sends() || am.Direction.Receives() != om.Direction.Sends() {
				t.Fatalf("line %d: %v answers %v", i, am.Direction, om.Direction)
			}
			for _, c := range am.Codecs {
				if !containsFormat(om.Formats, c.PayloadType) {
					t.Fatalf("line %d: answered payload type %d was not offered", i, c.PayloadType)
				}
			}
			if _, ok := am.AudioCodec(); !ok {
				t.Fatalf("line %d accepted without an audio codec", i)
			}
		}
	})
}

// checkSDESAnswer: an answer with SDES, when there is one, marshals and
// parses back; each accepted RTP/SAVP line holds one usable a=crypto line
// with the tag and suite of an offered one and a key of its own, and the
// offerer's check of it (NegotiatedSDES) passes; every other accepted line
// is in clear without a=crypto.
func checkSDESAnswer(t *testing.T, d *SessionDescription) {
	t.Helper()
	ans, err := Answer(d, AnswerConfig{
		Address: netip.MustParseAddr("192.0.2.99"), Direction: RecvOnly, SDES: &SDESConfig{},
		Port: func(i int, _ *Media) (int, error) { return 20000 + 2*i, nil },
	})
	if err != nil {
		return
	}
	checkRoundTrip(t, ans)
	for i := range ans.Media {
		am, om := &ans.Media[i], &d.Media[i]
		switch {
		case am.Rejected():
			continue
		case am.Protocol != om.Protocol:
			t.Fatalf("line %d: %s answered with %s", i, om.Protocol, am.Protocol)
		case am.Protocol != ProtoSRTP:
			if len(am.Crypto) != 0 {
				t.Fatalf("line %d: a=crypto in a clear answer", i)
			}
			continue
		}
		keys, err := NegotiatedSDES(om, am)
		if err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if keys.Offer.Keys[0].Key.Equal(keys.Answer.Keys[0].Key) {
			t.Fatalf("line %d: the answer reuses the offer's key", i)
		}
	}
}

// FuzzTelephoneEvent: a payload that unmarshals marshals back to its first
// four bytes with the reserved bit cleared, and a round trip gives the same
// event.
func FuzzTelephoneEvent(f *testing.F) {
	// RFC 4733 §2.3 layout; the digit "1" of the §5 example (volume 10,
	// durations growing by 400, then the end bit), and flash.
	for _, seed := range [][]byte{
		{1, 10, 0x01, 0x90}, {1, 10, 0x03, 0x20}, {1, 0x8a, 0x06, 0x40},
		{16, 0x80 | 0x3f, 0xff, 0xff}, {5, 0x40, 0, 160}, {0, 0, 0}, {11, 10, 0, 160, 9, 9},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var e TelephoneEvent
		if err := e.Unmarshal(b); err != nil {
			if len(b) >= 4 {
				t.Fatalf("4 or more bytes refused: %v", err)
			}
			return
		}
		out, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		want := append([]byte(nil), b[:4]...)
		want[1] &^= 0x40
		if !bytes.Equal(out, want) {
			t.Fatalf("marshal % x, want % x", out, want)
		}
		var e2 TelephoneEvent
		if err := e2.Unmarshal(out); err != nil || e2 != e {
			t.Fatalf("round trip %+v → %+v (%v)", e, e2, err)
		}
		if e.MarshalSize() != len(out) {
			t.Fatal("MarshalSize disagrees with Marshal")
		}
	})
}

// rtpSeeds are RTP datagrams in the shapes of RFC 3550 §5.1 (plain, CSRCs,
// padding, header extension) and RFC 4733 (telephone-event), as fuzz seeds.
func rtpSeeds(t testing.TB) [][]byte {
	mk := func(p rtp.Packet) []byte {
		p.Version = 2
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ext := rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 7, Timestamp: 160, SSRC: 1}
	_ = ext.SetExtension(1, []byte{0xAA})
	return [][]byte{
		mk(rtp.Packet{Header: rtp.Header{PayloadType: 0, SequenceNumber: 1, Timestamp: 0, SSRC: 0xCA110000, Marker: true}, Payload: pattern(1, 160)}),
		mk(rtp.Packet{Header: rtp.Header{PayloadType: 8, SequenceNumber: 65535, Timestamp: 1<<32 - 160, SSRC: 9, CSRC: []uint32{1, 2}}, Payload: pattern(2, 160)}),
		mk(rtp.Packet{Header: rtp.Header{PayloadType: 0, SequenceNumber: 3, Timestamp: 320, SSRC: 9, Padding: true}, Payload: pattern(3, 80), PaddingSize: 4}),
		mk(rtp.Packet{Header: ext, Payload: pattern(7, 160)}),
		mk(rtp.Packet{Header: rtp.Header{PayloadType: 101, SequenceNumber: 4, Timestamp: 480, SSRC: 9, Marker: true}, Payload: []byte{1, 10, 0x01, 0x90}}),
		mk(rtp.Packet{Header: rtp.Header{PayloadType: 101, SequenceNumber: 5, Timestamp: 480, SSRC: 9}, Payload: []byte{1, 0x8a, 0x06, 0x40}}),
		{0x81, 201, 0, 1, 0, 0, 0, 9},
		{0x80, 0, 0},
	}
}

// FuzzRTP: the RTP parsing the receiver relies on round-trips (what pion
// parses marshals back to a packet that parses to the same header and
// payload), and any datagram fed to the receive path keeps its invariants:
// no panic, a continuous timeline, statistics that add up.
func FuzzRTP(f *testing.F) {
	for _, s := range rtpSeeds(f) {
		f.Add(s)
	}
	f.Add(bytes.Join(rtpSeeds(f), nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		var p rtp.Packet
		if err := p.Unmarshal(data); err == nil && p.Version == 2 {
			p.Padding, p.PaddingSize, p.Header.PaddingSize = false, 0, 0
			b, err := p.Marshal()
			if err != nil {
				t.Fatalf("marshal of a parsed packet: %v", err)
			}
			var q rtp.Packet
			if err := q.Unmarshal(b); err != nil {
				t.Fatalf("reparse: %v", err)
			}
			if q.SequenceNumber != p.SequenceNumber || q.Timestamp != p.Timestamp || q.SSRC != p.SSRC ||
				q.PayloadType != p.PayloadType || q.Marker != p.Marker || !bytes.Equal(q.Payload, p.Payload) ||
				!reflect.DeepEqual(q.CSRC, p.CSRC) {
				t.Fatalf("round trip changed the packet: %+v → %+v", p.Header, q.Header)
			}
		}

		// The receive path: the input is one datagram, or several prefixed
		// by a 2-byte length each when it starts with 0xFF.
		s, rec := newTestStream(t, 3)
		at := time.Unix(1700000000, 0)
		fed := 0
		feed := func(b []byte) {
			fed++
			at = at.Add(20 * time.Millisecond)
			s.process(b, srcAddr, at)
		}
		if len(data) > 0 && data[0] == 0xFF {
			rest := data[1:]
			for len(rest) >= 2 {
				n := int(binary.BigEndian.Uint16(rest))
				rest = rest[2:]
				n = min(n, len(rest))
				feed(rest[:n])
				rest = rest[n:]
			}
		} else {
			feed(data)
		}
		s.expire(at.Add(time.Hour))
		s.flush()
		rec.check(t)
		st := s.stats()
		if st.Datagrams != uint64(fed) || st.Received > uint64(fed) || st.Duplicates > st.Received {
			t.Fatalf("stats %+v after %d datagrams", st, fed)
		}
		if st.Samples+st.GapSamples != rec.pos {
			t.Fatalf("samples %d + gaps %d != timeline %d", st.Samples, st.GapSamples, rec.pos)
		}
	})
}
