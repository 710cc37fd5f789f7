package metadata

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// seedCorpus adds the documents of testdata/metadata (RFC 7865 and RFC 8068
// shapes, vendor shapes) and a few edge cases.
func seedCorpus(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "metadata", "*.xml"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed documents: %v", err)
	}
	files = append(files, filepath.Join("..", "testdata", "requestsnapshot.xml"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"",
		"<recording/>",
		`<r:recording xmlns:r="urn:ietf:params:xml:ns:recording:1" xmlns="urn:v"><a><b xmlns=""/></a></r:recording>`,
		`<recording><x:y xmlns:x="u"><x:z xmlns:x="v" x:a="1"/></x:y></recording>`,
		"<recording><session session_id='a'><stop-time>2020-01-01T00:00:00.123456789+14:00</stop-time></session></recording>",
		"<?xml version='1.0' encoding='latin1'?><recording><participant participant_id='\xff'/></recording>",
		"<recording><participant participant_id='&#xD;&#9;x'/></recording>",
	} {
		f.Add([]byte(s))
	}
}

// FuzzParse checks, for every input Parse accepts, that the canonical form
// parses back to the same model and is itself stable; and that rejected input
// gets a *ParseError.
func FuzzParse(f *testing.F) {
	seedCorpus(f)
	f.Fuzz(func(t *testing.T, doc []byte) {
		r, err := Parse(doc)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %v is not a *ParseError", err, err)
			}
			return
		}
		roundTrip(t, r)
		// Applying the document to a state gives a document that round-trips too.
		var s State
		s.Apply(r)
		roundTrip(t, s.Recording())
	})
}

// FuzzParseRequestSnapshot checks the same round-trip property for
// <requestsnapshot>.
func FuzzParseRequestSnapshot(f *testing.F) {
	seedCorpus(f)
	f.Fuzz(func(t *testing.T, doc []byte) {
		s, err := ParseRequestSnapshot(doc)
		if err != nil {
			return
		}
		w, err := s.Marshal()
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		back, err := ParseRequestSnapshot(w)
		if err != nil {
			t.Fatalf("Parse(Marshal()): %v\n%s", err, w)
		}
		if !reflect.DeepEqual(s, back) {
			t.Fatalf("round trip differs:\n%#v\n%#v", s, back)
		}
	})
}
