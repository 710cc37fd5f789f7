package metadata

import "testing"

// The typical document: a two-party call as recording clients send it
// (testdata/metadata/rfc8068_basic_call.xml, 2.1 KB).
func BenchmarkParse(b *testing.B) {
	doc := corpus(b, "rfc8068_basic_call.xml")
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(doc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseVendorExtensions parses a document with vendor extensions kept
// verbatim (testdata/metadata/oracle_sbc_style.xml).
func BenchmarkParseVendorExtensions(b *testing.B) {
	doc := corpus(b, "oracle_sbc_style.xml")
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(doc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshal(b *testing.B) {
	r, err := Parse(corpus(b, "rfc8068_basic_call.xml"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApplyPartial merges a participant-leaves update into a two-party
// state and computes the changes.
func BenchmarkApplyPartial(b *testing.B) {
	full, err := Parse(corpus(b, "rfc8068_basic_call.xml"))
	if err != nil {
		b.Fatal(err)
	}
	upd, err := Parse(corpus(b, "rfc8068_participant_leaves_partial.xml"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		s := NewState(full)
		if len(s.Apply(upd)) == 0 {
			b.Fatal("no changes")
		}
	}
}
