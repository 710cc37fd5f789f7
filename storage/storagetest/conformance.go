// Package storagetest runs one conformance suite against every bucket vendor
// of package storage, and starts the real protocol servers it runs against:
// an in-process S3 server (gofakes3 behind a SigV4 check), an in-process GCS
// server (fake-gcs-server behind an OAuth 2.0 token endpoint) and Azurite.
// Other packages (recording) use the servers for their own tests.
package storagetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gocloud.dev/blob"

	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/storage"
)

// Harness describes one vendor to RunConformance.
type Harness struct {
	// Config is a working configuration of an existing, empty bucket whose
	// tags include at least one tag.
	Config storage.Config
	// Options are passed to storage.Open; nil works.
	Options *storage.Options
	// WrongCredentials is Config with credentials the server refuses; the
	// zero Config for vendors without credentials (file, memory).
	WrongCredentials storage.Config
	// MissingBucket names a bucket that does not exist; zero for memory.
	MissingBucket storage.Config
	// Unreachable points at an endpoint where nothing listens; zero for
	// vendors without an endpoint.
	Unreachable storage.Config
	// VendorTags reads the tags (or metadata) of key with the vendor's own
	// client: S3 object tags, Azure blob index tags, GCS object metadata.
	VendorTags func(ctx context.Context, key string) (map[string]string, error)
	// Open, when set, returns the bucket each test uses instead of
	// storage.Open(Config); the harness owns what it returns (the suite
	// does not close it). The memory vendor needs it: every Open of a
	// memory configuration is a new, empty bucket.
	Open func(ctx context.Context, opts *storage.Options) (*storage.Bucket, error)
	// SignedURLs is true when the vendor signs playback URLs; the suite then
	// fetches one with plain HTTP. Otherwise it expects ErrNotSupported.
	SignedURLs bool
	// HTTPClient fetches the signed URLs. Default: http.DefaultClient.
	// Amazon S3's links name amazonaws.com hosts: pass
	// S3Server.AmazonHTTPClient.
	HTTPClient *http.Client
}

