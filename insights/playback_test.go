package insights_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/memindex"
)

// memRecordings is a RecordingStore over objects in memory: a test double
// of a bucket (the real buckets are exercised through siprec/srs.Recordings
// against the storage test servers). It counts the bytes read, so tests
// prove that a range reads only that range.
type memRecordings struct {
	mu      sync.Mutex
	objects map[string][]byte // by key
	read    int64             // bytes handed out by ReadRecording
	reads   int               // ReadRecording calls
	sign    bool              // SignRecording makes links
	down    bool              // every call fails
}

func (m *memRecordings) StatRecording(_ context.Context, account, key string) (insights.RecordingInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return insights.RecordingInfo{}, errors.New("bucket unreachable")
	}
	b, ok := m.objects[key]
	if !ok || !strings.HasPrefix(key, account+"/") {
		return insights.RecordingInfo{}, fmt.Errorf("%s: %w", key, insights.ErrNotFound)
	}
	return insights.RecordingInfo{Size: int64(len(b)), ContentType: "application/octet-stream", ModTime: time.Date(2020, 9, 15, 9, 5, 0, 0, time.UTC),
		ETag: fmt.Sprintf(`"%x"`, len(b))}, nil
}

func (m *memRecordings) ReadRecording(_ context.Context, _, key string, offset, length int64) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.objects[key]
	end := int64(len(b))
	if length >= 0 {
		end = min(end, offset+length)
	}
	m.read += end - offset
	m.reads++
	return io.NopCloser(bytes.NewReader(b[offset:end])), nil
}

func (m *memRecordings) SignRecording(_ context.Context, account, key string, expiry time.Duration) (string, error) {
	if !m.sign {
		return "", fmt.Errorf("memory buckets do not sign: %w", errors.ErrUnsupported)
	}
	return "https://bucket.example/" + key + "?X-Expires=" + fmt.Sprint(int(expiry.Seconds())), nil
}

func (m *memRecordings) counters() (int64, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, n := m.read, m.reads
	m.read, m.reads = 0, 0
	return r, n
}

// recordingBytes is a fake recording whose bytes all differ by position.
func recordingBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

type playbackServer struct {
	srv   *httptest.Server
	store *memRecordings
	rec   []byte // acct-1's recording
}

