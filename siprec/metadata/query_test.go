package metadata

import (
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestCheckLabels(t *testing.T) {
	r := parseCorpus(t, "rfc7865_complete.xml") // labels 96..99
	tests := []struct {
		name       string
		r          *Recording
		offered    []string
		notOffered []string
		unlabelled []string
	}{
		{"every label offered", r, []string{"96", "97", "98", "99"}, nil, nil},
		{"offer has more labels than the metadata", r, []string{"95", "96", "97", "98", "99", "100"}, nil, nil},
		{"labels missing from the offer", r, []string{"96", "97"}, []string{"98", "99"}, nil},
		{"no labels offered", r, nil, []string{"96", "97", "98", "99"}, nil},
		{"stream without label", &Recording{Streams: []Stream{{ID: "a", Label: "1"}, {ID: "b"}, {ID: "c", Label: "1"}, {ID: "d", Label: "2"}}}, []string{"1"}, []string{"2"}, []string{"b"}},
		{"no streams", &Recording{}, nil, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.r.CheckLabels(tc.offered)
			if tc.notOffered == nil && tc.unlabelled == nil {
				if err != nil {
					t.Fatalf("CheckLabels = %v", err)
				}
				return
			}
			if !errors.Is(err, ErrLabelMismatch) {
				t.Fatalf("CheckLabels = %v, want ErrLabelMismatch", err)
			}
			var le *LabelError
			if !errors.As(err, &le) {
				t.Fatalf("error %T is not a *LabelError", err)
			}
			if !reflect.DeepEqual(le.NotOffered, tc.notOffered) || !reflect.DeepEqual(le.Unlabelled, tc.unlabelled) {
				t.Errorf("got %+v", le)
			}
			for _, l := range append(tc.notOffered, tc.unlabelled...) {
				if !strings.Contains(err.Error(), `"`+l+`"`) {
					t.Errorf("message %q does not name %q", err, l)
				}
			}
		})
	}
}

func TestParticipantStreamsAndSenders(t *testing.T) {
	r := parseCorpus(t, "rfc7865_complete.xml")
	got := r.ParticipantStreams()
	if len(got) != 2 {
		t.Fatalf("got %d participants", len(got))
	}
	bob, alice := got[0], got[1]
	if bob.Participant.DisplayName() != "Bob" || !bob.Active || !reflect.DeepEqual(bob.Send, []string{"97", "96"}) || !reflect.DeepEqual(bob.Recv, []string{"98", "99"}) {
		t.Errorf("bob = %+v", bob)
	}
	if alice.Participant.AOR() != "sip:alice@atlanta.com" || !reflect.DeepEqual(alice.Send, []string{"98", "99"}) || !reflect.DeepEqual(alice.Recv, []string{"96", "97"}) {
		t.Errorf("alice = %+v", alice)
	}
	if s := r.SendersOf("98"); len(s) != 1 || s[0].ID != "zSfPoSvdSDCmU3A3TRDxAw==" {
		t.Errorf("SendersOf(98) = %+v", s)
	}
	if s := r.SendersOf("42"); s != nil {
		t.Errorf("SendersOf(42) = %+v", s)
	}
	if l := r.Labels(); !reflect.DeepEqual(l, []string{"96", "97", "98", "99"}) {
		t.Errorf("Labels = %v", l)
	}
	if st, ok := r.StreamByLabel("97"); !ok || st.ID != "i1Pz3to5hGk8fuXl+PbwCw==" {
		t.Errorf("StreamByLabel(97) = %+v %v", st, ok)
	}
}

func TestParticipantStreamsSources(t *testing.T) {
	// Streams given inside <participant> (draft form) and in
	// participantstreamassoc are combined; unknown stream IDs are left out;
	// a participant known only from an association is listed with its ID.
	r := mustParse(t, `<recording>
		<participant participant_id="p1"><send>s1</send></participant>
		<stream stream_id="s1"><label>a</label></stream>
		<stream stream_id="s2"><label>b</label></stream>
		<participantstreamassoc participant_id="p1"><send>s2</send><send>s1</send><recv>nope</recv></participantstreamassoc>
		<participantstreamassoc participant_id="p2"><recv>s1</recv></participantstreamassoc>
		<participantsessionassoc participant_id="p3" session_id="c"><disassociate-time>2020-01-01T00:00:00Z</disassociate-time></participantsessionassoc>
	</recording>`)
	want := []ParticipantStreams{
		{Participant: Participant{ID: "p1", Send: []string{"s1"}}, Active: true, Send: []string{"a", "b"}},
		{Participant: Participant{ID: "p3"}, Active: false},
		{Participant: Participant{ID: "p2"}, Active: false, Recv: []string{"a"}},
	}
	if got := r.ParticipantStreams(); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %#v\nwant %#v", got, want)
	}
}

