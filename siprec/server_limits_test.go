package siprec

import (
	"bytes"
	"testing"

	sipgosip "github.com/emiago/sipgo/sip"
)

// TestSRSMetadataLimitTCP: with the default Config, over TCP, an INVITE
// whose metadata is exactly DefaultMaxMetadataSize bytes is answered 200
// and one a byte over it 413, reported to OnReject as metadata_too_large
// (the sipp rejection test covers UDP and TCP well over the limit). The
// limit stays inside what sipgo reads over UDP, so it is answerable there
// too.
func TestSRSMetadataLimitTCP(t *testing.T) {
	t.Parallel()
	if max := int(sipgosip.TransportBufferReadSize) - 4096; DefaultMaxMetadataSize >= max {
		t.Fatalf("DefaultMaxMetadataSize %d leaves no room for a 413 in sipgo's %d-byte UDP read", DefaultMaxMetadataSize, sipgosip.TransportBufferReadSize)
	}
	var rejects srsRejects
	e := newSRSEnv(t, Config{OnReject: rejects.onReject})
	for _, c := range []struct {
		size int
		code int
	}{
		{DefaultMaxMetadataSize, 200},
		{DefaultMaxMetadataSize + 1, 413},
	} {
		cl := newSRSClient(t, e)
		ct, body := srsSizedBody(t, mustMarshal(t, srsOfferOf(1, srsLegs(t, "1")...)), c.size)
		res := cl.do(cl.request(sipgosip.INVITE, ct, body), false)
		if res.StatusCode != c.code {
			t.Errorf("metadata of %d bytes over TCP: %d %s, want %d", c.size, res.StatusCode, res.Reason, c.code)
		}
	}
	e.sinks.wait(t)
	rejects.want(t, "413 "+RejectMetadataTooLarge)
}

// srsSizedBody returns a multipart SIPREC body with sdp and a metadata part
// of exactly size bytes (padded with an XML comment).
func srsSizedBody(t *testing.T, sdp []byte, size int) (string, []byte) {
	t.Helper()
	md, err := srsMetadataFor("", "1").Marshal()
	if err != nil {
		t.Fatal(err)
	}
	end := bytes.LastIndex(md, []byte("</recording>"))
	pad := size - len(md) - len("<!---->")
	if end < 0 || pad < 0 {
		t.Fatalf("cannot pad %d bytes of metadata to %d", len(md), size)
	}
	padded := append(append(append([]byte{}, md[:end]...), "<!--"+string(bytes.Repeat([]byte("x"), pad))+"-->"...), md[end:]...)
	var b bytes.Buffer
	b.WriteString("--b0\r\nContent-Type: application/sdp\r\n\r\n")
	b.Write(sdp)
	b.WriteString("\r\n--b0\r\nContent-Type: application/rs-metadata+xml\r\nContent-Disposition: recording-session\r\n\r\n")
	b.Write(padded)
	b.WriteString("\r\n--b0--\r\n")
	ct := "multipart/mixed;boundary=b0"
	parsed, err := ParseBody(ct, b.Bytes(), &BodyOptions{MaxMetadataSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	if len(parsed.RawMetadata) != size || parsed.Metadata == nil {
		t.Fatalf("test body: metadata part of %d bytes, want %d", len(parsed.RawMetadata), size)
	}
	return ct, b.Bytes()
}
