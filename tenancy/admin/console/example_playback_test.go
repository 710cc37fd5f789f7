package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/tenancy/admin/console"
)

type readSeekNopCloser struct{ io.ReadSeeker }

func (readSeekNopCloser) Close() error { return nil }

// Until session documents carry a playable link, a gateway serves the
// recording it stored, by the document's account and audio_url; the
// player's Range requests are answered.
func ExampleStoredPlayback() {
	recordings := map[string][]byte{"AC1/AP1/S1.wav": []byte("RIFF....WAVEfmt ")}
	p := console.StoredPlayback{Open: func(_ context.Context, doc *console.SessionDocument) (io.ReadSeekCloser, time.Time, error) {
		b, ok := recordings[doc.ChannelData.AudioURL]
		if !ok {
			return nil, time.Time{}, console.ErrNoRecording
		}
		return readSeekNopCloser{bytes.NewReader(b)}, time.Time{}, nil
	}}
	doc := &console.SessionDocument{Session: *insights.NewCallSession(insights.CallRecord{
		SessionID: "S1", AccountID: "AC1", ApplicationID: "AP1", Format: "wav", Start: time.Now(), End: time.Now()})}

	r := httptest.NewRequest(http.MethodGet, "/console/calls/S1/recording", nil)
	r.Header.Set("Range", "bytes=0-3")
	w := httptest.NewRecorder()
	p.ServeRecording(w, r, doc)
	fmt.Println(w.Code, w.Header().Get("Content-Type"), w.Body.String())
	// Output: 206 audio/wav RIFF
}

// When the document carries a signed link (a bucket's), the player is sent
// to it.
func ExampleLinkPlayback() {
	raw, _ := json.Marshal(map[string]any{"id": "S1", "channel_data": map[string]any{
		"audio_url": "AC1/AP1/S1.wav", "playback_url": "https://recordings.example.com/AC1/AP1/S1.wav?X-Amz-Signature=abc"}})
	doc := &console.SessionDocument{Raw: raw}
	w := httptest.NewRecorder()
	console.LinkPlayback{}.ServeRecording(w, httptest.NewRequest(http.MethodGet, "/console/calls/S1/recording", nil), doc)
	fmt.Println(w.Code, w.Header().Get("Location"))
	// Output: 302 https://recordings.example.com/AC1/AP1/S1.wav?X-Amz-Signature=abc
}

// memRecordings is the smallest insights.RecordingStore: recordings in
// memory, by key (siprec/srs.Recordings reads the accounts' buckets).
type memRecordings map[string][]byte

func (m memRecordings) StatRecording(_ context.Context, _, key string) (insights.RecordingInfo, error) {
	b, ok := m[key]
	if !ok {
		return insights.RecordingInfo{}, fmt.Errorf("%s: %w", key, insights.ErrNotFound)
	}
	return insights.RecordingInfo{Size: int64(len(b))}, nil
}

func (m memRecordings) ReadRecording(_ context.Context, _, key string, off, n int64) (io.ReadCloser, error) {
	b := m[key][off:]
	if n >= 0 {
		b = b[:n]
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (m memRecordings) SignRecording(context.Context, string, string, time.Duration) (string, error) {
	return "", errors.ErrUnsupported
}

// A gateway serves the recordings of its recording store (its accounts'
// buckets) by the document's account and audio_url; the player seeks with
// Range requests, each answered with one ranged read; a session whose
// recording the store does not have answers 404.
func ExampleRecordingStorePlayback() {
	p := console.RecordingStorePlayback(memRecordings{"AC1/AP1/S1.wav": []byte("RIFF....WAVEfmt ")})
	for _, id := range []string{"S1", "S2"} {
		doc := &console.SessionDocument{Session: *insights.NewCallSession(insights.CallRecord{
			SessionID: id, AccountID: "AC1", ApplicationID: "AP1", Format: "wav", Start: time.Now(), End: time.Now(),
			RecordingStatus: insights.RecordingStatusUploaded})}
		r := httptest.NewRequest(http.MethodGet, "/console/calls/"+id+"/recording", nil)
		r.Header.Set("Range", "bytes=8-11")
		w := httptest.NewRecorder()
		p.ServeRecording(w, r, doc)
		fmt.Println(id, w.Code, w.Body.String())
	}
	// Output:
	// S1 206 WAVE
	// S2 404 This session has no playable recording.
}
