package siprec

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/voicegw/voicegw/siprec/metadata"
)

const testSDP = "v=0\r\n" +
	"o=SRC 2890844526 2890844526 IN IP4 192.0.2.10\r\n" +
	"s=SIPREC\r\n" +
	"c=IN IP4 192.0.2.10\r\n" +
	"t=0 0\r\n" +
	"m=audio 6000 RTP/AVP 0\r\n" +
	"a=rtpmap:0 PCMU/8000\r\n" +
	"a=label:1\r\n" +
	"a=sendonly\r\n" +
	"m=audio 6002 RTP/AVP 0\r\n" +
	"a=rtpmap:0 PCMU/8000\r\n" +
	"a=label:2\r\n" +
	"a=sendonly\r\n"

func readTestdata(t testing.TB, parts ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{"testdata"}, parts...)...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

func TestParseBodyShapes(t *testing.T) {
	md := string(readTestdata(t, "metadata", "sipp_peer.xml"))
	sdpLF := strings.ReplaceAll(testSDP, "\r\n", "\n")
	tests := []struct {
		name        string
		contentType string
		body        string
		wantSDP     string // "" = none
		wantMD      bool
	}{
		{
			name:        "sipp: bare boundary, CRLF",
			contentType: "multipart/mixed;boundary=sipp-siprec-boundary",
			body: crlf("--sipp-siprec-boundary\nContent-Type: application/sdp\n\n") + testSDP + "\r\n" +
				crlf("--sipp-siprec-boundary\nContent-Type: application/rs-metadata+xml\nContent-Disposition: recording-session\n\n"+md+"\n--sipp-siprec-boundary--\n"),
			wantSDP: testSDP, wantMD: true,
		},
		{
			name:        "quoted boundary, LF only, preamble and epilogue",
			contentType: `multipart/mixed; boundary="OSS unique boundary 42"`,
			body: "This is a preamble.\n--OSS unique boundary 42\nContent-Type: application/sdp\n\n" + sdpLF + "\n" +
				"--OSS unique boundary 42\nContent-Type: application/rs-metadata+xml\nContent-Disposition: recording-session\n\n" + md + "\n" +
				"--OSS unique boundary 42--\nThis is an epilogue.\n",
			wantSDP: sdpLF, wantMD: true,
		},
		{
			name:        "bare boundary with '=' and the legacy content type",
			contentType: "multipart/mixed;boundary=----=_Part_15296_823292916.1768489452115",
			body: crlf("------=_Part_15296_823292916.1768489452115\nContent-Type: application/sdp\n\n") + testSDP + "\r\n" +
				crlf("------=_Part_15296_823292916.1768489452115\nContent-Type: application/rs-metadata\nContent-Disposition: recording-session;handling=required\n\n"+md+"\n------=_Part_15296_823292916.1768489452115--"),
			wantSDP: testSDP, wantMD: true,
		},
		{
			name:        "metadata first, typed by its disposition only",
			contentType: "Multipart/Mixed; Boundary=b1; charset=utf-8",
			body:        crlf("--b1\ncontent-disposition: recording-session\ncontent-type: application/xml\n\n"+md+"\n--b1\ncontent-type: application/sdp\n\n") + testSDP + "\r\n--b1--\r\n",
			wantSDP:     testSDP, wantMD: true,
		},
		{
			name:        "no closing delimiter",
			contentType: "multipart/mixed;boundary=b2",
			body:        crlf("--b2\nContent-Type: application/sdp\n\n") + testSDP + "\r\n" + crlf("--b2\nContent-Type: application/rs-metadata+xml\n\n"+md+"\n"),
			wantSDP:     testSDP, wantMD: true,
		},
		{
			name:        "mixed line ends, padding after delimiters, folded header, content type parameters",
			contentType: "multipart/mixed ; boundary = b3",
			body:        "--b3  \r\nContent-Type: application/sdp\n\n" + testSDP + "\n--b3\t\nContent-Type:\r\n application/rs-metadata+xml; charset=UTF-8\r\nContent-Disposition: recording-session\r\n\r\n" + md + "\r\n--b3--",
			wantSDP:     testSDP, wantMD: true,
		},
		{
			name:        "a line that only starts like the boundary is content",
			contentType: "multipart/mixed;boundary=b4",
			body:        crlf("--b4\nContent-Type: application/sdp\n\n--b4x is not a delimiter\n--b4\nContent-Type: application/rs-metadata+xml\n\n" + md + "\n--b4--\n"),
			wantSDP:     "--b4x is not a delimiter", wantMD: true,
		},
		{name: "SDP alone (re-INVITE)", contentType: "application/sdp", body: testSDP, wantSDP: testSDP},
		{name: "metadata alone (UPDATE)", contentType: "application/rs-metadata+xml", body: md, wantMD: true},
		{name: "legacy metadata type alone", contentType: "application/rs-metadata", body: md, wantMD: true},
		{name: "empty body", contentType: "", body: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ParseBody(tc.contentType, []byte(tc.body), nil)
			if err != nil {
				t.Fatalf("ParseBody: %v", err)
			}
			if string(b.SDP) != tc.wantSDP || (b.SDP == nil) != (tc.wantSDP == "") {
				t.Errorf("SDP = %q, want %q", b.SDP, tc.wantSDP)
			}
			if (b.Metadata != nil) != tc.wantMD {
				t.Fatalf("metadata = %v, want present=%v", b.Metadata, tc.wantMD)
			}
			if tc.wantMD {
				if strings.ReplaceAll(string(b.RawMetadata), "\r\n", "\n") != md {
					t.Errorf("raw metadata = %q", b.RawMetadata)
				}
				if err := b.Metadata.CheckLabels([]string{"1", "2"}); err != nil || len(b.Metadata.Participants) != 2 {
					t.Errorf("metadata = %v, %v", b.Metadata, err)
				}
			}
		})
	}
}

