package metadata

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func twoPartyCall() Call {
	return Call{
		SessionID:     "c2Vzc2lvbg==",
		GroupID:       "Z3JvdXA=",
		SIPSessionIDs: []string{"ab30317f1a784dc48ff824d0d3715d86;remote=47755a9de7794ba387653f2099600ef2"},
		Start:         time.Date(2025, 3, 1, 12, 0, 0, 250_000_000, time.UTC),
		Parties: []Party{
			{ID: "YWxpY2U=", AOR: "sip:alice@example.com", Name: "Alice", Lang: "en", Label: "1", StreamID: "czE="},
			{ID: "Ym9i", AOR: "sip:bob@example.com", Name: "Bob", Lang: "en", Label: "2", StreamID: "czI="},
		},
		RecordingID: "rec-42",
	}
}

const twoPartyXML = `<?xml version="1.0" encoding="UTF-8"?>
<recording xmlns="urn:ietf:params:xml:ns:recording:1">
  <datamode>complete</datamode>
  <group group_id="Z3JvdXA=">
    <associate-time>2025-03-01T12:00:00.25Z</associate-time>
  </group>
  <session session_id="c2Vzc2lvbg==">
    <sipSessionID>ab30317f1a784dc48ff824d0d3715d86;remote=47755a9de7794ba387653f2099600ef2</sipSessionID>
    <group-ref>Z3JvdXA=</group-ref>
    <start-time>2025-03-01T12:00:00.25Z</start-time>
  </session>
  <participant participant_id="YWxpY2U=">
    <nameID aor="sip:alice@example.com">
      <name xml:lang="en">Alice</name>
    </nameID>
  </participant>
  <participant participant_id="Ym9i">
    <nameID aor="sip:bob@example.com">
      <name xml:lang="en">Bob</name>
    </nameID>
  </participant>
  <stream stream_id="czE=" session_id="c2Vzc2lvbg==">
    <label>1</label>
  </stream>
  <stream stream_id="czI=" session_id="c2Vzc2lvbg==">
    <label>2</label>
  </stream>
  <sessionrecordingassoc session_id="c2Vzc2lvbg==">
    <associate-time>2025-03-01T12:00:00.25Z</associate-time>
  </sessionrecordingassoc>
  <participantsessionassoc participant_id="YWxpY2U=" session_id="c2Vzc2lvbg==">
    <associate-time>2025-03-01T12:00:00.25Z</associate-time>
  </participantsessionassoc>
  <participantsessionassoc participant_id="Ym9i" session_id="c2Vzc2lvbg==">
    <associate-time>2025-03-01T12:00:00.25Z</associate-time>
  </participantsessionassoc>
  <participantstreamassoc participant_id="YWxpY2U=">
    <send>czE=</send>
    <recv>czI=</recv>
  </participantstreamassoc>
  <participantstreamassoc participant_id="Ym9i">
    <send>czI=</send>
    <recv>czE=</recv>
  </participantstreamassoc>
  <recordingID xmlns="urn:x-voicegw:siprec:1">rec-42</recordingID>
</recording>
`

func TestMarshalCanonical(t *testing.T) {
	r := NewComplete(twoPartyCall())
	got, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != twoPartyXML {
		t.Errorf("Marshal =\n%s\nwant\n%s", got, twoPartyXML)
	}
	roundTrip(t, r)
}

