package siprec

import (
	"testing"

	"github.com/voicegw/voicegw/siprec/metadata"
)

// BenchmarkParseBody parses a typical SIPREC INVITE body: multipart/mixed
// with a two-stream SDP and a two-participant metadata document (split,
// metadata parsed).
func BenchmarkParseBody(b *testing.B) {
	md, err := metadata.Parse(readTestdata(b, "metadata", "rfc8068_basic_call.xml"))
	if err != nil {
		b.Fatal(err)
	}
	ct, body, err := BuildBody([]byte(testSDP), md, &BuildOptions{Boundary: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseBody(ct, body, &BodyOptions{RequireMetadata: true, RequireSDP: true}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuildBody writes the same body (metadata Marshal + multipart).
func BenchmarkBuildBody(b *testing.B) {
	md, err := metadata.Parse(readTestdata(b, "metadata", "rfc8068_basic_call.xml"))
	if err != nil {
		b.Fatal(err)
	}
	sdp := []byte(testSDP)
	opts := &BuildOptions{Boundary: "bench"}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := BuildBody(sdp, md, opts); err != nil {
			b.Fatal(err)
		}
	}
}
