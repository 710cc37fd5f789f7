package media

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseSDPExamples(t *testing.T) {
	pcmu := Codec{PayloadType: 0, Encoding: EncodingPCMU, ClockRate: 8000}
	pcma := Codec{PayloadType: 8, Encoding: EncodingPCMA, ClockRate: 8000}
	tests := []struct {
		name  string
		check func(t *testing.T, d *SessionDescription)
	}{
		{"rfc4566", func(t *testing.T, d *SessionDescription) {
			want := []Media{
				{Type: "audio", Port: 49170, Protocol: "RTP/AVP", Formats: []string{"0"}, Codecs: []Codec{pcmu}, Address: netip.MustParseAddr("224.2.17.12"), Direction: RecvOnly},
				{Type: "video", Port: 51372, Protocol: "RTP/AVP", Formats: []string{"99"}, Address: netip.MustParseAddr("224.2.17.12"), Direction: RecvOnly, Attributes: []Attribute{{"rtpmap", "99 h263-1998/90000"}}},
			}
			if !reflect.DeepEqual(d.Media, want) {
				t.Errorf("media\n got %+v\nwant %+v", d.Media, want)
			}
			if d.Origin != (Origin{Username: "jdoe", SessionID: 2890844526, SessionVersion: 2890842807, Address: "10.47.16.5"}) || d.SessionName != "SDP Seminar" {
				t.Errorf("origin %+v name %q", d.Origin, d.SessionName)
			}
		}},
		{"rfc3264-offer", func(t *testing.T, d *SessionDescription) {
			if got := d.Media[0].Codecs; !reflect.DeepEqual(got, []Codec{pcmu, pcma}) {
				t.Errorf("codecs %v", got)
			}
			if got := d.Media[0].Attributes; !reflect.DeepEqual(got, []Attribute{{"rtpmap", "97 iLBC/8000"}}) {
				t.Errorf("kept attributes %v", got)
			}
			if d.SessionName != "-" && d.SessionName != " " && d.SessionName != "" {
				t.Errorf("session name %q", d.SessionName)
			}
		}},
		{"rfc3264-answer", func(t *testing.T, d *SessionDescription) {
			if !d.Media[1].Rejected() || d.Media[0].Rejected() {
				t.Error("rejected flags wrong")
			}
			if got := d.Media[0].RTPAddr(); got != netip.MustParseAddrPort("192.0.2.20:49174") {
				t.Errorf("RTPAddr %v", got)
			}
		}},
		{"rfc4733", func(t *testing.T, d *SessionDescription) {
			ev, ok := d.Media[0].EventCodec()
			if !ok || ev != (Codec{PayloadType: 101, Encoding: EncodingTelephoneEvent, ClockRate: 8000, Fmtp: "0-15"}) {
				t.Errorf("event codec %v %v", ev, ok)
			}
			if a, _ := d.Media[0].AudioCodec(); a != pcmu || d.Media[0].PTime != 20*time.Millisecond {
				t.Errorf("audio codec %v ptime %v", a, d.Media[0].PTime)
			}
		}},
		{"rfc7866-siprec", func(t *testing.T, d *SessionDescription) {
			var labels []string
			for _, m := range d.Media {
				labels = append(labels, fmt.Sprintf("%s:%s:%v:%d", m.Type, m.Label, m.Direction, len(m.Codecs)))
			}
			if got, want := strings.Join(labels, " "), "audio:1:sendonly:2 video:2:sendonly:0 audio:3:sendonly:2 video:4:sendonly:0"; got != want {
				t.Errorf("lines %s, want %s", got, want)
			}
			m, ok := d.MediaByLabel("3")
			if !ok || m.Port != 12242 {
				t.Errorf("MediaByLabel(3) = %+v %v", m, ok)
			}
			if _, ok := d.MediaByLabel("9"); ok {
				t.Error("MediaByLabel(9) found a line")
			}
		}},
		{"sipp-siprec", func(t *testing.T, d *SessionDescription) {
			if len(d.Media) != 2 || d.Media[1].Label != "2" || d.Media[1].Port != 6004 || d.Media[1].Direction != SendOnly {
				t.Errorf("media %+v", d.Media)
			}
		}},
		{"siprec-inactive-ipv6", func(t *testing.T, d *SessionDescription) {
			m0, m1 := d.Media[0], d.Media[1]
			if m0.Direction != Inactive || m1.Direction != SendOnly {
				t.Errorf("directions %v %v: the session-level one is the default", m0.Direction, m1.Direction)
			}
			if m0.Address != netip.MustParseAddr("2001:db8::2") || m1.Address != netip.MustParseAddr("2001:db8::1") {
				t.Errorf("addresses %v %v", m0.Address, m1.Address)
			}
			if m0.PTime != 30*time.Millisecond || m0.Label != "caller" {
				t.Errorf("ptime %v label %q", m0.PTime, m0.Label)
			}
			if !reflect.DeepEqual(m0.Attributes, []Attribute{{"maxptime", "60"}, {"rtcp", "30001"}}) {
				t.Errorf("kept %v", m0.Attributes)
			}
			if !reflect.DeepEqual(m0.Codecs, []Codec{pcma, pcmu, {PayloadType: 101, Encoding: EncodingTelephoneEvent, ClockRate: 8000, Fmtp: "0-16"}}) {
				t.Errorf("codecs %v", m0.Codecs)
			}
		}},
	}
	for _, tc := range tests {
		for _, eol := range []string{"LF", "CRLF"} {
			t.Run(tc.name+"/"+eol, func(t *testing.T) {
				body := sdpExamples[tc.name]
				if eol == "CRLF" {
					body = crlf(body)
				}
				d, err := ParseSDP([]byte(body))
				if err != nil {
					t.Fatal(err)
				}
				tc.check(t, d)
				checkRoundTrip(t, d)
			})
		}
	}
}

