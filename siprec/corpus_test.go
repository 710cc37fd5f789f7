package siprec

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/voicegw/voicegw/siprec/metadata"
)

// corpusCase is one document of testdata/metadata: what it must parse to.
type corpusCase struct {
	file         string
	mode         metadata.DataMode
	participants int
	labels       []string // Recording.Labels
	recordingID  string
	extensions   int // extension elements anywhere in the document
	check        func(t *testing.T, r *metadata.Recording)
}

func countExtensions(r *metadata.Recording) int {
	n := len(r.Extensions)
	for _, x := range r.Groups {
		n += len(x.Extensions)
	}
	for _, x := range r.Sessions {
		n += len(x.Extensions)
	}
	for _, x := range r.Participants {
		n += len(x.Extensions)
	}
	for _, x := range r.Streams {
		n += len(x.Extensions)
	}
	for _, x := range r.SessionRecordingAssocs {
		n += len(x.Extensions)
	}
	for _, x := range r.ParticipantSessionAssocs {
		n += len(x.Extensions)
	}
	for _, x := range r.ParticipantStreamAssocs {
		n += len(x.Extensions)
	}
	return n
}

// sends returns "display name or AOR: send labels / recv labels" per
// participant.
func sends(r *metadata.Recording) []string {
	var out []string
	for _, p := range r.ParticipantStreams() {
		who := p.Participant.DisplayName()
		if who == "" {
			who = p.Participant.AOR()
		}
		if who == "" {
			who = p.Participant.ID
		}
		state := ""
		if !p.Active {
			state = " (left)"
		}
		out = append(out, who+state+": "+strings.Join(p.Send, ",")+" / "+strings.Join(p.Recv, ","))
	}
	return out
}

func wantSends(t *testing.T, r *metadata.Recording, want ...string) {
	t.Helper()
	if got := sends(r); !reflect.DeepEqual(got, want) {
		t.Errorf("participants and labels:\n got  %q\n want %q", got, want)
	}
}