func startPlayback(t *testing.T, cfg insights.PlaybackConfig) *playbackServer {
	t.Helper()
	idx := memindex.NewIndex()
	t.Cleanup(func() { _ = idx.Close() })
	start := time.Date(2020, 9, 15, 9, 0, 0, 0, time.UTC)
	for _, c := range []insights.CallRecord{
		{SessionID: "s1", AccountID: "acct-1", ApplicationID: "AP1", Start: start, End: start.Add(5 * time.Minute), Format: "wav",
			RecordingStatus: insights.RecordingStatusUploaded},
		{SessionID: "s2", AccountID: "acct-2", ApplicationID: "AP2", Start: start, End: start.Add(time.Minute), Format: "mp3",
			RecordingStatus: insights.RecordingStatusUploaded},
		{SessionID: "s3", AccountID: "acct-1", ApplicationID: "AP1", Start: start.Add(time.Hour), End: start.Add(2 * time.Hour)}, // not recorded
		{SessionID: "s4", AccountID: "acct-1", ApplicationID: "AP1", Start: start.Add(3 * time.Hour), End: start.Add(4 * time.Hour), Format: "wav",
			RecordingStatus: insights.RecordingStatusUploadFailing}, // not in the bucket
		{SessionID: "s5", AccountID: "acct-1", ApplicationID: "AP1", Start: start.Add(5 * time.Hour), Format: "wav"}, // in progress
	} {
		s := insights.NewCallSession(c)
		if c.SessionID == "s1" {
			s.ChannelData.PlaybackURL = "https://stale.example/link" // never stored
		}
		if err := idx.Put(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	ps := &playbackServer{rec: recordingBytes(100_000)}
	ps.store = &memRecordings{objects: map[string][]byte{
		"acct-1/AP1/s1.wav": ps.rec,
		"acct-2/AP2/s2.mp3": recordingBytes(3000),
	}}
	if cfg.Recordings == nil {
		cfg.Recordings = ps.store
	} else {
		ps.store = cfg.Recordings.(*memRecordings)
	}
	h := insights.NewHandler(insights.HandlerConfig{
		Index:    idx,
		Keys:     insights.StaticKeys{"key-1": "acct-1", "key-2": "acct-2", "key-admin": insights.AllAccounts},
		Playback: &cfg,
	})
	ps.srv = httptest.NewServer(h)
	t.Cleanup(ps.srv.Close)
	return ps
}

// link returns the playback_url the API gives key for session id.
func (ps *playbackServer) link(t *testing.T, key, id string) string {
	t.Helper()
	status, body := do(t, http.MethodGet, ps.srv.URL+"/insights/sessions/search/"+id, key)
	if status != http.StatusOK {
		t.Fatalf("find %s: %d %s", id, status, body)
	}
	var s insights.Session
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatal(err)
	}
	return s.ChannelData.PlaybackURL
}

// get fetches u with optional headers and returns the response and body.
func get(t *testing.T, method, u string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// The link of a document plays in a browser: no key, ranged reads (first
// bytes, a middle range, a suffix, an open end, several ranges), If-Range
// with the ETag, conditional GETs and HEAD, the right content type; each
// range reads only its bytes from the store.
func TestPlaybackLinkServesRanges(t *testing.T) {
	ps := startPlayback(t, insights.PlaybackConfig{})
	link := ps.link(t, "key-1", "s1")
	u, err := url.Parse(link)
	if err != nil || !strings.HasPrefix(link, ps.srv.URL+"/insights/recordings/acct-1/AP1/s1.wav?") ||
		u.Query().Get(insights.ParamExpires) == "" || u.Query().Get(insights.ParamSignature) == "" {
		t.Fatalf("playback_url %q: want a signed link to the recording endpoint", link)
	}
	n := int64(len(ps.rec))
	ps.store.counters()

	resp, body := get(t, http.MethodGet, link, nil)
	if resp.StatusCode != 200 || !bytes.Equal(body, ps.rec) || resp.Header.Get("Content-Type") != "audio/wav" ||
		resp.Header.Get("Accept-Ranges") != "bytes" || resp.Header.Get("ETag") == "" || resp.Header.Get("Last-Modified") == "" {
		t.Fatalf("GET: %d, %d bytes, headers %v", resp.StatusCode, len(body), resp.Header)
	}
	if read, _ := ps.store.counters(); read != n {
		t.Fatalf("a whole GET read %d bytes, want %d", read, n)
	}
	etag := resp.Header.Get("ETag")

	for _, c := range []struct {
		rng      string
		from, to int64 // inclusive
	}{
		{"bytes=0-1", 0, 1}, {"bytes=0-43", 0, 43}, {"bytes=50000-50999", 50000, 50999},
		{"bytes=-1000", n - 1000, n - 1}, {"bytes=99990-", 99990, n - 1}, {"bytes=99000-200000", 99000, n - 1},
	} {
		resp, body := get(t, http.MethodGet, link, map[string]string{"Range": c.rng})
		want := fmt.Sprintf("bytes %d-%d/%d", c.from, c.to, n)
		if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Range") != want || !bytes.Equal(body, ps.rec[c.from:c.to+1]) {
			t.Fatalf("Range %s: %d, Content-Range %q, %d bytes; want 206, %q", c.rng, resp.StatusCode, resp.Header.Get("Content-Range"), len(body), want)
		}
		if read, reads := ps.store.counters(); read != c.to-c.from+1 || reads != 1 {
			t.Fatalf("Range %s read %d bytes in %d reads, want %d in 1", c.rng, read, reads, c.to-c.from+1)
		}
	}

	// several ranges: multipart/byteranges, each part read on its own
	resp, body = get(t, http.MethodGet, link, map[string]string{"Range": "bytes=0-9,5000-5099"})
	mt, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != http.StatusPartialContent || mt != "multipart/byteranges" {
		t.Fatalf("two ranges: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for _, want := range [][2]int{{0, 10}, {5000, 5100}} {
		part, err := mr.NextPart()
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(part)
		if !bytes.Equal(got, ps.rec[want[0]:want[1]]) || part.Header.Get("Content-Type") != "audio/wav" {
			t.Fatalf("part %v: %d bytes, %v", want, len(got), part.Header)
		}
	}
	if read, _ := ps.store.counters(); read != 110 {
		t.Fatalf("two ranges read %d bytes, want 110", read)
	}

	// If-Range: the same ETag gives the range, another the whole file
	resp, body = get(t, http.MethodGet, link, map[string]string{"Range": "bytes=10-19", "If-Range": etag})
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, ps.rec[10:20]) {
		t.Fatalf("If-Range with the ETag: %d, %d bytes", resp.StatusCode, len(body))
	}
	resp, body = get(t, http.MethodGet, link, map[string]string{"Range": "bytes=10-19", "If-Range": `"another"`})
	if resp.StatusCode != http.StatusOK || len(body) != len(ps.rec) {
		t.Fatalf("If-Range with another ETag: %d, %d bytes; want 200 and the whole file", resp.StatusCode, len(body))
	}
	resp, _ = get(t, http.MethodGet, link, map[string]string{"If-None-Match": etag})
	if resp.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match with the ETag: %d, want 304", resp.StatusCode)
	}
	resp, _ = get(t, http.MethodGet, link, map[string]string{"Range": fmt.Sprintf("bytes=%d-", n)})
	if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Fatalf("a range past the end: %d, want 416", resp.StatusCode)
	}
	ps.store.counters()
	resp, body = get(t, http.MethodHead, link, nil)
	if resp.StatusCode != 200 || len(body) != 0 || resp.ContentLength != n {
		t.Fatalf("HEAD: %d, %d bytes, Content-Length %d", resp.StatusCode, len(body), resp.ContentLength)
	}
	if read, reads := ps.store.counters(); reads != 0 || read != 0 {
		t.Fatalf("HEAD read %d bytes", read)
	}

	// MP3: audio/mpeg
	link2 := ps.link(t, "key-2", "s2")
	resp, _ = get(t, http.MethodGet, link2, map[string]string{"Range": "bytes=0-99"})
	if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Type") != "audio/mpeg" {
		t.Fatalf("MP3 link: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// A link is for its key only and can not be forged; without a link the
// endpoint wants an API key that may read the account's interactions.
func TestPlaybackAuthorization(t *testing.T) {
	ps := startPlayback(t, insights.PlaybackConfig{Secret: "0123456789abcdef0123456789abcdef"})
	link := ps.link(t, "key-1", "s1")
	u, _ := url.Parse(link)
	q := u.Query()
	other := ps.srv.URL + "/insights/recordings/acct-2/AP2/s2.mp3?" + q.Encode()
	forged := *u
	fq := u.Query()
	fq.Set(insights.ParamExpires, fmt.Sprint(time.Now().Add(30*24*time.Hour).Unix()))
	forged.RawQuery = fq.Encode()
	bad := *u
	bq := u.Query()
	bq.Set(insights.ParamSignature, strings.Repeat("A", len(q.Get(insights.ParamSignature))))
	bad.RawQuery = bq.Encode()
	base := ps.srv.URL + "/insights/recordings/acct-1/AP1/s1.wav"
	for _, c := range []struct {
		name, u, key, account string
		want                  int
	}{
		{"the link", link, "", "", 200},
		{"its signature on another key", other, "", "", 403},
		{"a later expiry", forged.String(), "", "", 403},
		{"another signature", bad.String(), "", "", 403},
		{"no link, no key", base, "", "", 401},
		{"the account's key", base, "key-1", "", 200},
		{"an administrator's key", base, "key-admin", "", 200},
		{"another account's key", base, "key-2", "", 403},
		{"the account's key naming another account", base, "key-1", "acct-2", 403},
		{"a wrong key", base, "key-x", "", 401},
		{"not a recording key", ps.srv.URL + "/insights/recordings/acct-1/AP1/s1.txt", "key-1", "", 404},
		{"a dot-dot segment", ps.srv.URL + "/insights/recordings/acct-1/../s1.wav", "key-1", "", 404},
		{"two segments", ps.srv.URL + "/insights/recordings/acct-1/s1.wav", "key-1", "", 404},
		{"a missing recording", ps.srv.URL + "/insights/recordings/acct-1/AP1/nope.wav", "key-1", "", 404},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := map[string]string{}
			if c.key != "" {
				h[insights.KeyHeader] = c.key
			}
			if c.account != "" {
				h[insights.AccountHeader] = c.account
			}
			resp, body := get(t, http.MethodGet, c.u, h)
			if resp.StatusCode != c.want {
				t.Fatalf("%d %s, want %d", resp.StatusCode, body, c.want)
			}
			if c.want == 200 && !bytes.Equal(body, ps.rec) {
				t.Fatalf("%d bytes", len(body))
			}
		})
	}
	resp, _ := get(t, http.MethodPost, link, nil)
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", resp.StatusCode)
	}
	ps.store.mu.Lock()
	ps.store.down = true
	ps.store.mu.Unlock()
	resp, _ = get(t, http.MethodGet, link, nil)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("bucket down: %d, want 503 with Retry-After", resp.StatusCode)
	}
}