func TestParseBodyErrors(t *testing.T) {
	md := string(readTestdata(t, "metadata", "sipp_peer.xml"))
	big := strings.Replace(md, "<datamode>", strings.Repeat("<!-- padding -->", 5000)+"<datamode>", 1)
	mp := func(metaType, meta string) string {
		return crlf("--b\nContent-Type: application/sdp\n\n") + testSDP + "\r\n" + crlf("--b\nContent-Type: "+metaType+"\nContent-Disposition: recording-session\n\n"+meta+"\n--b--\n")
	}
	tests := []struct {
		name        string
		contentType string
		body        string
		opts        *BodyOptions
		want        []error
		inMessage   string
	}{
		{"multipart without boundary", "multipart/mixed", "--b\r\n\r\nx\r\n--b--", nil, []error{ErrMalformedBody}, "boundary"},
		{"boundary never appears", "multipart/mixed;boundary=zzz", mp(ContentTypeMetadata, md), nil, []error{ErrMalformedBody}, `"--zzz"`},
		{"no metadata part when required", "multipart/mixed;boundary=b", crlf("--b\nContent-Type: application/sdp\n\n") + testSDP + "\r\n--b--", &BodyOptions{RequireMetadata: true}, []error{ErrNoMetadata}, "multipart/mixed"},
		{"SDP alone when metadata is required", "application/sdp", testSDP, &BodyOptions{RequireMetadata: true}, []error{ErrNoMetadata}, ""},
		{"metadata alone when SDP is required", ContentTypeMetadata, md, &BodyOptions{RequireSDP: true}, []error{ErrNoSDP}, ""},
		{"metadata not well-formed", "multipart/mixed;boundary=b", mp(ContentTypeMetadata, "<recording><session></recording>"), nil, []error{ErrBadMetadata, metadata.ErrSyntax}, "line 1"},
		{"metadata with the wrong root", "multipart/mixed;boundary=b", mp(ContentTypeMetadata, "<html/>"), nil, []error{ErrBadMetadata, metadata.ErrNotRecording}, "html"},
		{"metadata with a bad value", ContentTypeMetadataLegacy, "<recording><datamode>maybe</datamode></recording>", nil, []error{ErrBadMetadata, metadata.ErrInvalidValue}, `"maybe"`},
		{"metadata over the set limit", "multipart/mixed;boundary=b", mp(ContentTypeMetadata, md), &BodyOptions{MaxMetadataSize: 1000}, []error{ErrMetadataTooLarge}, "limit 1000"},
		{"metadata over the default limit", ContentTypeMetadata, big, nil, []error{ErrMetadataTooLarge}, "limit 16384"},
		{"unsupported content type", "text/plain", "hello", nil, []error{ErrUnsupportedBody}, `"text/plain"`},
		{"body without content type", "", testSDP, nil, []error{ErrUnsupportedBody}, "(none)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ParseBody(tc.contentType, []byte(tc.body), tc.opts)
			if err == nil {
				t.Fatalf("ParseBody succeeded: %+v", b)
			}
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Errorf("error %q is not %v", err, w)
				}
			}
			if !strings.Contains(err.Error(), tc.inMessage) {
				t.Errorf("error %q does not say %q", err, tc.inMessage)
			}
		})
	}
	// No limit.
	if _, err := ParseBody(ContentTypeMetadata, []byte(big), &BodyOptions{MaxMetadataSize: -1}); err != nil {
		t.Errorf("unlimited: %v", err)
	}
}