var corpusCases = []corpusCase{
	{
		file: "rfc7865_complete.xml", mode: metadata.Complete, participants: 2, labels: []string{"96", "97", "98", "99"},
		check: func(t *testing.T, r *metadata.Recording) {
			wantSends(t, r, "Bob: 97,96 / 98,99", "Alice: 98,99 / 96,97")
			if r.Sessions[0].GroupRef != r.Groups[0].ID || r.Groups[0].ID != "7+OTCyoxTmqmqyA/1weDAg==" {
				t.Errorf("group %+v, session %+v", r.Groups, r.Sessions)
			}
			if r.Participants[0].NameIDs[0].Names[0].Lang != "it" {
				t.Errorf("xml:lang lost: %+v", r.Participants[0].NameIDs)
			}
		},
	},
	{
		file: "rfc8068_basic_call.xml", mode: metadata.Complete, participants: 2, labels: []string{"1", "2"},
		check: func(t *testing.T, r *metadata.Recording) {
			wantSends(t, r, "Alice: 1 / 2", "Bob: 2 / 1")
			if want := time.Date(2016, 5, 9, 7, 35, 17, 123e6, time.UTC); !r.Sessions[0].StartTime.Equal(want) {
				t.Errorf("start-time = %v", r.Sessions[0].StartTime)
			}
		},
	},
	{
		file: "rfc8068_participant_leaves_partial.xml", mode: metadata.Partial,
		check: func(t *testing.T, r *metadata.Recording) {
			if d := r.ParticipantSessionAssocs[0].DisassociateTime; !d.Equal(time.Date(2016, 5, 9, 7, 36, 2, 0, time.UTC)) {
				t.Errorf("disassociate-time = %v", d)
			}
		},
	},
	{
		file: "rfc8068_transfer_partial.xml", mode: metadata.Partial, participants: 1,
		check: func(t *testing.T, r *metadata.Recording) {
			if len(r.ParticipantSessionAssocs) != 2 || len(r.ParticipantStreamAssocs) != 2 {
				t.Errorf("associations: %+v %+v", r.ParticipantSessionAssocs, r.ParticipantStreamAssocs)
			}
		},
	},
	{
		file: "rfc8068_session_stop_partial.xml", mode: metadata.Partial,
		check: func(t *testing.T, r *metadata.Recording) {
			s := r.Sessions[0]
			if _, off := s.StopTime.Zone(); off != 7200 || s.Reasons[0] != (metadata.Reason{Protocol: "SIP", Cause: "200", Text: "Call completed elsewhere"}) {
				t.Errorf("session = %+v", s)
			}
		},
	},
	{file: "rfc8068_stream_added_partial.xml", mode: metadata.Partial, labels: []string{"3"}},
	{
		file: "cisco_cube_style.xml", mode: metadata.Complete, participants: 2, labels: []string{"1", "2"}, extensions: 3,
		check: func(t *testing.T, r *metadata.Recording) {
			wantSends(t, r, "sip:+14085550100@198.51.100.10: 1 / 2", "sip:+14085550199@198.51.100.20: 2 / 1")
			x := r.Sessions[0].Extensions[0]
			if x.Space != "http://cisco.com/siprec/extension" || x.Local != "callData" || !strings.HasPrefix(x.XML, `<ccext:callData xmlns:ccext="http://cisco.com/siprec/extension">`) {
				t.Errorf("extension = %+v", x)
			}
		},
	},
	{
		file: "avaya_sbce_style.xml", mode: metadata.Complete, participants: 2, labels: []string{"10", "11"}, extensions: 3,
		check: func(t *testing.T, r *metadata.Recording) {
			wantSends(t, r, "Agent 2001: 10 / 11", "Client Dupont: 11 / 10")
			if n := r.Participants[0].NameIDs; len(n) != 2 || n[1].AOR != "tel:+3222001" {
				t.Errorf("nameIDs = %+v", n)
			}
			if ucid, ok := metadata.FindExtension(r.Sessions[0].Extensions, "http://www.avaya.com/siprec/extensions/1.0", "ucid"); !ok || ucid.Text() != "00FA080018A2C45F61811A2B" {
				t.Errorf("ucid = %+v", ucid)
			}
			if _, off := r.Sessions[0].StartTime.Zone(); off != 3600 {
				t.Errorf("start-time offset lost: %v", r.Sessions[0].StartTime)
			}
		},
	},
	{
		file: "oracle_sbc_style.xml", mode: metadata.Complete, participants: 2, labels: []string{"1", "2"}, extensions: 3,
		check: func(t *testing.T, r *metadata.Recording) {
			wantSends(t, r, "sipp: 1 / 2", "sut: 2 / 1")
			x := r.Participants[0].Extensions[0]
			if x.Space != metadata.Namespace || x.Local != "extensiondata" || !strings.Contains(x.XML, "<apkt:in-realm>net192</apkt:in-realm>") {
				t.Errorf("extension = %+v", x)
			}
			if st := r.Sessions[0].StartTime; st.Location() != time.UTC || st.Hour() != 13 {
				t.Errorf("time without zone not read as UTC: %v", st)
			}
		},
	},
	{
		file: "oracle_legacy_draft_latin1.xml", mode: metadata.Complete, participants: 2, labels: []string{"1", "2"}, extensions: 2,
		check: func(t *testing.T, r *metadata.Recording) {
			wantSends(t, r, "José: 1 / ", "sut: 2 / ")
			if len(r.ParticipantSessionAssocs) != 2 || r.ParticipantSessionAssocs[0].SessionID != r.Sessions[0].ID || len(r.SessionRecordingAssocs) != 1 {
				t.Errorf("draft associations not normalised: %+v %+v", r.ParticipantSessionAssocs, r.SessionRecordingAssocs)
			}
			if x := r.Streams[0].Extensions[0]; x.XML != `<mode xmlns="urn:ietf:params:xml:ns:recording">separate</mode>` {
				t.Errorf("draft <mode> kept as %q", x.XML)
			}
		},
	},
	{
		file: "ribbon_bye_partial.xml", mode: metadata.Partial, participants: 2,
		check: func(t *testing.T, r *metadata.Recording) {
			wantSends(t, r, "NjFhMGYwMDEtNTI4MC0xMA== (left):  / ", "NjFhMGYwMDItNTI4MC0xMA== (left):  / ")
		},
	},
	{
		file: "prefixed_single_quotes_crlf.xml", mode: metadata.Complete, participants: 2, labels: []string{"a", "b"}, extensions: 1,
		check: func(t *testing.T, r *metadata.Recording) {
			wantSends(t, r, "Alice & Co: a / b", `Bob "the builder": b / a`)
		},
	},
	{
		file: "no_namespace_lf.xml", mode: metadata.Complete, participants: 2, labels: []string{"inbound", "outbound"},
		check: func(t *testing.T, r *metadata.Recording) {
			wantSends(t, r, "Front desk: outbound / inbound", "sip:+15551230000@trunk.local: inbound / outbound")
		},
	},
	{
		file: "conference_three_party.xml", mode: metadata.Complete, participants: 3, labels: []string{"1", "2", "3"}, extensions: 2,
		check: func(t *testing.T, r *metadata.Recording) {
			wantSends(t, r, "Anna Müller: 1 / 2,3", "健二: 2 / 1,3", "Lucía: 3 / 1,2")
			if p := r.ParticipantSessionAssocs[0].Params; !reflect.DeepEqual(p, []metadata.Param{{Name: "+sip.src", Value: "true"}, {Name: "isfocus"}}) {
				t.Errorf("params = %+v", p)
			}
			if got := r.Participants[2].Extensions[0].Text(); got != "joined <late> & muted" {
				t.Errorf("CDATA extension text = %q", got)
			}
			if len(r.Sessions[0].SIPSessionIDs) != 2 {
				t.Errorf("sipSessionIDs = %v", r.Sessions[0].SIPSessionIDs)
			}
		},
	},
	{
		file: "voicegw_client.xml", mode: metadata.Complete, participants: 2, labels: []string{"caller", "bot"}, recordingID: "rec-2025-03-01-0001", extensions: 1,
		check: func(t *testing.T, r *metadata.Recording) {
			wantSends(t, r, "Caller: caller / bot", "Virtual agent: bot / caller")
		},
	},
	{file: "recordingid_in_session.xml", mode: metadata.Partial, participants: 1, recordingID: "rec-in-session-7", extensions: 1},
	{
		file: "genesys_style_bom.xml", mode: metadata.Complete, participants: 1, labels: []string{"L1"}, extensions: 1,
		check: func(t *testing.T, r *metadata.Recording) {
			if x := r.Sessions[0].Extensions[0]; x.Space != "http://genesys.example/siprec" || !strings.Contains(x.XML, `<attached key="queue">sales</attached>`) {
				t.Errorf("extension = %+v", x)
			}
		},
	},
	{
		file: "sipp_peer.xml", mode: metadata.Complete, participants: 2, labels: []string{"1", "2"},
		check: func(t *testing.T, r *metadata.Recording) {
			wantSends(t, r, "Alice: 1 / 2", "Bob: 2 / 1")
		},
	},
	{
		file: "vendor_default_namespace.xml", mode: metadata.Complete, participants: 1, labels: []string{"main"}, extensions: 3,
		check: func(t *testing.T, r *metadata.Recording) {
			if x := r.Extensions[0]; x.XML != `<summary xmlns="urn:example:vendor:siprec">gift call</summary>` {
				t.Errorf("root extension = %q", x.XML)
			}
			if r.Sessions[0].ID != "dmVuZG9yLXNlc3Npb24=" {
				t.Errorf("prefixed session_id attribute not read: %+v", r.Sessions[0])
			}
		},
	},
}

