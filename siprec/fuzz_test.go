package siprec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func seedBodies(f *testing.F) {
	md, err := os.ReadFile(filepath.Join("testdata", "metadata", "sipp_peer.xml"))
	if err != nil {
		f.Fatal(err)
	}
	snap, err := os.ReadFile(filepath.Join("testdata", "requestsnapshot.xml"))
	if err != nil {
		f.Fatal(err)
	}
	mdCRLF := strings.ReplaceAll(string(md), "\n", "\r\n")
	// RFC 7866 §8.1.1 shape, the sipp client's shape, and the tolerated variations.
	f.Add("multipart/mixed;boundary=foobar", []byte("--foobar\r\nContent-Type: application/sdp\r\n\r\n"+testSDP+"\r\n--foobar\r\nContent-Type: application/rs-metadata+xml\r\nContent-Disposition: recording-session\r\n\r\n"+mdCRLF+"\r\n--foobar--\r\n"))
	f.Add(`multipart/mixed; boundary="x y"`, []byte("preamble\n--x y\nContent-Type: application/sdp\n\nv=0\n--x y\nContent-Type: application/rs-metadata\n\n"+string(md)+"\n--x y--\nepilogue"))
	f.Add("multipart/mixed;boundary=----=_Part_1", []byte("------=_Part_1\r\nContent-Disposition: recording-session\r\n\r\n"+string(snap)+"\r\n------=_Part_1"))
	f.Add("multipart/mixed;boundary=b", []byte("--b\r\nContent-Type:\r\n folded/type\r\n\r\n--bx\r\n--b  \r\n\r\n\r\n--b--"))
	f.Add("application/sdp", []byte(testSDP))
	f.Add("application/rs-metadata+xml", md)
	f.Add("", []byte{})
}

// FuzzParseMultipart checks that whatever ParseMultipart accepts can be
// written again and gives back the same parts, and that a second write gives
// the same bytes; and that ParseBody only fails with its documented errors.
func FuzzParseMultipart(f *testing.F) {
	seedBodies(f)
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		if b, err := ParseBody(contentType, body, nil); err != nil {
			if !matchesOne(err, ErrMalformedBody, ErrUnsupportedBody, ErrBadMetadata, ErrMetadataTooLarge) {
				t.Fatalf("ParseBody error %v matches no documented error", err)
			}
		} else if b.RawMetadata != nil && b.Metadata == nil && b.SnapshotRequest == nil {
			t.Fatal("metadata part present but neither parsed nor refused")
		}

		parts, err := ParseMultipart(contentType, body)
		if err != nil {
			if !errors.Is(err, ErrMalformedBody) {
				t.Fatalf("ParseMultipart error %v is not ErrMalformedBody", err)
			}
			return
		}
		ct, rebuilt, err := BuildMultipart(parts, "fuzz-boundary")
		if err != nil {
			if !errors.Is(err, ErrMalformedBody) {
				t.Fatalf("BuildMultipart error %v", err)
			}
			return // a part holds the boundary
		}
		again, err := ParseMultipart(ct, rebuilt)
		if err != nil {
			t.Fatalf("parsing the rebuilt body: %v\n%q", err, rebuilt)
		}
		if !equalParts(parts, again) {
			t.Fatalf("parts changed:\n%q\n%q", parts, again)
		}
		_, rebuilt2, err := BuildMultipart(again, "fuzz-boundary")
		if err != nil || string(rebuilt2) != string(rebuilt) {
			t.Fatalf("second build differs: %v\n%q\n%q", err, rebuilt, rebuilt2)
		}
	})
}

// FuzzBuildMultipart checks that any two parts BuildMultipart accepts come
// back byte for byte.
func FuzzBuildMultipart(f *testing.F) {
	f.Add("application/sdp", []byte(testSDP), "application/rs-metadata+xml", "recording-session", []byte("<recording/>"), "b")
	f.Add("", []byte("\r\n"), "", "", []byte("\n--"), "--")
	f.Add("a/b; x=\"y\"", []byte("--b"), "c", "d", []byte{}, "with space")
	f.Fuzz(func(t *testing.T, ct1 string, body1 []byte, ct2, disp2 string, body2 []byte, boundary string) {
		parts := []Part{
			{ContentType: strings.TrimSpace(ct1), Body: body1},
			{ContentType: strings.TrimSpace(ct2), ContentDisposition: strings.TrimSpace(disp2), Body: body2},
		}
		ct, body, err := BuildMultipart(parts, boundary)
		if err != nil {
			if !errors.Is(err, ErrMalformedBody) {
				t.Fatalf("BuildMultipart error %v is not ErrMalformedBody", err)
			}
			return
		}
		got, err := ParseMultipart(ct, body)
		if err != nil {
			t.Fatalf("ParseMultipart: %v\n%q %q", err, ct, body)
		}
		if !equalParts(got, parts) {
			t.Fatalf("parts changed:\n%q\n%q\n%q", parts, got, body)
		}
	})
}

func matchesOne(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}