func TestParseBodySnapshotRequest(t *testing.T) {
	doc := readTestdata(t, "requestsnapshot.xml")
	b, err := ParseBody(ContentTypeMetadata, doc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b.Metadata != nil || b.SnapshotRequest == nil || b.SnapshotRequest.Reason.Text != "SRS internal error" {
		t.Errorf("got %+v", b)
	}
	if _, err := ParseBody(ContentTypeMetadata, doc, &BodyOptions{RequireMetadata: true}); !errors.Is(err, ErrNoMetadata) {
		t.Errorf("a snapshot request counted as metadata: %v", err)
	}
}

func TestBuildBody(t *testing.T) {
	md, err := metadata.Parse(readTestdata(t, "metadata", "sipp_peer.xml"))
	if err != nil {
		t.Fatal(err)
	}
	xml, _ := md.Marshal()

	ct, body, err := BuildBody([]byte(testSDP), md, &BuildOptions{Boundary: "test-boundary"})
	if err != nil {
		t.Fatal(err)
	}
	want := "--test-boundary\r\nContent-Type: application/sdp\r\n\r\n" + testSDP + "\r\n" +
		"--test-boundary\r\nContent-Type: application/rs-metadata+xml\r\nContent-Disposition: recording-session\r\n\r\n" + string(xml) + "\r\n" +
		"--test-boundary--\r\n"
	if ct != "multipart/mixed;boundary=test-boundary" || string(body) != want {
		t.Errorf("BuildBody = %q\n%q", ct, body)
	}
	back, err := ParseBody(ct, body, &BodyOptions{RequireMetadata: true, RequireSDP: true})
	if err != nil {
		t.Fatal(err)
	}
	if string(back.SDP) != testSDP || !reflect.DeepEqual(back.Metadata, md) {
		t.Errorf("round trip: %+v", back)
	}

	// A boundary that needs quoting is quoted.
	ct, body, err = BuildBody([]byte(testSDP), md, &BuildOptions{Boundary: "with space=yes"})
	if err != nil || ct != `multipart/mixed;boundary="with space=yes"` {
		t.Fatalf("BuildBody = %q, %v", ct, err)
	}
	if _, err := ParseBody(ct, body, &BodyOptions{RequireMetadata: true}); err != nil {
		t.Errorf("quoted boundary round trip: %v", err)
	}

	// Random boundaries differ between bodies.
	ct1, b1, err1 := BuildBody([]byte(testSDP), md, nil)
	ct2, _, err2 := BuildBody([]byte(testSDP), md, nil)
	re := regexp.MustCompile(`^multipart/mixed;boundary=voicegw-[0-9a-f]{32}$`)
	if err1 != nil || err2 != nil || !re.MatchString(ct1) || !re.MatchString(ct2) || ct1 == ct2 {
		t.Errorf("random boundaries: %q %q %v %v", ct1, ct2, err1, err2)
	}
	if _, err := ParseBody(ct1, b1, &BodyOptions{RequireMetadata: true}); err != nil {
		t.Error(err)
	}

	// One part alone, or nothing.
	if ct, b, err := BuildBody([]byte(testSDP), nil, nil); err != nil || ct != ContentTypeSDP || string(b) != testSDP {
		t.Errorf("SDP only: %q %q %v", ct, b, err)
	}
	if ct, b, err := BuildBody(nil, md, nil); err != nil || ct != ContentTypeMetadata || string(b) != string(xml) {
		t.Errorf("metadata only: %q %v", ct, err)
	}
	if ct, b, err := BuildBody(nil, nil, nil); err != nil || ct != "" || len(b) != 0 {
		t.Errorf("nothing: %q %q %v", ct, b, err)
	}
	// A model Marshal refuses.
	if _, _, err := BuildBody([]byte(testSDP), &metadata.Recording{DataMode: "x"}, nil); !errors.Is(err, metadata.ErrInvalidModel) {
		t.Errorf("invalid model: %v", err)
	}
}

func TestBuildMultipartErrors(t *testing.T) {
	tests := []struct {
		name     string
		parts    []Part
		boundary string
		say      string
	}{
		{"boundary too long", nil, strings.Repeat("b", 71), "70"},
		{"boundary with a bad character", nil, "a;b", `';'`},
		{"boundary ending in a space", nil, "ab ", "space"},
		{"part holds the boundary", []Part{{Body: []byte("x\r\n--bb\r\n")}}, "bb", "contains the boundary"},
		{"header value with a line break", []Part{{ContentType: "text/plain\r\nX-Evil: 1"}}, "bb", "line break"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := BuildMultipart(tc.parts, tc.boundary)
			if !errors.Is(err, ErrMalformedBody) || !strings.Contains(err.Error(), tc.say) {
				t.Errorf("BuildMultipart = %v, want ErrMalformedBody saying %q", err, tc.say)
			}
		})
	}
}