// TestMetadataCorpus parses every document of testdata/metadata, checks what
// it says, and checks the round trip: parse → write → parse gives the same
// model, writing again gives the same bytes, and the document travels
// unchanged through a multipart INVITE body.
func TestMetadataCorpus(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "metadata", "*.xml"))
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, c := range corpusCases {
		listed = append(listed, filepath.Join("testdata", "metadata", c.file))
	}
	slices.Sort(listed)
	if !slices.Equal(files, listed) {
		t.Fatalf("corpus files and table differ:\n files %v\n table %v", files, listed)
	}
	for _, c := range corpusCases {
		t.Run(strings.TrimSuffix(c.file, ".xml"), func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", "metadata", c.file))
			if err != nil {
				t.Fatal(err)
			}
			r, err := metadata.Parse(raw)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if r.DataMode != c.mode || len(r.Participants) != c.participants || !slices.Equal(r.Labels(), c.labels) ||
				r.RecordingID() != c.recordingID || countExtensions(r) != c.extensions {
				t.Errorf("got mode %s, %d participants, labels %q, recording ID %q, %d extensions; want %s, %d, %q, %q, %d",
					r.DataMode, len(r.Participants), r.Labels(), r.RecordingID(), countExtensions(r),
					c.mode, c.participants, c.labels, c.recordingID, c.extensions)
			}
			if c.labels != nil {
				if err := r.CheckLabels(c.labels); err != nil {
					t.Errorf("CheckLabels(own labels): %v", err)
				}
				if err := r.CheckLabels(c.labels[1:]); err == nil {
					t.Errorf("CheckLabels accepted an offer without label %q", c.labels[0])
				}
			}
			if c.check != nil {
				c.check(t, r)
			}

			w1, err := r.Marshal()
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			r2, err := metadata.Parse(w1)
			if err != nil {
				t.Fatalf("Parse(Marshal()): %v\n%s", err, w1)
			}
			if !reflect.DeepEqual(r, r2) {
				t.Fatalf("round trip changed the model:\n%#v\n%#v", r, r2)
			}
			w2, _ := r2.Marshal()
			if string(w1) != string(w2) {
				t.Fatalf("Marshal not stable:\n%s\n%s", w1, w2)
			}
			if !strings.Contains(string(w1), `<recording xmlns="urn:ietf:params:xml:ns:recording:1">`) {
				t.Errorf("not written with the default namespace:\n%s", w1)
			}

			// In an INVITE body, as received (the raw bytes) and as rebuilt.
			sdp := []byte("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n")
			ct, body, err := BuildMultipart([]Part{
				{ContentType: ContentTypeSDP, Body: sdp},
				{ContentType: ContentTypeMetadata, ContentDisposition: DispositionRecordingSession, Body: raw},
			}, "corpus-boundary")
			if err != nil {
				t.Fatal(err)
			}
			b, err := ParseBody(ct, body, &BodyOptions{RequireMetadata: true, RequireSDP: true})
			if err != nil {
				t.Fatalf("ParseBody: %v", err)
			}
			if string(b.RawMetadata) != string(raw) || string(b.SDP) != string(sdp) || !reflect.DeepEqual(b.Metadata, r) {
				t.Errorf("body did not carry the document unchanged")
			}
		})
	}
}
