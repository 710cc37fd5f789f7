package siprec_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/voicegw/voicegw/siprec"
	"github.com/voicegw/voicegw/siprec/metadata"
)

// A recording server reads the body of a SIPREC INVITE: the SDP offer and the
// metadata, which it keeps as the session's state.
func ExampleParseBody() {
	contentType := "multipart/mixed;boundary=foobar"
	body := strings.ReplaceAll(`--foobar
Content-Type: application/sdp

v=0
o=SRC 1 1 IN IP4 192.0.2.10
s=-
c=IN IP4 192.0.2.10
t=0 0
m=audio 6000 RTP/AVP 0
a=label:1
a=sendonly
m=audio 6002 RTP/AVP 0
a=label:2
a=sendonly

--foobar
Content-Type: application/rs-metadata+xml
Content-Disposition: recording-session

<recording xmlns='urn:ietf:params:xml:ns:recording:1'>
 <participant participant_id="pA"><nameID aor="sip:alice@example.com"/></participant>
 <participant participant_id="pB"><nameID aor="sip:bob@example.com"/></participant>
 <stream stream_id="s1"><label>1</label></stream>
 <stream stream_id="s2"><label>2</label></stream>
 <participantstreamassoc participant_id="pA"><send>s1</send></participantstreamassoc>
 <participantstreamassoc participant_id="pB"><send>s2</send></participantstreamassoc>
 <recordingID xmlns="urn:x-voicegw:siprec:1">rec-7</recordingID>
</recording>
--foobar--
`, "\n", "\r\n")

	b, err := siprec.ParseBody(contentType, []byte(body), &siprec.BodyOptions{RequireMetadata: true, RequireSDP: true})
	switch {
	case errors.Is(err, siprec.ErrMetadataTooLarge):
		fmt.Println("413")
		return
	case err != nil: // ErrNoMetadata, ErrBadMetadata, ErrMalformedBody…
		fmt.Println("400:", err)
		return
	}
	state := metadata.NewState(b.Metadata)
	// The labels come from the SDP offer (the media package parses it).
	if err := state.Recording().CheckLabels([]string{"1", "2"}); err != nil {
		fmt.Println("400:", err)
		return
	}
	md := state.Recording()
	fmt.Println("recording ID:", md.RecordingID())
	for _, p := range md.ParticipantStreams() {
		fmt.Println(p.Participant.AOR(), "sends on", p.Send)
	}
	// Output:
	// recording ID: rec-7
	// sip:alice@example.com sends on [1]
	// sip:bob@example.com sends on [2]
}

// A recording client builds the body of its SIPREC INVITE.
func ExampleBuildBody() {
	md := metadata.NewComplete(metadata.Call{
		SessionID: "c1",
		Parties: []metadata.Party{
			{ID: "pA", AOR: "sip:alice@example.com", Label: "1", StreamID: "s1"},
			{ID: "pB", AOR: "sip:bob@example.com", Label: "2", StreamID: "s2"},
		},
		RecordingID: "rec-7",
	})
	sdp := []byte("v=0\r\no=SRC 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n" +
		"m=audio 6000 RTP/AVP 0\r\na=label:1\r\na=sendonly\r\nm=audio 6002 RTP/AVP 0\r\na=label:2\r\na=sendonly\r\n")

	// Leave Boundary empty for a random one; it is fixed here for the output.
	contentType, body, err := siprec.BuildBody(sdp, md, &siprec.BuildOptions{Boundary: "example"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("Content-Type:", contentType)
	// The body up to the XML, with CRLF shown as line ends.
	head, _, _ := strings.Cut(string(body), "\r\n<?xml")
	fmt.Println(strings.ReplaceAll(head, "\r\n", "\n"))
	// Output:
	// Content-Type: multipart/mixed;boundary=example
	// --example
	// Content-Type: application/sdp
	//
	// v=0
	// o=SRC 1 1 IN IP4 192.0.2.10
	// s=-
	// c=IN IP4 192.0.2.10
	// t=0 0
	// m=audio 6000 RTP/AVP 0
	// a=label:1
	// a=sendonly
	// m=audio 6002 RTP/AVP 0
	// a=label:2
	// a=sendonly
	//
	// --example
	// Content-Type: application/rs-metadata+xml
	// Content-Disposition: recording-session
}