// checkRoundTrip marshals d, parses the result and expects d back.
func checkRoundTrip(t testing.TB, d *SessionDescription) {
	t.Helper()
	b, err := d.Marshal()
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	d2, err := ParseSDP(b)
	if err != nil {
		t.Fatalf("parsing our own output: %v\n%s", err, b)
	}
	if !reflect.DeepEqual(normalize(d), normalize(d2)) {
		t.Fatalf("round trip changed the description\nbefore %+v\nafter  %+v\nbody:\n%s", d, d2, b)
	}
}

// normalize makes nil and empty slices compare equal.
func normalize(d *SessionDescription) SessionDescription {
	c := *d
	if len(c.Attributes) == 0 {
		c.Attributes = nil
	}
	c.Media = append([]Media(nil), d.Media...)
	for i := range c.Media {
		m := &c.Media[i]
		if len(m.Attributes) == 0 {
			m.Attributes = nil
		}
		if len(m.Codecs) == 0 {
			m.Codecs = nil
		}
		if len(m.Formats) == 0 {
			m.Formats = nil
		}
	}
	if len(c.Media) == 0 {
		c.Media = nil
	}
	return c
}

func TestParseSDPErrors(t *testing.T) {
	const head = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n"
	tests := []struct {
		name, body, mention string
	}{
		{"empty", "", ""},
		{"not SDP", "hello world", ""},
		{"no version", "o=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n", ""},
		{"host name in c=", head + "c=IN IP4 host.atlanta.example.com\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n", "host.atlanta.example.com"},
		{"bad media c=", head + "c=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP4 300.1.1.1\r\n", "300.1.1.1"},
		{"port not a number", head + "c=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio abc RTP/AVP 0\r\n", "abc"},
		{"port out of range", head + "c=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 70000 RTP/AVP 0\r\n", "70000"},
		{"no formats", head + "c=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP\r\n", "m-line 0"},
		{"no connection address", head + "t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n", "no c= line"},
		{"second m-line broken", head + "c=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\nm=audio 4002 RTP/AVP\r\n", "m-line 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSDP([]byte(tc.body))
			if !errors.Is(err, ErrMalformedSDP) {
				t.Fatalf("err = %v, want ErrMalformedSDP", err)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %q does not name %q", err, tc.mention)
			}
		})
	}
}

