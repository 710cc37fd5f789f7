package insights_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/memindex"
)

// bytesRecordings is the smallest RecordingStore: recordings in memory that
// cannot be signed (siprec/srs.Recordings serves the accounts' buckets).
type bytesRecordings map[string][]byte

func (m bytesRecordings) StatRecording(_ context.Context, _, key string) (insights.RecordingInfo, error) {
	b, ok := m[key]
	if !ok {
		return insights.RecordingInfo{}, insights.ErrNotFound
	}
	return insights.RecordingInfo{Size: int64(len(b)), ETag: `"v1"`}, nil
}

func (m bytesRecordings) ReadRecording(_ context.Context, _, key string, off, n int64) (io.ReadCloser, error) {
	b := m[key][off:]
	if n >= 0 {
		b = b[:n]
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (m bytesRecordings) SignRecording(context.Context, string, string, time.Duration) (string, error) {
	return "", errors.ErrUnsupported
}

// Playback: the session document carries a link a browser plays; the link
// answers Range requests without an API key until it expires.
func ExamplePlaybackConfig() {
	ctx := context.Background()
	idx := memindex.NewIndex()
	defer idx.Close()
	start := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	_ = idx.Put(ctx, insights.NewCallSession(insights.CallRecord{SessionID: "S1", AccountID: "AC1", ApplicationID: "AP1",
		Start: start, End: start.Add(time.Minute), Format: "wav", RecordingStatus: insights.RecordingStatusUploaded}))

	srv := httptest.NewServer(insights.NewHandler(insights.HandlerConfig{
		Index: idx, Keys: insights.StaticKeys{"key-1": "AC1"},
		Playback: &insights.PlaybackConfig{
			Recordings: bytesRecordings{"AC1/AP1/S1.wav": []byte("RIFF....WAVEfmt ...")},
			Secret:     "a-secret-shared-by-every-gateway-0123456789",
		},
	}))
	defer srv.Close()

	s, err := insights.NewClient(srv.URL, "key-1").Find(ctx, "S1")
	if err != nil {
		fmt.Println(err)
		return
	}
	req, _ := http.NewRequest(http.MethodGet, s.ChannelData.PlaybackURL, nil) // no key
	req.Header.Set("Range", "bytes=0-3")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Range"), string(b))
	// Output: 206 audio/wav bytes 0-3/19 RIFF
}

// A player of one's own (the console's): a seekable reader over a
// recording, which reads the bytes it is asked for with one ranged read
// per seek.
func ExampleOpenRecording() {
	ctx := context.Background()
	store := bytesRecordings{"AC1/AP1/S1.wav": []byte("RIFF....WAVEfmt data")}
	r, info, err := insights.OpenRecording(ctx, store, "AC1", "AC1/AP1/S1.wav")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	_, _ = r.Seek(-4, io.SeekEnd)
	tail, _ := io.ReadAll(r)
	fmt.Println(info.Size, string(tail))
	_, _, err = insights.OpenRecording(ctx, store, "AC1", "AC1/AP1/S2.wav")
	fmt.Println(errors.Is(err, insights.ErrNotFound))
	// Output:
	// 20 data
	// true
}