func TestParseMultipartParts(t *testing.T) {
	parts := []Part{
		{ContentType: "application/sdp", Body: []byte(testSDP)},
		{Body: []byte("no headers\r\n")},
		{ContentType: "text/plain", ContentDisposition: "render", Body: []byte{}},
		{ContentType: "application/octet-stream", Body: []byte("\r\n\n\r--\r")},
	}
	ct, body, err := BuildMultipart(parts, "p")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseMultipart(ct, body)
	if err != nil {
		t.Fatal(err)
	}
	if !equalParts(got, parts) {
		t.Errorf("got %q\nwant %q", got, parts)
	}
	if got[0].MediaType() != "application/sdp" || got[2].Disposition() != "render" {
		t.Errorf("accessors: %q %q", got[0].MediaType(), got[2].Disposition())
	}
	// A part with headers and no blank line has an empty body; a closing
	// delimiter at once gives no parts.
	got, err = ParseMultipart("multipart/mixed;boundary=q", []byte("--q\r\nContent-Type: a/b\r\n--q--"))
	if err != nil || len(got) != 1 || got[0].ContentType != "a/b" || len(got[0].Body) != 0 {
		t.Errorf("headers only: %q %v", got, err)
	}
	got, err = ParseMultipart("multipart/mixed;boundary=q", []byte("--q--\r\n"))
	if err != nil || len(got) != 0 {
		t.Errorf("no parts: %q %v", got, err)
	}
	if _, err := ParseMultipart("application/sdp", []byte(testSDP)); !errors.Is(err, ErrMalformedBody) {
		t.Errorf("not multipart: %v", err)
	}
}

func equalParts(a, b []Part) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ContentType != b[i].ContentType || a[i].ContentDisposition != b[i].ContentDisposition || string(a[i].Body) != string(b[i].Body) {
			return false
		}
	}
	return true
}

func TestParam(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"multipart/mixed;boundary=abc", "abc", true},
		{`multipart/mixed; boundary="a b;c"`, "a b;c", true},
		{`multipart/mixed; charset=x; BOUNDARY = "q\"uote" ; x=y`, `q"uote`, true},
		{"multipart/mixed;boundary=----=_Part_1.2", "----=_Part_1.2", true},
		{"multipart/mixed; novalue; boundary=z", "z", true},
		{"multipart/mixed", "", false},
		{"multipart/mixed; charset=utf-8", "", false},
		{`multipart/mixed; boundary="unterminated`, "unterminated", true},
	}
	for _, tc := range tests {
		got, ok := param(tc.in, "boundary")
		if got != tc.want || ok != tc.ok {
			t.Errorf("param(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
