package media

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

var answerAddr = netip.MustParseAddr("192.0.2.99")

// ports answers every accepted line with 20000+2i and records the calls.
func ports(calls *[]int) func(int, *Media) (int, error) {
	return func(i int, _ *Media) (int, error) {
		*calls = append(*calls, i)
		return 20000 + 2*i, nil
	}
}

// summary renders an answer's lines as "port type label dir codecs ptime".
func summary(d *SessionDescription) string {
	var lines []string
	for _, m := range d.Media {
		var pts []string
		for _, c := range m.Codecs {
			pts = append(pts, fmt.Sprint(c.PayloadType))
		}
		codecs := strings.Join(pts, ",")
		if codecs == "" {
			codecs = "fmt:" + strings.Join(m.Formats, ",")
		}
		lines = append(lines, fmt.Sprintf("%d %s %s %v %s %v", m.Port, m.Type, m.Label, m.Direction, codecs, m.PTime))
	}
	return strings.Join(lines, " | ")
}

func TestAnswer(t *testing.T) {
	offerLine := func(dir string, formats string, extra ...string) string {
		body := "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP " + formats + "\r\n"
		for _, e := range extra {
			body += e + "\r\n"
		}
		if dir != "" {
			body += "a=" + dir + "\r\n"
		}
		return body
	}
	tests := []struct {
		name  string
		offer string
		cfg   AnswerConfig
		want  string
		calls string
	}{
		{"sendonly mirrors to recvonly", offerLine("sendonly", "0"), AnswerConfig{}, "20000 audio  recvonly 0 0s", "[0]"},
		{"recvonly mirrors to sendonly", offerLine("recvonly", "0"), AnswerConfig{}, "20000 audio  sendonly 0 0s", "[0]"},
		{"sendrecv mirrors to sendrecv", offerLine("sendrecv", "0"), AnswerConfig{}, "20000 audio  sendrecv 0 0s", "[0]"},
		{"no direction is sendrecv", offerLine("", "0"), AnswerConfig{}, "20000 audio  sendrecv 0 0s", "[0]"},
		{"inactive mirrors to inactive", offerLine("inactive", "0"), AnswerConfig{}, "20000 audio  inactive 0 0s", "[0]"},
		{"recorder: sendrecv answered recvonly", offerLine("sendrecv", "0"), AnswerConfig{Direction: RecvOnly}, "20000 audio  recvonly 0 0s", "[0]"},
		{"recorder: sendonly answered recvonly", offerLine("sendonly", "0"), AnswerConfig{Direction: RecvOnly}, "20000 audio  recvonly 0 0s", "[0]"},
		{"recorder: recvonly answered inactive", offerLine("recvonly", "0"), AnswerConfig{Direction: RecvOnly}, "20000 audio  inactive 0 0s", "[0]"},
		{"recorder: inactive stays inactive", offerLine("inactive", "0"), AnswerConfig{Direction: RecvOnly}, "20000 audio  inactive 0 0s", "[0]"},
		{"offer's codec order kept", offerLine("sendonly", "8 18 0 101", "a=rtpmap:101 telephone-event/8000"), AnswerConfig{}, "20000 audio  recvonly 8,0,101 0s", "[0]"},
		{"only supported codecs", offerLine("sendonly", "0 8"), AnswerConfig{Codecs: []Codec{{Encoding: EncodingPCMA}}}, "20000 audio  recvonly 8 0s", "[0]"},
		{"dynamic payload types kept", offerLine("sendonly", "96 97", "a=rtpmap:96 PCMA/8000", "a=rtpmap:97 telephone-event/8000"), AnswerConfig{}, "20000 audio  recvonly 96,97 0s", "[0]"},
		{"ptime kept", offerLine("sendonly", "0", "a=ptime:30"), AnswerConfig{}, "20000 audio  recvonly 0 30ms", "[0]"},
		{"telephone-event/16000 not accepted", offerLine("sendonly", "0 101", "a=rtpmap:101 telephone-event/16000"), AnswerConfig{}, "20000 audio  recvonly 0 0s", "[0]"},
		{
			"SIPREC: audio accepted, video rejected, labels kept",
			sdpExamples["rfc7866-siprec"], AnswerConfig{Direction: RecvOnly},
			"20000 audio 1 recvonly 0,8 0s | 0 video 2 inactive fmt:98 0s | 20004 audio 3 recvonly 0,8 0s | 0 video 4 inactive fmt:98 0s",
			"[0 2]",
		},
		{
			"SIPREC: sipp's two streams",
			sdpExamples["sipp-siprec"], AnswerConfig{Direction: RecvOnly},
			"20000 audio 1 recvonly 0 20ms | 20002 audio 2 recvonly 0 20ms",
			"[0 1]",
		},
		{
			"SIPREC: initial inactive offer accepted (starts paused)",
			sdpExamples["siprec-inactive-ipv6"], AnswerConfig{Direction: RecvOnly},
			"20000 audio caller inactive 8,0,101 30ms | 20002 audio callee recvonly 8 0s",
			"[0 1]",
		},
		{
			"unusable line rejected, the other accepted",
			"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18\r\na=label:a\r\nm=audio 0 RTP/AVP 0\r\na=label:b\r\nm=audio 4004 RTP/SAVP 0\r\na=label:c\r\nm=audio 4006 RTP/AVP 0\r\na=label:d\r\n",
			AnswerConfig{},
			"0 audio a inactive fmt:18 0s | 0 audio b inactive 0 0s | 0 audio c inactive 0 0s | 20006 audio d sendrecv 0 0s",
			"[3]",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			offer, err := ParseSDP([]byte(tc.offer))
			if err != nil {
				t.Fatal(err)
			}
			var calls []int
			cfg := tc.cfg
			cfg.Address = answerAddr
			cfg.Port = ports(&calls)
			ans, err := Answer(offer, cfg)
			if err != nil {
				t.Fatal(err)
			}
			// The answer as the far end sees it: marshal and parse back.
			b, err := ans.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			back, err := ParseSDP(b)
			if err != nil {
				t.Fatalf("%v\n%s", err, b)
			}
			if got := summary(back); got != tc.want {
				t.Errorf("answer\n got %s\nwant %s\n%s", got, tc.want, b)
			}
			if got := fmt.Sprint(calls); got != tc.calls {
				t.Errorf("Port called for %s, want %s", got, tc.calls)
			}
			if back.Address != answerAddr || len(back.Media) != len(offer.Media) {
				t.Errorf("address %v, %d lines for %d offered", back.Address, len(back.Media), len(offer.Media))
			}
		})
	}
}

