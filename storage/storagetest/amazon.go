package storagetest

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/voicegw/voicegw/storage"
)

// Amazon S3 itself (storage.VendorS3) has no endpoint setting: its requests
// go to https://BUCKET.s3.REGION.amazonaws.com. Tests have no network, so
// AmazonHTTPClient carries those requests to this server over loopback
// instead, unchanged: the Host header, the path and the SigV4 signature stay
// what the AWS SDK made for Amazon, and the server checks the signature
// against them. The server then serves the virtual-hosted request as the
// path-style request gofakes3 understands, and decodes the aws-chunked
// bodies with trailing checksums that the SDK sends to an https endpoint.

// AmazonConfig returns an Amazon S3 configuration (storage.VendorS3:
// virtual-hosted addressing, checksums on every write) of bucket with the
// server's credentials and region. Open it with Options.HTTPClient set to
// AmazonHTTPClient, or it reaches for the real Amazon S3.
func (s *S3Server) AmazonConfig(bucket string, tags storage.Tags) storage.Config {
	return storage.Config{Vendor: storage.VendorS3, S3: &storage.S3Config{
		Bucket: bucket, Region: s.Region, AccessKeyID: s.KeyID, SecretAccessKey: s.SecretKey, Tags: tags,
	}}
}

// AmazonHTTPClient returns an HTTP client that sends every request for an
// amazonaws.com host to this server, over plain HTTP to its loopback
// address, keeping the request's Host header; it refuses every other host.
// Pass it as storage.Options.HTTPClient with AmazonConfig, and to fetch the
// presigned URLs of such a bucket.
func (s *S3Server) AmazonHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	return &http.Client{Transport: &amazonTransport{addr: s.addr, next: t}}
}

type amazonTransport struct {
	addr string
	next http.RoundTripper
}

func (a *amazonTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	host := r.URL.Hostname()
	if !strings.HasSuffix(host, ".amazonaws.com") {
		if r.Body != nil {
			_ = r.Body.Close()
		}
		return nil, fmt.Errorf("storagetest: %s is not an amazonaws.com host; tests reach no network", host)
	}
	r2 := r.Clone(r.Context())
	if r2.Host == "" {
		r2.Host = r.URL.Host
	}
	u := *r.URL
	u.Scheme, u.Host = "http", a.addr
	r2.URL = &u
	return a.next.RoundTrip(r2)
}

// virtualHostBucket returns the bucket a virtual-hosted request names in its
// Host: BUCKET.s3.REGION.amazonaws.com or BUCKET.s3.amazonaws.com.
func virtualHostBucket(host string) (string, bool) {
	if h, _, found := strings.Cut(host, ":"); found {
		host = h
	}
	bucket, rest, ok := strings.Cut(host, ".")
	if !ok || bucket == "" || !strings.HasPrefix(rest, "s3.") || !strings.HasSuffix(rest, ".amazonaws.com") {
		return "", false
	}
	return bucket, true
}

// toPathStyle turns a virtual-hosted request into the path-style request
// gofakes3 serves. It runs after the signature check.
func toPathStyle(r *http.Request) {
	bucket, ok := virtualHostBucket(r.Host)
	if !ok {
		return
	}
	p := r.URL.Path
	r.URL.Path = "/" + bucket
	if p != "/" && p != "" {
		r.URL.Path += p
	}
	if r.URL.RawPath != "" {
		rp := r.URL.RawPath
		r.URL.RawPath = "/" + bucket
		if rp != "/" {
			r.URL.RawPath += rp
		}
	}
}

// errBadDigest is a trailing checksum that does not match the body.
var errBadDigest = errors.New("the checksum of the body does not match its x-amz-checksum trailer")