// Where the bucket signs URLs the document links to the bucket; with Proxy
// to the endpoint. Links accompany audio_url in projections, never a
// session without a recording, and a link given to Put is not stored.
func TestPlaybackLinks(t *testing.T) {
	ps := startPlayback(t, insights.PlaybackConfig{Recordings: &memRecordings{sign: true, objects: map[string][]byte{}}, Expiry: 10 * time.Minute})
	if l := ps.link(t, "key-1", "s1"); l != "https://bucket.example/acct-1/AP1/s1.wav?X-Expires=600" {
		t.Fatalf("signed bucket: playback_url %q", l)
	}
	for _, id := range []string{"s3", "s4", "s5"} { // no recording, upload failing, in progress
		if l := ps.link(t, "key-1", id); l != "" {
			t.Fatalf("session %s, whose recording is not in the bucket, has playback_url %q", id, l)
		}
	}
	proxied := startPlayback(t, insights.PlaybackConfig{Recordings: &memRecordings{sign: true, objects: map[string][]byte{}}, Proxy: true,
		BaseURL: "https://gw.example.com/voice/"})
	if l := proxied.link(t, "key-1", "s1"); !strings.HasPrefix(l, "https://gw.example.com/voice/insights/recordings/acct-1/AP1/s1.wav?expires=") {
		t.Fatalf("Proxy: playback_url %q", l)
	}

	search := func(fields string) []map[string]any {
		v := url.Values{"from_date": {"2020-09-15"}, "to_date": {"2020-09-15"}, "sort_by": {"id:asc"}}
		if fields != "" {
			v.Set("project_fields", fields)
		}
		status, body := do(t, http.MethodGet, ps.srv.URL+"/insights/sessions?"+v.Encode(), "key-admin")
		if status != 200 {
			t.Fatalf("search: %d %s", status, body)
		}
		var res struct{ Hits []map[string]any }
		if err := json.Unmarshal(body, &res); err != nil {
			t.Fatal(err)
		}
		return res.Hits
	}
	playbackOf := func(h map[string]any) any {
		cd, _ := h["channel_data"].(map[string]any)
		return cd["playback_url"]
	}
	hits := search("")
	if len(hits) != 5 || playbackOf(hits[0]) != "https://bucket.example/acct-1/AP1/s1.wav?X-Expires=600" ||
		playbackOf(hits[1]) != "https://bucket.example/acct-2/AP2/s2.mp3?X-Expires=600" || playbackOf(hits[2]) != nil {
		t.Fatalf("hits %v", hits)
	}
	hits = search(`["id","channel_data.audio_url"]`)
	if playbackOf(hits[0]) == nil || len(hits[0]["channel_data"].(map[string]any)) != 2 {
		t.Fatalf("projection keeping audio_url: %v", hits[0])
	}
	hits = search(`["id","channel_data.duration"]`)
	if playbackOf(hits[0]) != nil {
		t.Fatalf("projection without audio_url: %v", hits[0])
	}
	// no playback without PlaybackConfig: the endpoint does not exist
	srv, _ := server(t)
	if status, _ := do(t, http.MethodGet, srv.URL+"/insights/recordings/acct-1/AP1/s1.wav", "key-1"); status != 404 {
		t.Fatalf("recording endpoint without Playback: %d", status)
	}
}