// TestAnswerBody checks the exact answer a SIPREC server sends to sipp.
func TestAnswerBody(t *testing.T) {
	offer, err := ParseSDP([]byte(sdpExamples["sipp-siprec"]))
	if err != nil {
		t.Fatal(err)
	}
	var calls []int
	ans, err := Answer(offer, AnswerConfig{
		Address:   answerAddr,
		Origin:    Origin{Username: "voicegw", SessionID: 7, SessionVersion: 1},
		Direction: RecvOnly,
		Port:      ports(&calls),
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := ans.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := crlf(`v=0
o=voicegw 7 1 IN IP4 192.0.2.99
s=-
c=IN IP4 192.0.2.99
t=0 0
m=audio 20000 RTP/AVP 0
a=rtpmap:0 PCMU/8000
a=ptime:20
a=label:1
a=recvonly
m=audio 20002 RTP/AVP 0
a=rtpmap:0 PCMU/8000
a=ptime:20
a=label:2
a=recvonly
`)
	if string(b) != want {
		t.Errorf("answer\n%s\nwant\n%s", b, want)
	}
}

func TestAnswerErrors(t *testing.T) {
	g729, err := ParseSDP([]byte("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18 101\r\na=rtpmap:18 G729/8000\r\na=rtpmap:101 telephone-event/8000\r\na=label:1\r\nm=video 4002 RTP/AVP 96\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	sipp, err := ParseSDP([]byte(sdpExamples["sipp-siprec"]))
	if err != nil {
		t.Fatal(err)
	}
	noPort := func(int, *Media) (int, error) { return 0, fmt.Errorf("pool: %w", ErrNoFreePort) }
	okPort := func(int, *Media) (int, error) { return 30000, nil }
	tests := []struct {
		name    string
		offer   *SessionDescription
		cfg     AnswerConfig
		is      error
		mention []string
	}{
		{"no usable codec", g729, AnswerConfig{Address: answerAddr, Port: okPort}, ErrNoUsableCodec, []string{"m-line 0 (audio 1)", "18 101", "m-line 1 (video ): not audio"}},
		{"no m-lines", &SessionDescription{}, AnswerConfig{Address: answerAddr, Port: okPort}, ErrNoUsableCodec, []string{"no m= lines"}},
		{"only PCMA supported", sipp, AnswerConfig{Address: answerAddr, Port: okPort, Codecs: []Codec{{Encoding: EncodingPCMA}}}, ErrNoUsableCodec, []string{"m-line 1 (audio 2)"}},
		{"no free port", sipp, AnswerConfig{Address: answerAddr, Port: noPort}, ErrNoFreePort, []string{"m-line 0", `label "1"`}},
		{"bad port", sipp, AnswerConfig{Address: answerAddr, Port: func(int, *Media) (int, error) { return 70000, nil }}, ErrInvalidConfig, []string{"70000"}},
		{"no address", sipp, AnswerConfig{Port: okPort}, ErrInvalidConfig, []string{"Address"}},
		{"no port function", sipp, AnswerConfig{Address: answerAddr}, ErrInvalidConfig, []string{"Port"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Answer(tc.offer, tc.cfg)
			if !errors.Is(err, tc.is) {
				t.Fatalf("err = %v, want %v", err, tc.is)
			}
			for _, m := range tc.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not say %q", err, m)
				}
			}
		})
	}
}

// TestAnswerReinvite answers a re-INVITE that pauses the recording with the
// ports the streams already have.
func TestAnswerReinvite(t *testing.T) {
	offer, err := ParseSDP([]byte(sdpExamples["sipp-siprec"]))
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]int{"1": 31000, "2": 31002}
	for i := range offer.Media {
		offer.Media[i].Direction = Inactive
	}
	ans, err := Answer(offer, AnswerConfig{
		Address:   answerAddr,
		Origin:    Origin{SessionID: 5, SessionVersion: 2},
		Direction: RecvOnly,
		Port:      func(_ int, m *Media) (int, error) { return have[m.Label], nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := summary(ans), "31000 audio 1 inactive 0 20ms | 31002 audio 2 inactive 0 20ms"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if ans.Origin.SessionID != 5 || ans.Origin.SessionVersion != 2 {
		t.Errorf("origin %+v", ans.Origin)
	}
}