// decodeAWSChunked replaces an aws-chunked body sent with
// x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER (what the AWS SDK
// sends to an https endpoint when it adds a checksum) with the decoded
// payload, after checking the trailing x-amz-checksum-* against it, as S3
// does. Other requests are left alone. The decoded body is held in memory:
// gofakes3 keeps every object in memory anyway.
//
// The body is a series of "HEXSIZE\r\nDATA\r\n" chunks, a "0\r\n" chunk,
// then "name:value\r\n" trailers and "\r\n"
// (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming-trailers.html).
// The verified checksum is sent back in the response's x-amz-checksum-*
// header, as S3 answers PutObject and UploadPart.
func decodeAWSChunked(w http.ResponseWriter, r *http.Request) (code, msg string) {
	if r.Header.Get("X-Amz-Content-Sha256") != "STREAMING-UNSIGNED-PAYLOAD-TRAILER" {
		return "", ""
	}
	want, err := strconv.ParseInt(r.Header.Get("X-Amz-Decoded-Content-Length"), 10, 64)
	if err != nil || want < 0 {
		return "MissingContentLength", "x-amz-decoded-content-length is missing or malformed"
	}
	trailer := strings.ToLower(strings.TrimSpace(r.Header.Get("X-Amz-Trailer")))
	var h hash.Hash
	switch trailer {
	case "x-amz-checksum-crc32":
		h = crc32.NewIEEE()
	case "x-amz-checksum-crc32c":
		h = crc32.New(crc32.MakeTable(crc32.Castagnoli))
	case "x-amz-checksum-sha1":
		h = sha1.New()
	case "x-amz-checksum-sha256":
		h = sha256.New()
	default:
		return "InvalidRequest", fmt.Sprintf("x-amz-trailer %q is not a checksum this server verifies", trailer)
	}
	var body bytes.Buffer
	trailers, err := readAWSChunked(bufio.NewReader(r.Body), io.MultiWriter(&body, h))
	_ = r.Body.Close()
	if err != nil {
		return "IncompleteBody", "aws-chunked body: " + err.Error()
	}
	if int64(body.Len()) != want {
		return "IncompleteBody", fmt.Sprintf("aws-chunked body holds %d bytes, x-amz-decoded-content-length says %d", body.Len(), want)
	}
	got := base64.StdEncoding.EncodeToString(h.Sum(nil))
	if v, ok := trailers[trailer]; !ok || v != got {
		return "BadDigest", errBadDigest.Error()
	}
	r.Body = io.NopCloser(&body)
	r.ContentLength = want
	r.Header.Set("Content-Length", strconv.FormatInt(want, 10))
	r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	// What describes the encoding is not stored with the object.
	var enc []string
	for _, e := range strings.Split(r.Header.Get("Content-Encoding"), ",") {
		if e = strings.TrimSpace(e); e != "" && !strings.EqualFold(e, "aws-chunked") {
			enc = append(enc, e)
		}
	}
	if len(enc) == 0 {
		r.Header.Del("Content-Encoding")
	} else {
		r.Header.Set("Content-Encoding", strings.Join(enc, ","))
	}
	r.Header.Del("X-Amz-Decoded-Content-Length")
	r.Header.Del("X-Amz-Trailer")
	w.Header().Set(trailer, got)
	return "", ""
}

// readAWSChunked copies the chunks' data to w and returns the trailers,
// names lowercase.
func readAWSChunked(br *bufio.Reader, w io.Writer) (map[string]string, error) {
	line := func() (string, error) {
		l, err := br.ReadString('\n')
		if err != nil {
			return "", fmt.Errorf("truncated: %w", err)
		}
		if !strings.HasSuffix(l, "\r\n") {
			return "", fmt.Errorf("line %q does not end in CRLF", l)
		}
		return strings.TrimSuffix(l, "\r\n"), nil
	}
	for {
		l, err := line()
		if err != nil {
			return nil, err
		}
		sizeHex, _, _ := strings.Cut(l, ";") // ";chunk-signature=..." of signed chunks
		n, err := strconv.ParseInt(sizeHex, 16, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("chunk size %q", l)
		}
		if n == 0 {
			break
		}
		if _, err := io.CopyN(w, br, n); err != nil {
			return nil, fmt.Errorf("chunk of %d bytes: %w", n, err)
		}
		if l, err := line(); err != nil || l != "" {
			return nil, fmt.Errorf("chunk of %d bytes is longer than announced", n)
		}
	}
	trailers := map[string]string{}
	for {
		l, err := line()
		if err != nil {
			return nil, err
		}
		if l == "" {
			return trailers, nil
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			return nil, fmt.Errorf("trailer %q", l)
		}
		trailers[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
	}
}