// TestPlaybackLinkAttacks (security review): a recording's path written to
// reach another one (dot-dot segments escaped, slashes escaped inside a
// segment), a valid link's signature on the same key in another case, and a
// stream of forged signatures, which the failed-key limiter throttles (429
// with Retry-After; then even the valid link waits).
func TestPlaybackLinkAttacks(t *testing.T) {
	ps := startPlayback(t, insights.PlaybackConfig{Secret: "0123456789abcdef0123456789abcdef"})
	link := ps.link(t, "key-1", "s1")
	u, _ := url.Parse(link)
	sig := "?" + u.RawQuery
	base := ps.srv.URL + "/insights/recordings/"
	for _, c := range []struct{ name, u string }{
		{"escaped dot-dot", base + "acct-1/%2e%2e/acct-2/AP2/s2.mp3"},
		{"escaped dot-dot in the last segment", base + "acct-1/AP1/%2e%2e%2facct-2%2fAP2%2fs2.mp3"},
		{"escaped slashes", base + "acct-1%2FAP1%2Fs1.wav%2F..%2F..%2F..%2Facct-2/AP2/s2.mp3"},
		{"a NUL byte", base + "acct-1/AP1/s1.wav%00.mp3"},
	} {
		for _, key := range []string{"key-1", "key-admin"} {
			if resp, body := get(t, http.MethodGet, c.u, map[string]string{insights.KeyHeader: key}); resp.StatusCode != 404 {
				t.Errorf("%s with %s: %d %.100s, want 404", c.name, key, resp.StatusCode, body)
			}
		}
		if resp, _ := get(t, http.MethodGet, c.u+sig, nil); resp.StatusCode != 404 && resp.StatusCode != 403 {
			t.Errorf("%s with s1's link: %d, want 404 or 403", c.name, resp.StatusCode)
		}
	}
	if resp, _ := get(t, http.MethodGet, base+"ACCT-1/AP1/s1.wav"+sig, nil); resp.StatusCode != 403 {
		t.Errorf("s1's signature on its key in capitals: %d, want 403", resp.StatusCode)
	}
	q := u.Query()
	throttled := 0
	for i := range 40 {
		q.Set(insights.ParamSignature, fmt.Sprintf("forged-%d", i))
		resp, _ := get(t, http.MethodGet, base+"acct-1/AP1/s1.wav?"+q.Encode(), nil)
		switch {
		case resp.StatusCode == 429 && resp.Header.Get("Retry-After") != "":
			throttled++
		case resp.StatusCode != 403:
			t.Fatalf("forged signature %d: %d, want 403 or 429", i, resp.StatusCode)
		}
	}
	if throttled == 0 {
		t.Fatal("40 forged signatures from one address: never throttled")
	}
	if resp, _ := get(t, http.MethodGet, link, nil); resp.StatusCode != 429 {
		t.Fatalf("the valid link from the throttled address: %d, want 429", resp.StatusCode)
	}
}

