package media

import "strings"

// SDP bodies used by the tests and as fuzz seeds. Where an RFC example names
// hosts (host.atlanta.example.com), the host names are replaced by
// documentation addresses: this package accepts IP addresses only in c=.
var sdpExamples = map[string]string{
	// RFC 4566 §5, the example session description (multicast, audio+video).
	"rfc4566": `v=0
o=jdoe 2890844526 2890842807 IN IP4 10.47.16.5
s=SDP Seminar
i=A Seminar on the session description protocol
u=http://www.example.com/seminars/sdp.pdf
e=j.doe@example.com (Jane Doe)
c=IN IP4 224.2.17.12/127
t=2873397496 2873404696
a=recvonly
m=audio 49170 RTP/AVP 0
m=video 51372 RTP/AVP 99
a=rtpmap:99 h263-1998/90000
`,
	// RFC 3264 §10.1, Alice's offer: audio (PCMU, telephone-event) and video.
	"rfc3264-offer": `v=0
o=alice 2890844526 2890844526 IN IP4 192.0.2.10
s=
c=IN IP4 192.0.2.10
t=0 0
m=audio 49170 RTP/AVP 0 8 97
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:97 iLBC/8000
m=video 51372 RTP/AVP 31 32
a=rtpmap:31 H261/90000
a=rtpmap:32 MPV/90000
`,
	// RFC 3264 §10.1, Bob's answer: video rejected with port 0.
	"rfc3264-answer": `v=0
o=bob 2808844564 2808844564 IN IP4 192.0.2.20
s=
c=IN IP4 192.0.2.20
t=0 0
m=audio 49174 RTP/AVP 0
a=rtpmap:0 PCMU/8000
m=video 0 RTP/AVP 32
a=rtpmap:32 MPV/90000
`,
	// RFC 4733 §7.1.1 style: PCMU with telephone-event on payload type 101.
	"rfc4733": `v=0
o=- 1 1 IN IP4 192.0.2.30
s=-
c=IN IP4 192.0.2.30
t=0 0
m=audio 49170 RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=ptime:20
`,
	// RFC 7866 §8.1.1 shape: a SIPREC offer, two audio and two video streams,
	// each labelled and sendonly.
	"rfc7866-siprec": `v=0
o=SRC 2890844526 2890844526 IN IP4 198.51.100.1
s=-
c=IN IP4 198.51.100.1
t=0 0
m=audio 12240 RTP/AVP 0 4 8
a=sendonly
a=label:1
m=video 22456 RTP/AVP 98
a=rtpmap:98 H264/90000
a=fmtp:98 profile-level-id=42A01E;
a=sendonly
a=label:2
m=audio 12242 RTP/AVP 0 4 8
a=sendonly
a=label:3
m=video 22458 RTP/AVP 98
a=rtpmap:98 H264/90000
a=fmtp:98 profile-level-id=42A01E;
a=sendonly
a=label:4
`,
	// What sipp's SIPREC scenario offers: two labelled sendonly PCMU streams.
	"sipp-siprec": `v=0
o=SRC 2890844526 2890844526 IN IP4 127.0.0.1
s=SIPREC
c=IN IP4 127.0.0.1
t=0 0
m=audio 6000 RTP/AVP 0
a=rtpmap:0 PCMU/8000
a=ptime:20
a=label:1
a=sendonly
m=audio 6004 RTP/AVP 0
a=rtpmap:0 PCMU/8000
a=ptime:20
a=label:2
a=sendonly
`,
	// A SIPREC re-offer pausing the recording, IPv6, media-level c=, extra
	// attributes, session-level direction.
	"siprec-inactive-ipv6": `v=0
o=- 7 8 IN IP6 2001:db8::1
s=-
c=IN IP6 2001:db8::1
t=0 0
a=inactive
m=audio 30000 RTP/AVP 8 0 101
c=IN IP6 2001:db8::2
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:30
a=maxptime:60
a=rtcp:30001
a=label:caller
m=audio 30002 RTP/AVP 8
a=label:callee
a=sendonly
`,
}

// crlf converts an example to CRLF line endings.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }
