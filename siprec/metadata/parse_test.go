package metadata

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// roundTrip checks the writer's contract on a parsed document: Marshal
// succeeds, parsing its output gives the same model, and Marshal of that
// gives the same bytes.
func roundTrip(t testing.TB, r *Recording) []byte {
	t.Helper()
	w1, err := r.Marshal()
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	r2, err := Parse(w1)
	if err != nil {
		t.Fatalf("Parse(Marshal()): %v\n%s", err, w1)
	}
	if !reflect.DeepEqual(r, r2) {
		t.Fatalf("Parse(Marshal(r)) differs from r\nfirst:  %#v\nsecond: %#v\nXML:\n%s", r, r2, w1)
	}
	w2, err := r2.Marshal()
	if err != nil {
		t.Fatalf("second Marshal: %v", err)
	}
	if string(w1) != string(w2) {
		t.Fatalf("Marshal is not stable:\n%s\n---\n%s", w1, w2)
	}
	return w1
}

func mustParse(t testing.TB, doc string) *Recording {
	t.Helper()
	r, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, doc)
	}
	return r
}

func corpus(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "metadata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return normTime(t)
}

func TestParseTolerance(t *testing.T) {
	const sess = `<session session_id="s1"><start-time>%s</start-time></session>`
	tests := []struct {
		name  string
		doc   string
		check func(t *testing.T, r *Recording)
	}{
		{
			name: "default namespace, double quotes",
			doc:  `<recording xmlns="urn:ietf:params:xml:ns:recording:1"><datamode>partial</datamode><stream stream_id="x"><label>1</label></stream></recording>`,
			check: func(t *testing.T, r *Recording) {
				if r.DataMode != Partial || len(r.Streams) != 1 || r.Streams[0].Label != "1" {
					t.Errorf("got %+v", r)
				}
			},
		},
		{
			name: "prefix, single quotes",
			doc:  `<p:recording xmlns:p='urn:ietf:params:xml:ns:recording:1'><p:stream stream_id='x'><p:label>1</p:label></p:stream></p:recording>`,
			check: func(t *testing.T, r *Recording) {
				if r.DataMode != Complete || len(r.Streams) != 1 || r.Streams[0].ID != "x" || r.Streams[0].Label != "1" || len(r.Extensions) != 0 {
					t.Errorf("got %#v", r)
				}
			},
		},
		{
			name: "pre-RFC namespace and element case",
			doc:  `<recording xmlns="urn:ietf:params:xml:ns:recording"><dataMode>Partial</dataMode><Stream stream_id="x"><Label>2</Label></Stream></recording>`,
			check: func(t *testing.T, r *Recording) {
				if r.DataMode != Partial || len(r.Streams) != 1 || r.Streams[0].Label != "2" {
					t.Errorf("got %#v", r)
				}
			},
		},
		{
			name: "empty datamode is complete",
			doc:  `<recording><datamode/></recording>`,
			check: func(t *testing.T, r *Recording) {
				if r.DataMode != Complete {
					t.Errorf("datamode = %q", r.DataMode)
				}
			},
		},
		{
			name: "no namespace at all",
			doc:  "<recording>\n<participant participant_id='p'><nameID aor='sip:a@b'/></participant>\n</recording>",
			check: func(t *testing.T, r *Recording) {
				if len(r.Participants) != 1 || r.Participants[0].AOR() != "sip:a@b" {
					t.Errorf("got %#v", r)
				}
			},
		},
		{
			name: "unknown attributes ignored",
			doc:  `<recording xmlns="urn:ietf:params:xml:ns:recording:1" xmlns:v="urn:v" v:x="1"><stream stream_id="s" foo="bar" v:y="2" session_id="c"><label>1</label></stream></recording>`,
			check: func(t *testing.T, r *Recording) {
				want := []Stream{{ID: "s", SessionID: "c", Label: "1"}}
				if !reflect.DeepEqual(r.Streams, want) {
					t.Errorf("streams = %#v", r.Streams)
				}
			},
		},
		{
			name: "draft id= and session= attributes",
			doc:  `<recording><group id="g"/><session id="c"/><participant id="p"/><stream id="s" session="c"/></recording>`,
			check: func(t *testing.T, r *Recording) {
				if r.Groups[0].ID != "g" || r.Sessions[0].ID != "c" || r.Participants[0].ID != "p" || r.Streams[0].ID != "s" || r.Streams[0].SessionID != "c" {
					t.Errorf("got %#v", r)
				}
			},
		},
		{
			name: "RFC attribute wins over draft one",
			doc:  `<recording><participant id="old" participant_id="new"/></recording>`,
			check: func(t *testing.T, r *Recording) {
				if r.Participants[0].ID != "new" {
					t.Errorf("ID = %q", r.Participants[0].ID)
				}
			},
		},
		{
			name: "draft participant shape becomes RFC 7865 associations",
			doc: `<recording><session id="c"><associate-time>2011-06-27T17:03:57</associate-time></session>
				<participant id="p" session="c"><aor>sip:a@x</aor><name xml:lang="en">A</name><send>s</send>
				<associate-time>2011-06-27T17:03:58Z</associate-time><disassociate-time>2011-06-27T18:00:00Z</disassociate-time></participant></recording>`,
			check: func(t *testing.T, r *Recording) {
				wantP := []Participant{{ID: "p", NameIDs: []NameID{{AOR: "sip:a@x", Names: []Name{{Lang: "en", Text: "A"}}}}, Send: []string{"s"}}}
				if !reflect.DeepEqual(r.Participants, wantP) {
					t.Errorf("participants = %#v", r.Participants)
				}
				wantPSA := []ParticipantSessionAssoc{{ParticipantID: "p", SessionID: "c", AssociateTime: utc("2011-06-27T17:03:58Z"), DisassociateTime: utc("2011-06-27T18:00:00Z")}}
				if !reflect.DeepEqual(r.ParticipantSessionAssocs, wantPSA) {
					t.Errorf("participantsessionassocs = %#v", r.ParticipantSessionAssocs)
				}
				wantSRA := []SessionRecordingAssoc{{SessionID: "c", AssociateTime: utc("2011-06-27T17:03:57Z")}}
				if !reflect.DeepEqual(r.SessionRecordingAssocs, wantSRA) {
					t.Errorf("sessionrecordingassocs = %#v", r.SessionRecordingAssocs)
				}
			},
		},
		{
			name: "ISO-8859-1",
			doc:  "<?xml version='1.0' encoding='ISO-8859-1'?><recording><participant participant_id='p'><nameID aor='sip:j@x'><name>Jos\xe9</name></nameID></participant></recording>",
			check: func(t *testing.T, r *Recording) {
				if got := r.Participants[0].DisplayName(); got != "José" {
					t.Errorf("name = %q", got)
				}
			},
		},
		{
			name: "byte-order mark and blank lines before the declaration",
			doc:  "\ufeff\n\n<?xml version=\"1.0\"?>\n<recording/>",
			check: func(t *testing.T, r *Recording) {
				if r.DataMode != Complete {
					t.Errorf("got %#v", r)
				}
			},
		},
		{
			name: "time without zone is UTC",
			doc:  "<recording>" + strings.Replace(sess, "%s", "2018-06-26T13:44:13", 1) + "</recording>",
			check: func(t *testing.T, r *Recording) {
				if !r.Sessions[0].StartTime.Equal(utc("2018-06-26T13:44:13Z")) || r.Sessions[0].StartTime.Location() != time.UTC {
					t.Errorf("start = %v", r.Sessions[0].StartTime)
				}
			},
		},
		{
			name: "time offset kept, without colon, space separator, lower case, comma fraction",
			doc:  "<recording>" + strings.Replace(sess, "%s", "2018-06-26 13:44:13,5+0530", 1) + "</recording>",
			check: func(t *testing.T, r *Recording) {
				st := r.Sessions[0].StartTime
				if _, off := st.Zone(); off != 5*3600+30*60 || !st.Equal(utc("2018-06-26T08:14:13.5Z")) {
					t.Errorf("start = %v", st)
				}
			},
		},
		{
			name: "lower-case t and z",
			doc:  "<recording>" + strings.Replace(sess, "%s", "2018-06-26t13:44:13z", 1) + "</recording>",
			check: func(t *testing.T, r *Recording) {
				if !r.Sessions[0].StartTime.Equal(utc("2018-06-26T13:44:13Z")) {
					t.Errorf("start = %v", r.Sessions[0].StartTime)
				}
			},
		},
		{
			name: "second single-valued element ignored, empty send ignored",
			doc:  `<recording><datamode>partial</datamode><datamode>complete</datamode><stream stream_id="s"><label>1</label><label>2</label></stream><participantstreamassoc participant_id="p"><send> </send><send>s</send></participantstreamassoc></recording>`,
			check: func(t *testing.T, r *Recording) {
				if r.DataMode != Partial || r.Streams[0].Label != "1" || len(r.Streams[0].Extensions) != 0 || !reflect.DeepEqual(r.ParticipantStreamAssocs[0].Send, []string{"s"}) {
					t.Errorf("got %#v", r)
				}
			},
		},
		{
			name: "values trimmed, entities and CDATA decoded",
			doc:  "<recording><participant participant_id=' p1 '><nameID aor='sip:a@b'><name>\n  Tom &amp; <![CDATA[Jerry <3]]>\n</name></nameID></participant></recording>",
			check: func(t *testing.T, r *Recording) {
				if r.Participants[0].ID != "p1" || r.Participants[0].DisplayName() != "Tom & Jerry <3" {
					t.Errorf("got %#v", r.Participants)
				}
			},
		},
		{
			name: "comments and processing instructions skipped",
			doc:  "<?xml version='1.0'?><!-- c --><?pi x?><recording><!-- inside --><datamode><!-- x -->partial</datamode></recording><!-- after -->",
			check: func(t *testing.T, r *Recording) {
				if r.DataMode != Partial || len(r.Extensions) != 0 {
					t.Errorf("got %#v", r)
				}
			},
		},
		{
			name: "several nameIDs and names",
			doc:  `<recording><participant participant_id="p"><nameID aor="sip:a@x"><name xml:lang="de">Ä</name><name xml:lang="en">A</name></nameID><nameID aor="tel:+1"/></participant></recording>`,
			check: func(t *testing.T, r *Recording) {
				want := []NameID{{AOR: "sip:a@x", Names: []Name{{"de", "Ä"}, {"en", "A"}}}, {AOR: "tel:+1"}}
				if !reflect.DeepEqual(r.Participants[0].NameIDs, want) {
					t.Errorf("nameIDs = %#v", r.Participants[0].NameIDs)
				}
			},
		},
		{
			name: "reason and params",
			doc:  `<recording><session session_id="c"><reason protocol="SIP" cause="486">Busy</reason></session><participantsessionassoc participant_id="p" session_id="c"><param pname="a" pval="b"/></participantsessionassoc></recording>`,
			check: func(t *testing.T, r *Recording) {
				if !reflect.DeepEqual(r.Sessions[0].Reasons, []Reason{{"SIP", "486", "Busy"}}) || !reflect.DeepEqual(r.ParticipantSessionAssocs[0].Params, []Param{{"a", "b"}}) {
					t.Errorf("got %#v", r)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := mustParse(t, tc.doc)
			tc.check(t, r)
			roundTrip(t, r)
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name      string
		doc       string
		kind      error
		line      int
		value     string
		inMessage string
	}{
		{"empty document", "", ErrSyntax, 1, "", "no root element"},
		{"text before root", "hello <recording/>", ErrSyntax, 1, "hello", "text before"},
		{"unclosed element", "<recording>\n<session session_id='a'>\n", ErrSyntax, 3, "", "unexpected end"},
		{"wrong end tag", "<recording>\n<session></stream></recording>", ErrSyntax, 2, "stream", "wrong end tag"},
		{"unquoted attribute", "<recording>\n<stream stream_id=a/></recording>", ErrSyntax, 2, "", "attribute"},
		{"undeclared entity", "<recording><datamode>&nbsp;</datamode></recording>", ErrSyntax, 1, "", "entity"},
		{"unsupported encoding", "<?xml version='1.0' encoding='UTF-16'?><recording/>", ErrSyntax, 1, "UTF-16", "encoding"},
		{"wrong root", "<?xml version='1.0'?>\n<html/>", ErrNotRecording, 2, "html", "want <recording>"},
		{"root in another namespace", `<recording xmlns="urn:other"/>`, ErrNotRecording, 1, "{urn:other}recording", ""},
		{"request snapshot is not a recording", `<requestsnapshot xmlns="urn:ietf:params:xml:ns:recording:1"/>`, ErrNotRecording, 1, "{urn:ietf:params:xml:ns:recording:1}requestsnapshot", ""},
		{"bad datamode", "<recording>\n<datamode>sometimes</datamode></recording>", ErrInvalidValue, 2, "sometimes", "complete or partial"},
		{"bad time", "<recording>\n<session session_id='a'>\n<start-time>yesterday</start-time></session></recording>", ErrInvalidValue, 3, "yesterday", "xs:dateTime"},
		{"bad associate-time", "<recording><participantsessionassoc participant_id='p'><associate-time>2020-13-01T00:00:00Z</associate-time></participantsessionassoc></recording>", ErrInvalidValue, 1, "2020-13-01T00:00:00Z", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse([]byte(tc.doc))
			if err == nil {
				t.Fatalf("Parse succeeded: %#v", r)
			}
			if !errors.Is(err, tc.kind) {
				t.Fatalf("error %v is not %v", err, tc.kind)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *ParseError", err)
			}
			if pe.Line != tc.line || pe.Column < 1 {
				t.Errorf("position = line %d column %d, want line %d", pe.Line, pe.Column, tc.line)
			}
			if pe.Value != tc.value {
				t.Errorf("value = %q, want %q", pe.Value, tc.value)
			}
			if tc.value != "" && !strings.Contains(err.Error(), tc.value) {
				t.Errorf("message %q does not name the value %q", err, tc.value)
			}
			if !strings.Contains(err.Error(), tc.inMessage) {
				t.Errorf("message %q does not say %q", err, tc.inMessage)
			}
		})
	}
}

func TestExtensionsKeptVerbatim(t *testing.T) {
	tests := []struct {
		name      string
		doc       string
		where     func(r *Recording) []Extension
		wantSpace string
		wantLocal string
		wantXML   string
	}{
		{
			name:      "self-contained element is kept byte for byte",
			doc:       `<recording xmlns="urn:ietf:params:xml:ns:recording:1"><session session_id="a"><x:tag xmlns:x='urn:x'  a = "1" >t<!--c--><x:in/></x:tag></session></recording>`,
			where:     func(r *Recording) []Extension { return r.Sessions[0].Extensions },
			wantSpace: "urn:x", wantLocal: "tag",
			wantXML: `<x:tag xmlns:x='urn:x'  a = "1" >t<!--c--><x:in/></x:tag>`,
		},
		{
			name:      "prefix declared on the root is added",
			doc:       `<recording xmlns="urn:ietf:params:xml:ns:recording:1" xmlns:apkt="http://acmepacket.com/siprec/extensiondata"><participant participant_id="p"><apkt:ucid>1</apkt:ucid></participant></recording>`,
			where:     func(r *Recording) []Extension { return r.Participants[0].Extensions },
			wantSpace: "http://acmepacket.com/siprec/extensiondata", wantLocal: "ucid",
			wantXML: `<apkt:ucid xmlns:apkt="http://acmepacket.com/siprec/extensiondata">1</apkt:ucid>`,
		},
		{
			name:      "prefixes used by descendants and attributes are added once, sorted",
			doc:       `<recording xmlns:b="urn:b" xmlns:a="urn:a"><a:x b:at="1"><b:y/><a:z/></a:x></recording>`,
			where:     func(r *Recording) []Extension { return r.Extensions },
			wantSpace: "urn:a", wantLocal: "x",
			wantXML: `<a:x xmlns:a="urn:a" xmlns:b="urn:b" b:at="1"><b:y/><a:z/></a:x>`,
		},
		{
			name:      "a prefix redeclared inside needs nothing",
			doc:       `<recording xmlns:a="urn:outer"><a:x xmlns:a="urn:inner"/></recording>`,
			where:     func(r *Recording) []Extension { return r.Extensions },
			wantSpace: "urn:inner", wantLocal: "x",
			wantXML: `<a:x xmlns:a="urn:inner"/>`,
		},
		{
			name:      "inherited vendor default namespace is added",
			doc:       `<r:recording xmlns:r="urn:ietf:params:xml:ns:recording:1" xmlns="urn:vendor"><r:session session_id="a"><tag>v</tag></r:session></r:recording>`,
			where:     func(r *Recording) []Extension { return r.Sessions[0].Extensions },
			wantSpace: "urn:vendor", wantLocal: "tag",
			wantXML: `<tag xmlns="urn:vendor">v</tag>`,
		},
		{
			name:      "no default namespace in scope is made explicit",
			doc:       `<r:recording xmlns:r="urn:ietf:params:xml:ns:recording:1"><r:session session_id="a"><tag>v</tag></r:session></r:recording>`,
			where:     func(r *Recording) []Extension { return r.Sessions[0].Extensions },
			wantSpace: "", wantLocal: "tag",
			wantXML: `<tag xmlns="">v</tag>`,
		},
		{
			name:      "unknown element of the recording namespace needs nothing",
			doc:       `<recording xmlns="urn:ietf:params:xml:ns:recording:1"><stream stream_id="s"><mode>separate</mode></stream></recording>`,
			where:     func(r *Recording) []Extension { return r.Streams[0].Extensions },
			wantSpace: Namespace, wantLocal: "mode",
			wantXML: `<mode>separate</mode>`,
		},
		{
			name:      "xml:lang needs no declaration",
			doc:       `<recording xmlns:v="urn:v"><v:note xml:lang="en">hi</v:note></recording>`,
			where:     func(r *Recording) []Extension { return r.Extensions },
			wantSpace: "urn:v", wantLocal: "note",
			wantXML: `<v:note xmlns:v="urn:v" xml:lang="en">hi</v:note>`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := mustParse(t, tc.doc)
			xs := tc.where(r)
			if len(xs) != 1 {
				t.Fatalf("extensions = %#v", xs)
			}
			want := Extension{Space: tc.wantSpace, Local: tc.wantLocal, XML: tc.wantXML}
			if xs[0] != want {
				t.Errorf("extension =\n%#v\nwant\n%#v", xs[0], want)
			}
			w := roundTrip(t, r)
			if !strings.Contains(string(w), tc.wantXML) {
				t.Errorf("written document does not hold the extension verbatim:\n%s", w)
			}
		})
	}
}

func corpusRoot(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