func TestRecordingID(t *testing.T) {
	r := Recording{DataMode: Complete}
	if r.RecordingID() != "" {
		t.Fatal("empty document has a recording ID")
	}
	r.SetRecordingID(`id <with> "markup" & more`)
	w := roundTrip(t, &r)
	if !strings.Contains(string(w), `<recordingID xmlns="urn:x-voicegw:siprec:1">id &lt;with&gt; "markup" &amp; more</recordingID>`) {
		t.Errorf("written as:\n%s", w)
	}
	back := mustParse(t, string(w))
	if got := back.RecordingID(); got != `id <with> "markup" & more` {
		t.Errorf("RecordingID = %q", got)
	}
	r.SetRecordingID("second")
	if got := r.RecordingID(); got != "second" || len(r.Extensions) != 1 {
		t.Errorf("after replace: %q, %d extensions", got, len(r.Extensions))
	}
	r.SetRecordingID("")
	if r.RecordingID() != "" || r.Extensions != nil {
		t.Errorf("after remove: %#v", r.Extensions)
	}

	// Read from inside <session>, any prefix; the root one wins.
	doc := `<recording xmlns:vg="urn:x-voicegw:siprec:1"><session session_id="c"><vg:recordingID> in-session </vg:recordingID></session></recording>`
	s := mustParse(t, doc)
	if got := s.RecordingID(); got != "in-session" {
		t.Errorf("session recording ID = %q", got)
	}
	s.SetRecordingID("root")
	if got := s.RecordingID(); got != "root" {
		t.Errorf("root recording ID = %q", got)
	}
	// Other extensions are left alone.
	o := mustParse(t, `<recording><x:a xmlns:x="urn:x"/><recordingID xmlns="urn:x-voicegw:siprec:1">old</recordingID><x:b xmlns:x="urn:x"/></recording>`)
	o.SetRecordingID("new")
	var names []string
	for _, x := range o.Extensions {
		names = append(names, x.Local)
	}
	if !reflect.DeepEqual(names, []string{"a", "b", "recordingID"}) {
		t.Errorf("extensions = %v", names)
	}
}

func TestExtensionHelpers(t *testing.T) {
	x := NewTextExtension("urn:v", "tag", "a&b")
	if x.XML != `<tag xmlns="urn:v">a&amp;b</tag>` || x.Text() != "a&b" || !x.Is("urn:v", "tag") {
		t.Errorf("got %#v", x)
	}
	if got := (Extension{XML: "<a><b>one</b> <c>two</c></a>"}).Text(); got != "one two" {
		t.Errorf("Text = %q", got)
	}
	if got := (Extension{XML: "<a>"}).Text(); got != "" {
		t.Errorf("Text of bad XML = %q", got)
	}
	if _, ok := FindExtension([]Extension{x}, "urn:v", "other"); ok {
		t.Error("found an extension that is not there")
	}
}

func TestNewComplete(t *testing.T) {
	call := Call{
		Start: utc("2025-03-01T12:00:00Z"),
		Parties: []Party{
			{AOR: "sip:a@x", Name: "A", Label: "1"},
			{AOR: "sip:b@x", Label: "2"},
			{AOR: "sip:listener@x"}, // sends nothing
		},
		RecordingID: "r1",
	}
	r := NewComplete(call)
	roundTrip(t, r)
	if len(r.Sessions) != 1 || r.Groups != nil || len(r.Participants) != 3 || len(r.Streams) != 2 {
		t.Fatalf("shape: %s", r)
	}
	for _, id := range []string{r.Sessions[0].ID, r.Participants[0].ID, r.Streams[0].ID} {
		if b, err := base64.StdEncoding.DecodeString(id); err != nil || len(b) != 16 {
			t.Errorf("generated ID %q is not 16 base64 bytes", id)
		}
	}
	if r.Participants[0].ID == r.Participants[1].ID {
		t.Error("participant IDs repeat")
	}
	ps := r.ParticipantStreams()
	want := [][2][]string{
		{{"1"}, {"2"}},
		{{"2"}, {"1"}},
		{nil, {"1", "2"}},
	}
	for i, p := range ps {
		if !p.Active || !reflect.DeepEqual(p.Send, want[i][0]) || !reflect.DeepEqual(p.Recv, want[i][1]) {
			t.Errorf("party %d: %+v", i, p)
		}
	}
	if r.RecordingID() != "r1" {
		t.Errorf("RecordingID = %q", r.RecordingID())
	}
	if err := r.CheckLabels([]string{"1", "2"}); err != nil {
		t.Error(err)
	}
}

func TestRequestSnapshot(t *testing.T) {
	doc := corpusRoot(t, "requestsnapshot.xml")
	s, err := ParseRequestSnapshot(doc)
	if err != nil {
		t.Fatal(err)
	}
	if s.Reason != (Name{Lang: "it", Text: "SRS internal error"}) {
		t.Errorf("reason = %+v", s.Reason)
	}
	s.Extensions = append(s.Extensions, NewTextExtension("urn:x", "why", "restart"))
	w, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseRequestSnapshot(w)
	if err != nil || !reflect.DeepEqual(back, s) {
		t.Fatalf("round trip: %v\n%#v\n%#v", err, back, s)
	}
	if _, err := ParseRequestSnapshot(corpus(t, "sipp_peer.xml")); !errors.Is(err, ErrNotRecording) {
		t.Errorf("a <recording> parsed as a snapshot request: %v", err)
	}
	if _, err := (&RequestSnapshot{Extensions: []Extension{{XML: "<a>"}}}).Marshal(); !errors.Is(err, ErrInvalidModel) {
		t.Errorf("Marshal of a bad extension: %v", err)
	}
}
