package storagetest

import (
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// The server decodes the aws-chunked bodies the AWS SDK sends to Amazon over
// https and refuses one whose trailing checksum or length is wrong, as S3
// does (BadDigest, IncompleteBody).
func TestDecodeAWSChunked(t *testing.T) {
	payload := "hello, voicegw recordings"
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc32.ChecksumIEEE([]byte(payload)))
	good := base64.StdEncoding.EncodeToString(sum[:])
	chunked := func(crc string) string {
		return "5\r\nhello\r\n" + strconv.FormatInt(int64(len(payload)-5), 16) + "\r\n" + payload[5:] + "\r\n0\r\n" +
			"x-amz-checksum-crc32:" + crc + "\r\n\r\n"
	}
	for _, tc := range []struct {
		name, body, decodedLen, wantCode string
	}{
		{"TwoChunks", chunked(good), strconv.Itoa(len(payload)), ""},
		{"WrongChecksum", chunked("AAAAAA=="), strconv.Itoa(len(payload)), "BadDigest"},
		{"NoTrailer", "5\r\nhello\r\n0\r\n\r\n", "5", "BadDigest"},
		{"Truncated", chunked(good)[:20], strconv.Itoa(len(payload)), "IncompleteBody"},
		{"ChunkLongerThanAnnounced", "3\r\nhello\r\n0\r\n\r\n", "3", "IncompleteBody"},
		{"WrongDecodedLength", chunked(good), "3", "IncompleteBody"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPut, "/b/k", strings.NewReader(tc.body))
			r.Header.Set("X-Amz-Content-Sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
			r.Header.Set("X-Amz-Decoded-Content-Length", tc.decodedLen)
			r.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
			r.Header.Set("Content-Encoding", "aws-chunked")
			w := httptest.NewRecorder()
			code, msg := decodeAWSChunked(w, r)
			if code != tc.wantCode {
				t.Fatalf("code %q (%s), want %q", code, msg, tc.wantCode)
			}
			if code != "" {
				return
			}
			got, _ := io.ReadAll(r.Body)
			if string(got) != payload || r.ContentLength != int64(len(payload)) || r.Header.Get("Content-Encoding") != "" ||
				w.Header().Get("X-Amz-Checksum-Crc32") != good {
				t.Fatalf("decoded %q, length %d, encoding %q, answered checksum %q", got, r.ContentLength,
					r.Header.Get("Content-Encoding"), w.Header().Get("X-Amz-Checksum-Crc32"))
			}
		})
	}
}

func TestVirtualHostBucket(t *testing.T) {
	for host, want := range map[string]string{
		"recordings.s3.us-east-1.amazonaws.com":     "recordings",
		"recordings.s3.amazonaws.com:443":           "recordings",
		"127.0.0.1:9000":                            "",
		"s3.us-east-1.amazonaws.com":                "",
		"recordings.storage.googleapis.com":         "",
		"recordings.s3.eu-central-1.amazonaws.com.": "",
	} {
		if got, _ := virtualHostBucket(host); got != want {
			t.Errorf("virtualHostBucket(%q) = %q, want %q", host, got, want)
		}
	}
}