func TestMarshalSDPErrors(t *testing.T) {
	addr := netip.MustParseAddr("192.0.2.1")
	good := func() *SessionDescription {
		return &SessionDescription{Address: addr, Media: []Media{{Type: "audio", Port: 4000, Codecs: DefaultCodecs()}}}
	}
	tests := []struct {
		name    string
		mutate  func(d *SessionDescription)
		mention string
	}{
		{"label with a line break", func(d *SessionDescription) { d.Media[0].Label = "1\r\nm=video 1 RTP/AVP 0" }, "label"},
		{"attribute with a line break", func(d *SessionDescription) { d.Media[0].Attributes = []Attribute{{"x", "a\nb"}} }, "attribute x"},
		{"attribute name with a colon", func(d *SessionDescription) { d.Attributes = []Attribute{{"a:b", ""}} }, "a:b"},
		{"session name with a line break", func(d *SessionDescription) { d.SessionName = "x\ny" }, "session name"},
		{"username with a space", func(d *SessionDescription) { d.Origin.Username = "a b" }, "a b"},
		{"no media type", func(d *SessionDescription) { d.Media[0].Type = "" }, "media type"},
		{"port out of range", func(d *SessionDescription) { d.Media[0].Port = 65536 }, "65536"},
		{"no formats", func(d *SessionDescription) { d.Media[0].Codecs = nil }, "no formats"},
		{"codec not in formats", func(d *SessionDescription) { d.Media[0].Formats = []string{"0"} }, "not in the format list"},
		{"no address", func(d *SessionDescription) { d.Address = netip.Addr{} }, "no connection address"},
		{"sub-millisecond ptime", func(d *SessionDescription) { d.Media[0].PTime = 2500 * time.Microsecond }, "ptime"},
		{"bad direction", func(d *SessionDescription) { d.Media[0].Direction = 9 }, "direction"},
	}
	if _, err := good().Marshal(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := good()
			tc.mutate(d)
			_, err := d.Marshal()
			if !errors.Is(err, ErrMalformedSDP) || !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("err = %v, want ErrMalformedSDP naming %q", err, tc.mention)
			}
		})
	}
}

// TestBuildOffer builds what a SIPREC client offers and checks the exact
// body.
func TestBuildOffer(t *testing.T) {
	offer := &SessionDescription{
		Origin:  Origin{Username: "voicegw", SessionID: 42, SessionVersion: 1},
		Address: netip.MustParseAddr("192.0.2.5"),
		Media: []Media{
			{Type: "audio", Port: 10000, Codecs: DefaultCodecs(), PTime: 20 * time.Millisecond, Label: "1", Direction: SendOnly},
			{Type: "audio", Port: 10002, Codecs: DefaultCodecs(), PTime: 20 * time.Millisecond, Label: "2", Direction: SendOnly},
		},
	}
	b, err := offer.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := crlf(`v=0
o=voicegw 42 1 IN IP4 192.0.2.5
s=-
c=IN IP4 192.0.2.5
t=0 0
m=audio 10000 RTP/AVP 0 8 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=label:1
a=sendonly
m=audio 10002 RTP/AVP 0 8 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=label:2
a=sendonly
`)
	if string(b) != want {
		t.Errorf("offer\n%s\nwant\n%s", b, want)
	}
	// The pause re-offer: same session, next version, inactive.
	offer.Origin.SessionVersion++
	for i := range offer.Media {
		offer.Media[i].Direction = Inactive
	}
	b, err = offer.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "o=voicegw 42 2 IN IP4") || strings.Count(string(b), "a=inactive\r\n") != 2 {
		t.Errorf("re-offer\n%s", b)
	}
}

func TestDirection(t *testing.T) {
	for _, tc := range []struct {
		d, mirror Direction
		send, rcv bool
	}{
		{SendRecv, SendRecv, true, true},
		{SendOnly, RecvOnly, true, false},
		{RecvOnly, SendOnly, false, true},
		{Inactive, Inactive, false, false},
	} {
		if tc.d.Mirror() != tc.mirror || tc.d.Sends() != tc.send || tc.d.Receives() != tc.rcv {
			t.Errorf("%v: mirror %v sends %v receives %v", tc.d, tc.d.Mirror(), tc.d.Sends(), tc.d.Receives())
		}
		if d, ok := parseDirection(tc.d.String()); !ok || d != tc.d {
			t.Errorf("parseDirection(%q) = %v", tc.d, d)
		}
	}
}