// TestOpenRecording: the reader reads from where it was sought with one
// ranged read each time (no more bytes than it hands out when reading to
// the end), goes on after Close, and refuses to seek before the start.
func TestOpenRecording(t *testing.T) {
	ctx := context.Background()
	obj := bytes.Repeat([]byte("0123456789"), 1000)
	store := &memRecordings{objects: map[string][]byte{"AC1/AP1/S1.wav": obj}}
	r, info, err := insights.OpenRecording(ctx, store, "AC1", "AC1/AP1/S1.wav")
	if err != nil || info.Size != int64(len(obj)) {
		t.Fatalf("OpenRecording: %v %+v", err, info)
	}
	if read, reads := store.counters(); read != 0 || reads != 0 {
		t.Fatalf("opening read %d bytes in %d reads, want nothing", read, reads)
	}
	if _, err := r.Seek(9000, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, obj[9000:]) {
		t.Fatalf("from 9000: %d bytes, %v", len(got), err)
	}
	if read, reads := store.counters(); read != 1000 || reads != 1 {
		t.Fatalf("reading the last 1000 bytes: %d bytes in %d reads", read, reads)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Seek(-10, io.SeekCurrent); err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(r)
	if string(got) != "0123456789" {
		t.Fatalf("after Close and a seek back: %q", got)
	}
	if _, err := r.Seek(-1, io.SeekStart); err == nil {
		t.Fatal("a seek before the start: no error")
	}
	if _, _, err := insights.OpenRecording(ctx, store, "AC2", "AC1/AP1/S1.wav"); !errors.Is(err, insights.ErrNotFound) {
		t.Fatalf("another account's key: %v, want ErrNotFound", err)
	}
}