func TestMarshalFixedOrderWhateverTheInputOrder(t *testing.T) {
	// The same content in reverse order, prefixed, single-quoted.
	doc := `<r:recording xmlns:r='urn:ietf:params:xml:ns:recording:1'>
<x:recordingID xmlns:x='urn:x-voicegw:siprec:1'>rec-42</x:recordingID>
<r:participantstreamassoc participant_id='YWxpY2U='><r:recv>czI=</r:recv><r:send>czE=</r:send></r:participantstreamassoc>
<r:participantstreamassoc participant_id='Ym9i'><r:send>czI=</r:send><r:recv>czE=</r:recv></r:participantstreamassoc>
<r:participantsessionassoc session_id='c2Vzc2lvbg==' participant_id='YWxpY2U='><r:associate-time>2025-03-01T12:00:00.250Z</r:associate-time></r:participantsessionassoc>
<r:participantsessionassoc participant_id='Ym9i' session_id='c2Vzc2lvbg=='><r:associate-time>2025-03-01T12:00:00.25Z</r:associate-time></r:participantsessionassoc>
<r:sessionrecordingassoc session_id='c2Vzc2lvbg=='><r:associate-time>2025-03-01T12:00:00.25Z</r:associate-time></r:sessionrecordingassoc>
<r:stream session_id='c2Vzc2lvbg==' stream_id='czE='><r:label>1</r:label></r:stream>
<r:stream stream_id='czI=' session_id='c2Vzc2lvbg=='><r:label>2</r:label></r:stream>
<r:participant participant_id='YWxpY2U='><r:nameID aor='sip:alice@example.com'><r:name xml:lang='en'>Alice</r:name></r:nameID></r:participant>
<r:participant participant_id='Ym9i'><r:nameID aor='sip:bob@example.com'><r:name xml:lang='en'>Bob</r:name></r:nameID></r:participant>
<r:session session_id='c2Vzc2lvbg=='><r:start-time>2025-03-01T12:00:00.25Z</r:start-time><r:group-ref>Z3JvdXA=</r:group-ref><r:sipSessionID>ab30317f1a784dc48ff824d0d3715d86;remote=47755a9de7794ba387653f2099600ef2</r:sipSessionID></r:session>
<r:group group_id='Z3JvdXA='><r:associate-time>2025-03-01T12:00:00.25Z</r:associate-time></r:group>
<r:datamode>complete</r:datamode>
</r:recording>`
	r := mustParse(t, doc)
	got, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// The only difference from the canonical document is the extension,
	// which is kept as it was written.
	want := strings.Replace(twoPartyXML, `<recordingID xmlns="urn:x-voicegw:siprec:1">rec-42</recordingID>`, `<x:recordingID xmlns:x='urn:x-voicegw:siprec:1'>rec-42</x:recordingID>`, 1)
	if string(got) != want {
		t.Errorf("Marshal =\n%s\nwant\n%s", got, want)
	}
}

func TestMarshalEscapes(t *testing.T) {
	r := &Recording{
		Sessions: []Session{{ID: `a"b<c>&'d`, Reasons: []Reason{{Protocol: "SIP", Cause: "4\t86", Text: "line1\r\nline2 ]]> & <x>"}}}},
		Participants: []Participant{{ID: "p\n1", NameIDs: []NameID{{
			AOR:   "sip:a@b;x=\"1\"",
			Names: []Name{{Lang: "en", Text: "bad\x01char\uFFFEend"}},
		}}}},
	}
	w, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back := mustParse(t, string(w))
	if back.Sessions[0].ID != r.Sessions[0].ID || back.Sessions[0].Reasons[0] != r.Sessions[0].Reasons[0] {
		t.Errorf("session came back as %#v", back.Sessions[0])
	}
	if back.Participants[0].ID != "p\n1" || back.Participants[0].AOR() != `sip:a@b;x="1"` {
		t.Errorf("participant came back as %#v", back.Participants[0])
	}
	// Characters XML cannot carry are replaced, not written raw.
	if got := back.Participants[0].DisplayName(); got != "bad\uFFFDchar\uFFFDend" {
		t.Errorf("name = %q", got)
	}
}

func TestMarshalRejectsInvalidModel(t *testing.T) {
	tests := []struct {
		name string
		r    *Recording
		want string
	}{
		{"unknown datamode", &Recording{DataMode: "sometimes"}, `"sometimes"`},
		{"extension that is not XML", &Recording{Extensions: []Extension{{Local: "x", XML: "x"}}}, "recording"},
		{"extension with two elements", &Recording{Sessions: []Session{{ID: "c", Extensions: []Extension{{Local: "a", XML: "<a/><b/>"}}}}}, "session c"},
		{"extension not closed", &Recording{Streams: []Stream{{ID: "s", Extensions: []Extension{{Local: "a", XML: "<a><b></a>"}}}}}, "stream s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.r.Marshal()
			if !errors.Is(err, ErrInvalidModel) {
				t.Fatalf("Marshal = %q, %v; want ErrInvalidModel", b, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func TestZeroRecordingMarshals(t *testing.T) {
	var r Recording
	w, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := xmlHeader + `<recording xmlns="urn:ietf:params:xml:ns:recording:1">` + "\n  <datamode>complete</datamode>\n</recording>\n"
	if string(w) != want {
		t.Errorf("got %q", w)
	}
	back := mustParse(t, string(w))
	if !reflect.DeepEqual(back, &Recording{DataMode: Complete}) {
		t.Errorf("parsed back %#v", back)
	}
}
