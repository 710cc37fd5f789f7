package insights

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A link works until its expiry and not a second after; the signature
// covers the key and the expiry.
func TestPlaybackLinkExpires(t *testing.T) {
	p := newPlayback(&PlaybackConfig{Recordings: nopRecordings{}, Secret: "secret-of-the-test-0123456789abc"})
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	p.now = func() time.Time { return now }
	exp := now.Add(time.Hour).Unix()
	sig := p.sign("AC1/AP1/S1.wav", exp)
	if err := p.verify("AC1/AP1/S1.wav", strconv.FormatInt(exp, 10), sig); err != nil {
		t.Fatalf("fresh link: %v", err)
	}
	now = now.Add(time.Hour)
	if err := p.verify("AC1/AP1/S1.wav", strconv.FormatInt(exp, 10), sig); err != nil {
		t.Fatalf("link at its expiry: %v", err)
	}
	now = now.Add(time.Second)
	if err := p.verify("AC1/AP1/S1.wav", strconv.FormatInt(exp, 10), sig); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("expired link: %v", err)
	}
	for _, c := range []struct{ key, exp, sig string }{
		{"AC1/AP1/S2.wav", strconv.FormatInt(exp, 10), sig},
		{"AC1/AP1/S1.wav", strconv.FormatInt(exp+1, 10), sig},
		{"AC1/AP1/S1.wav", "soon", sig},
		{"AC1/AP1/S1.wav", strconv.FormatInt(exp, 10), ""},
	} {
		if err := p.verify(c.key, c.exp, c.sig); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("verify(%q, %q, %q) = %v", c.key, c.exp, c.sig, err)
		}
	}
	// another secret signs differently
	q := newPlayback(&PlaybackConfig{Recordings: nopRecordings{}})
	if q.sign("AC1/AP1/S1.wav", exp) == sig || len(q.secret) != 32 {
		t.Fatal("the default secret is not random")
	}
	if p.expiry != DefaultPlaybackExpiry {
		t.Fatalf("default expiry %v", p.expiry)
	}
	if r := newPlayback(&PlaybackConfig{Recordings: nopRecordings{}, Expiry: 30 * 24 * time.Hour}); r.expiry != MaxPlaybackExpiry {
		t.Fatalf("expiry not bounded: %v", r.expiry)
	}
}

func TestRangeSpans(t *testing.T) {
	for _, c := range []struct {
		h    string
		want []span
	}{
		{"bytes=0-99", []span{{0, 100}}},
		{"bytes=-100", []span{{900, 1000}}},
		{"bytes=-5000", []span{{0, 1000}}},
		{"bytes=990-", []span{{990, 1000}}},
		{"bytes=0-9, 20-29", []span{{0, 10}, {20, 30}}},
		{"bytes=500-5000", []span{{500, 1000}}},
		{"bytes=5-1", nil},
		{"bytes=x-1", nil},
		{"items=0-1", nil},
		{"", nil},
	} {
		got := rangeSpans(c.h, 1000)
		if len(got) != len(c.want) {
			t.Errorf("rangeSpans(%q) = %v, want %v", c.h, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("rangeSpans(%q) = %v, want %v", c.h, got, c.want)
			}
		}
	}
}

type nopRecordings struct{ RecordingStore }

// FuzzRangeSpans: the hints are inside the object and not empty, and
// writing them back as a Range header reads the same hints (round trip).
func FuzzRangeSpans(f *testing.F) {
	for _, s := range []string{"bytes=0-99", "bytes=-100", "bytes=990-", "bytes=0-9, 20-29", "bytes=5-1", "bytes=,", "bytes=--1"} {
		f.Add(s, int64(1000))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		spans := rangeSpans(h, size)
		var back []byte
		for i, s := range spans {
			if s.from < 0 || s.to > size || s.from >= s.to {
				t.Fatalf("rangeSpans(%q, %d) = %v: outside the object", h, size, spans)
			}
			if i > 0 {
				back = append(back, ',')
			}
			back = strconv.AppendInt(back, s.from, 10)
			back = append(back, '-')
			back = strconv.AppendInt(back, s.to-1, 10)
		}
		if len(spans) == 0 {
			return
		}
		again := rangeSpans("bytes="+string(back), size)
		if len(again) != len(spans) {
			t.Fatalf("round trip of %q: %v then %v", h, spans, again)
		}
		for i := range again {
			if again[i] != spans[i] {
				t.Fatalf("round trip of %q: %v then %v", h, spans, again)
			}
		}
	})
}

// FuzzWithPlayback: adding the link to a document changes nothing but
// channel_data.playback_url, and what it returns is JSON.
func FuzzWithPlayback(f *testing.F) {
	f.Add([]byte(`{"id":"s1","account_id":"AC1","channel_data":{"audio_url":"AC1/AP1/s1.wav","duration":5}}`))
	f.Add([]byte(`{"channel_data" : { "audio_url" : "AC1/AP1/s1.mp3" } , "x":[1,{"audio_url":2}]}`))
	f.Add([]byte(`{"account_id":"AC2","channel_data":{"audio_url":"AC1/AP1/s1.wav"}}`))
	f.Add([]byte(`{"channel_data":{"audio_url":"AC1/../s1.wav"}}`))
	f.Add([]byte(`{"channel_data":{"audio_url":"AC1/AP1/s1.wav","playback_url":"x"}}`))
	h := &handler{play: newPlayback(&PlaybackConfig{Recordings: nopRecordings{}, Proxy: true, BaseURL: "https://gw.example"})}
	r, _ := http.NewRequest(http.MethodGet, "https://gw.example/insights/sessions", nil)
	f.Fuzz(func(t *testing.T, doc []byte) {
		out := h.withPlayback(context.Background(), r, doc)
		if bytes.Equal(out, doc) {
			return
		}
		var in, got map[string]any
		if err := json.Unmarshal(doc, &in); err != nil {
			t.Fatalf("changed a document that is not JSON: %q -> %q", doc, out)
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%q -> %q: %v", doc, out, err)
		}
		cd, _ := got["channel_data"].(map[string]any)
		link, _ := cd["playback_url"].(string)
		if !strings.HasPrefix(link, "https://gw.example/insights/recordings/") {
			t.Fatalf("%q -> %q: playback_url %q", doc, out, link)
		}
		delete(cd, "playback_url")
		if !reflect.DeepEqual(in, got) {
			t.Fatalf("%q -> %q: more than the link changed", doc, out)
		}
	})
}