// RunConformance runs the suite against h. Every vendor must pass all of it.
func RunConformance(t *testing.T, h Harness) {
	ctx := context.Background()
	open := func(t *testing.T, opts *storage.Options) *storage.Bucket {
		t.Helper()
		if h.Open != nil {
			b, err := h.Open(ctx, opts)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			return b
		}
		b, err := storage.Open(ctx, h.Config, opts)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	}
	configured := h.Config.Tags().Map()
	if len(configured) == 0 {
		t.Fatal("harness: Config must have tags")
	}

	t.Run("UploadReadTagsDelete", func(t *testing.T) {
		b := open(t, h.Options)
		content := WAV(8000, 2, 3*time.Second) // 96 KB
		name := writeTemp(t, content)
		key := "AC0123456789abcdef/AP0123456789abcdef/" + randomID() + ".wav"
		err := b.UploadFile(ctx, key, name, &storage.UploadOptions{Tags: storage.Tags{{Name: "session", Value: "s-1"}}})
		if err != nil {
			t.Fatalf("UploadFile: %v", err)
		}
		if _, err := os.Stat(name); err != nil {
			t.Fatalf("UploadFile removed the source file: %v", err)
		}
		a, err := b.Attributes(ctx, key)
		if err != nil {
			t.Fatalf("Attributes: %v", err)
		}
		if a.Size != int64(len(content)) || a.ContentType != storage.ContentTypeWAV {
			t.Fatalf("attributes size=%d type=%q, want %d %q", a.Size, a.ContentType, len(content), storage.ContentTypeWAV)
		}
		if got := readAll(t, b, key); !bytes.Equal(got, content) {
			t.Fatalf("read back %d bytes that differ from the %d written", len(got), len(content))
		}
		tags, err := h.VendorTags(ctx, key)
		if err != nil {
			t.Fatalf("vendor client: %v", err)
		}
		want := map[string]string{"session": "s-1"}
		for k, v := range configured {
			want[k] = v
		}
		for k, v := range want {
			got, ok := tags[k]
			if !ok {
				got, ok = tags[strings.ToLower(k)] // GCS and blob metadata keys are lowercase
			}
			if !ok || got != v {
				t.Errorf("vendor client sees tag %q = %q (present %v), want %q; all: %v", k, got, ok, v, tags)
			}
		}
		if err := b.Delete(ctx, key); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if _, err := b.Attributes(ctx, key); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("Attributes after Delete = %v, want ErrNotFound", err)
		}
		if err := b.Delete(ctx, key); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("second Delete = %v, want ErrNotFound", err)
		}
	})

	t.Run("UploadIDFindsTheObject", func(t *testing.T) {
		// What the Spool relies on to store a file once: the upload ID is
		// kept with the object and found again.
		b := open(t, h.Options)
		key := "AC1/AP1/" + randomID() + ".wav"
		body := WAV(8000, 1, time.Second)
		id := "0000000000000001-" + randomID()
		if ok, err := b.Landed(ctx, key, int64(len(body)), id); ok || err != nil {
			t.Fatalf("Landed before the upload = %v, %v", ok, err)
		}
		if err := b.Upload(ctx, key, bytes.NewReader(body), int64(len(body)), &storage.UploadOptions{UploadID: id}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			size int64
			id   string
			want bool
		}{{int64(len(body)), id, true}, {int64(len(body)), id + "x", false}, {int64(len(body)) - 1, id, false}, {int64(len(body)), "", false}} {
			if ok, err := b.Landed(ctx, key, tc.size, tc.id); ok != tc.want || err != nil {
				t.Errorf("Landed(size %d, id %q) = %v, %v; want %v", tc.size, tc.id, ok, err, tc.want)
			}
		}
	})

	t.Run("MP3ContentType", func(t *testing.T) {
		b := open(t, h.Options)
		key := "AC1/AP1/" + randomID() + ".mp3"
		body := bytes.Repeat([]byte{0xff, 0xf3, 0x44, 0xc4}, 1000)
		if err := b.Upload(ctx, key, bytes.NewReader(body), int64(len(body)), nil); err != nil {
			t.Fatalf("Upload: %v", err)
		}
		a, err := b.Attributes(ctx, key)
		if err != nil || a.ContentType != storage.ContentTypeMP3 {
			t.Fatalf("Attributes = %+v, %v; want content type %s", a, err, storage.ContentTypeMP3)
		}
	})

	t.Run("LargeUploadInChunks", func(t *testing.T) {
		// Larger than one S3 part (5 MiB) and many GCS/Azure chunks: the
		// upload streams in pieces and the pieces come back in order.
		opts := storage.Options{}
		if h.Options != nil {
			opts = *h.Options
		}
		opts.ChunkSize = 256 << 10
		opts.S3PartSize = 5 << 20
		b := open(t, &opts)
		content := WAV(8000, 2, 6*time.Minute) // ~11.5 MB
		name := writeTemp(t, content)
		key := "AC1/AP1/" + randomID() + ".wav"
		if err := b.UploadFile(ctx, key, name, nil); err != nil {
			t.Fatalf("UploadFile: %v", err)
		}
		got := readAll(t, b, key)
		if sha256.Sum256(got) != sha256.Sum256(content) {
			t.Fatalf("read back %d bytes that differ from the %d written", len(got), len(content))
		}
		tags, err := h.VendorTags(ctx, key)
		if err != nil {
			t.Fatalf("vendor client: %v", err)
		}
		for k, v := range configured {
			if tags[k] != v && tags[strings.ToLower(k)] != v {
				t.Errorf("tag %q missing after a chunked upload: %v", k, tags)
			}
		}
	})

	t.Run("TestSucceeds", func(t *testing.T) {
		b := open(t, h.Options)
		if err := b.Test(ctx); err != nil {
			t.Fatalf("Test: %v", err)
		}
		it := b.Blob().List(&blob.ListOptions{Prefix: storage.ProbePrefix})
		if obj, err := it.Next(ctx); err != io.EOF {
			t.Fatalf("Test left a probe object behind: %v %v", obj, err)
		}
		if h.Open == nil {
			if err := storage.Test(ctx, h.Config, h.Options); err != nil {
				t.Fatalf("storage.Test: %v", err)
			}
		}
	})

	failures := []struct {
		name string
		cfg  storage.Config
		want error
		why  string
	}{
		{"TestFailsWithWrongCredentials", h.WrongCredentials, storage.ErrBadCredentials, "this vendor has no credentials"},
		{"TestFailsForMissingBucket", h.MissingBucket, storage.ErrNoSuchBucket, "this vendor has no bucket that can be missing"},
		{"TestFailsForUnreachableEndpoint", h.Unreachable, storage.ErrUnreachable, "this vendor has no endpoint"},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			if f.cfg.IsZero() {
				t.Skip(f.why)
			}
			tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			err := storage.Test(tctx, f.cfg, h.Options)
			if !errors.Is(err, f.want) {
				t.Fatalf("Test = %v, want an error matching %v", err, f.want)
			}
			var oe *storage.OpError
			if !errors.As(err, &oe) || (oe.Op != storage.StepWrite && oe.Op != storage.StepOpen) {
				t.Fatalf("Test error %v does not name the step (write or open)", err)
			}
			for _, s := range secretsOf(f.cfg) {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("Test error leaks a secret: %v", err)
				}
			}
			t.Logf("operator sees: %v", err)
		})
	}

	t.Run("ContextCancelledDuringUpload", func(t *testing.T) {
		opts := storage.Options{}
		if h.Options != nil {
			opts = *h.Options
		}
		opts.ChunkSize = 256 << 10
		b := open(t, &opts)
		content := WAV(8000, 2, time.Minute)
		key := "AC1/AP1/" + randomID() + ".wav"
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		r := &cancellingReader{r: bytes.NewReader(content), after: int64(len(content) / 3), cancel: cancel}
		err := b.Upload(cctx, key, r, int64(len(content)), nil)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Upload with ctx cancelled midway = %v, want context.Canceled", err)
		}
		if _, err := b.Attributes(ctx, key); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("a cancelled upload left an object (Attributes = %v)", err)
		}
		done, cancel2 := context.WithCancel(ctx)
		cancel2()
		if err := b.Upload(done, key, bytes.NewReader(content), int64(len(content)), nil); !errors.Is(err, context.Canceled) {
			t.Fatalf("Upload with a cancelled ctx = %v", err)
		}
	})

	t.Run("InvalidKeyIsRefused", func(t *testing.T) {
		b := open(t, h.Options)
		for _, key := range []string{"", "/abs.wav", "a/../b.wav", "a//b.wav", "bad\x00.wav"} {
			err := b.Upload(ctx, key, strings.NewReader("x"), 1, nil)
			if !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("Upload(%q) = %v, want ErrInvalidKey", key, err)
			}
		}
	})

	t.Run("RangedReadsAndETag", func(t *testing.T) {
		b := open(t, h.Options)
		key := "AC1/AP1/" + randomID() + ".wav"
		content := WAV(8000, 2, 2*time.Second)
		if err := b.Upload(ctx, key, bytes.NewReader(content), int64(len(content)), nil); err != nil {
			t.Fatal(err)
		}
		n := int64(len(content))
		for _, r := range []struct{ off, length int64 }{{0, 44}, {44, 1}, {12345, 6789}, {n - 100, -1}, {0, -1}, {n - 1, 1}} {
			rd, err := b.NewRangeReader(ctx, key, r.off, r.length)
			if err != nil {
				t.Fatalf("NewRangeReader(%d, %d): %v", r.off, r.length, err)
			}
			got, err := io.ReadAll(rd)
			_ = rd.Close()
			end := n
			if r.length >= 0 {
				end = r.off + r.length
			}
			if err != nil || !bytes.Equal(got, content[r.off:end]) {
				t.Fatalf("NewRangeReader(%d, %d): %d bytes, %v; want bytes %d-%d", r.off, r.length, len(got), err, r.off, end-1)
			}
		}
		if _, err := b.NewRangeReader(ctx, "AC1/AP1/missing.wav", 0, 10); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("NewRangeReader of a missing object = %v, want ErrNotFound", err)
		}
		a1, err := b.Attributes(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if len(a1.ETag) < 3 || !strings.HasSuffix(a1.ETag, `"`) || !strings.HasPrefix(strings.TrimPrefix(a1.ETag, "W/"), `"`) {
			t.Fatalf("ETag %q: want a quoted entity tag", a1.ETag)
		}
		// rewritten with other content: another ETag
		other := WAV(8000, 2, time.Second)
		if err := b.Upload(ctx, key, bytes.NewReader(other), int64(len(other)), nil); err != nil {
			t.Fatal(err)
		}
		a2, err := b.Attributes(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if a2.ETag == a1.ETag || a2.Size != int64(len(other)) {
			t.Fatalf("after a rewrite: ETag %q (was %q), size %d", a2.ETag, a1.ETag, a2.Size)
		}
	})

	t.Run("PlaybackLink", func(t *testing.T) {
		b := open(t, h.Options)
		key := "AC1/AP1/" + randomID() + ".wav"
		content := WAV(8000, 1, time.Second)
		if err := b.Upload(ctx, key, bytes.NewReader(content), int64(len(content)), nil); err != nil {
			t.Fatal(err)
		}
		link, err := b.SignedURL(ctx, key, 10*time.Minute)
		if !h.SignedURLs {
			if !errors.Is(err, storage.ErrNotSupported) {
				t.Fatalf("SignedURL = %q, %v; want ErrNotSupported", link, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("SignedURL: %v", err)
		}
		status, body := httpGet(t, h.HTTPClient, link)
		if status != http.StatusOK || !bytes.Equal(body, content) {
			t.Fatalf("GET signed URL: %d, %d bytes (want 200 and %d bytes)", status, len(body), len(content))
		}
		// A browser's audio element seeks with Range requests on the link
		// (first bytes, then open-ended ranges from where it seeks to).
		n := int64(len(content))
		type rng struct {
			header   string
			from, to int64 // inclusive
		}
		ranges := []rng{{"bytes=0-43", 0, 43}, {"bytes=1000-4999", 1000, 4999}, {fmt.Sprintf("bytes=%d-", n-10), n - 10, n - 1}}
		if h.Config.Vendor != storage.VendorAzure {
			// Azure documents only bytes=N-M and bytes=N- (Azurite answers
			// a suffix range with Content-Length NaN).
			ranges = append(ranges, rng{"bytes=-500", n - 500, n - 1})
		}
		for _, r := range ranges {
			status, body, cr := httpGetRange(t, h.HTTPClient, link, r.header)
			want := fmt.Sprintf("bytes %d-%d/%d", r.from, r.to, n)
			if status != http.StatusPartialContent || !bytes.Equal(body, content[r.from:r.to+1]) || cr != want {
				t.Fatalf("GET signed URL with Range %s: %d, Content-Range %q, %d bytes; want 206, %q and bytes %d-%d",
					r.header, status, cr, len(body), want, r.from, r.to)
			}
		}
		if status, _ := httpGet(t, h.HTTPClient, tamper(link)); status != http.StatusForbidden {
			t.Fatalf("GET of a tampered signed URL: %d, want 403", status)
		}
	})
}

// tamper changes one hex digit of the URL's signature.
func tamper(link string) string {
	u, _ := url.Parse(link)
	q := u.Query()
	for _, k := range []string{"X-Amz-Signature", "X-Goog-Signature", "sig"} {
		if v := q.Get(k); v != "" {
			b := []byte(v)
			if b[0] == 'a' {
				b[0] = 'b'
			} else {
				b[0] = 'a'
			}
			q.Set(k, string(b))
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func httpGet(t *testing.T, c *http.Client, link string) (int, []byte) {
	t.Helper()
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Get(link)
	if err != nil {
		t.Fatalf("GET %s: %v", link, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// httpGetRange GETs link with a Range header and returns the status, the
// body and the Content-Range.
func httpGetRange(t *testing.T, c *http.Client, link, rng string) (int, []byte, string) {
	t.Helper()
	if c == nil {
		c = http.DefaultClient
	}
	req, err := http.NewRequest(http.MethodGet, link, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Range", rng)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", link, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body, resp.Header.Get("Content-Range")
}

func secretsOf(c storage.Config) []string {
	var out []string
	add := func(s secret.String) {
		if len(s.Reveal()) >= 8 {
			out = append(out, s.Reveal(), s.Reveal()[len(s.Reveal())/2:])
		}
	}
	if c.S3 != nil {
		add(c.S3.SecretAccessKey)
	}
	if c.S3Compatible != nil {
		add(c.S3Compatible.SecretAccessKey)
	}
	if c.GCS != nil {
		add(c.GCS.ServiceKey)
	}
	if c.Azure != nil {
		cs, _ := storageParseKey(c.Azure.ConnectionString)
		if cs != "" {
			out = append(out, cs)
		}
	}
	return out
}

func storageParseKey(s secret.String) (string, error) {
	for _, part := range strings.Split(s.Reveal(), ";") {
		if k, v, ok := strings.Cut(part, "="); ok && strings.EqualFold(k, "AccountKey") {
			return v, nil
		}
	}
	return "", nil
}

type cancellingReader struct {
	r      io.ReaderAt
	after  int64
	cancel context.CancelFunc
	once   sync.Once
}

func (c *cancellingReader) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > c.after {
		c.once.Do(func() {
			c.cancel()
			time.Sleep(50 * time.Millisecond) // let the cancellation reach the transport
		})
	}
	return c.r.ReadAt(p, off)
}

func readAll(t *testing.T, b *storage.Bucket, key string) []byte {
	t.Helper()
	r, err := b.NewReader(context.Background(), key)
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return got
}

func writeTemp(t testing.TB, content []byte) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "rec.wav")
	if err := os.WriteFile(name, content, 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("RE%x", b)
}

// WAV returns a PCM16 WAV file of the given rate, channels and duration
// holding a deterministic non-silent signal (a sawtooth per channel).
func WAV(rate, channels int, d time.Duration) []byte {
	frames := int(int64(rate) * int64(d) / int64(time.Second))
	dataLen := frames * channels * 2
	buf := make([]byte, 44+dataLen)
	copy(buf[0:], "RIFF")
	binary.LittleEndian.PutUint32(buf[4:], uint32(36+dataLen))
	copy(buf[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(buf[16:], 16)
	binary.LittleEndian.PutUint16(buf[20:], 1)
	binary.LittleEndian.PutUint16(buf[22:], uint16(channels))
	binary.LittleEndian.PutUint32(buf[24:], uint32(rate))
	binary.LittleEndian.PutUint32(buf[28:], uint32(rate*channels*2))
	binary.LittleEndian.PutUint16(buf[32:], uint16(channels*2))
	binary.LittleEndian.PutUint16(buf[34:], 16)
	copy(buf[36:], "data")
	binary.LittleEndian.PutUint32(buf[40:], uint32(dataLen))
	p := buf[44:]
	for i := 0; i < frames; i++ {
		for c := 0; c < channels; c++ {
			v := int16((i*(40+c*13))%65536 - 32768)
			binary.LittleEndian.PutUint16(p[(i*channels+c)*2:], uint16(v))
		}
	}
	return buf
}

// UnreachableEndpoint returns an http:// URL of a loopback port where
// nothing listens (it was free a moment ago).
func UnreachableEndpoint(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return "http://" + addr
}
