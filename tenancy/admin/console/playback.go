package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/voicegw/voicegw/insights"
)

// Playback serves a session's recording to the Recent calls player (an
// HTML audio element, which seeks with HTTP Range requests) and to its
// download link. The console calls it only after the Insights API has
// answered the session document to the signed-in member, so a member never
// reaches a recording of a session it may not read; r's context carries the
// member (an in-process call made with it acts as the member).
type Playback interface {
	ServeRecording(w http.ResponseWriter, r *http.Request, doc *SessionDocument)
}

// PlaybackFunc adapts a function to Playback.
type PlaybackFunc func(w http.ResponseWriter, r *http.Request, doc *SessionDocument)

// ServeRecording calls f.
func (f PlaybackFunc) ServeRecording(w http.ResponseWriter, r *http.Request, doc *SessionDocument) {
	f(w, r, doc)
}

// SessionDocument is a session as the Insights API answered it: decoded,
// and raw, so fields newer than this package (a playable link, the
// participants) can be read by their JSON path.
type SessionDocument struct {
	insights.Session
	Raw json.RawMessage
}

// Field returns the value at a dotted JSON path ("channel_data.audio_url"),
// or nil.
func (d *SessionDocument) Field(dotted string) any {
	var v any
	if err := json.Unmarshal(d.Raw, &v); err != nil {
		return nil
	}
	for p := range strings.SplitSeq(dotted, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// DefaultPlayableLinkFields returns the JSON paths LinkPlayback looks for a
// playable link in, in order: the names proposed for the session
// document's playable link (issue 17). The first holding a non-empty string
// wins.
func DefaultPlayableLinkFields() []string {
	return []string{"channel_data.playback_url", "channel_data.audio_link", "channel_data.playable_url"}
}

// LinkPlayback plays the link the session document carries:
//   - an absolute http or https URL (a bucket's time-limited signed URL) is
//     answered with a redirect to it;
//   - a path (a gateway endpoint that streams the object, such as
//     /insights/sessions/ID/recording) is served in-process by Handler with
//     the browser's Range header and the member's context, and streamed
//     back as it answers.
//
// A document without a link answers 404.
type LinkPlayback struct {
	// Fields are the JSON paths of the link. Default:
	// DefaultPlayableLinkFields().
	Fields []string
	// Handler serves links that are paths (the gateway's mux). Default:
	// nil, and such links answer 404.
	Handler http.Handler
}

// ServeRecording implements Playback.
func (p LinkPlayback) ServeRecording(w http.ResponseWriter, r *http.Request, doc *SessionDocument) {
	fields := p.Fields
	if len(fields) == 0 {
		fields = DefaultPlayableLinkFields()
	}
	link := ""
	for _, f := range fields {
		if s, ok := doc.Field(f).(string); ok && s != "" {
			link = s
			break
		}
	}
	u, err := url.Parse(link)
	switch {
	case link == "" || err != nil:
		http.Error(w, "This session has no playable recording.", http.StatusNotFound)
	case u.Scheme == "https" || u.Scheme == "http":
		http.Redirect(w, r, u.String(), http.StatusFound)
	case u.Scheme == "" && u.Host == "" && strings.HasPrefix(u.Path, "/") && p.Handler != nil:
		in, err := http.NewRequestWithContext(r.Context(), http.MethodGet, u.String(), nil)
		if err != nil {
			http.Error(w, "This session has no playable recording.", http.StatusNotFound)
			return
		}
		for _, h := range []string{"Range", "If-Range", "If-None-Match", "If-Modified-Since"} {
			if v := r.Header.Get(h); v != "" {
				in.Header.Set(h, v)
			}
		}
		in.RemoteAddr = r.RemoteAddr
		p.Handler.ServeHTTP(w, in)
	default:
		http.Error(w, "This session has no playable recording.", http.StatusNotFound)
	}
}

// StoredPlayback serves a recording that Open reads from where the gateway
// stored it (the account's bucket, by the document's audio_url object key)
// with Range support and the Content-Type of its extension (audio/wav,
// audio/mpeg): a gateway endpoint for buckets without signed URLs, or before
// the Insights API carries a playable link.
type StoredPlayback struct {
	// Open returns the recording of doc (whose AccountID and
	// ChannelData.AudioURL say where it is) as a seekable reader and its
	// modification time; an error matching ErrNoRecording answers 404.
	// Required.
	Open func(ctx context.Context, doc *SessionDocument) (io.ReadSeekCloser, time.Time, error)
}

// RecordingStorePlayback returns a StoredPlayback that reads each
// recording from store (siprec/srs.Recordings reads the accounts' buckets,
// refusing a key outside the document's account) by the document's
// account and audio_url: one ranged read from wherever the player seeks
// (insights.OpenRecording). A recording the store does not have answers
// 404.
func RecordingStorePlayback(store insights.RecordingStore) StoredPlayback {
	return StoredPlayback{Open: func(ctx context.Context, doc *SessionDocument) (io.ReadSeekCloser, time.Time, error) {
		r, info, err := insights.OpenRecording(ctx, store, doc.AccountID, doc.ChannelData.AudioURL)
		switch {
		case errors.Is(err, insights.ErrNotFound):
			return nil, time.Time{}, fmt.Errorf("%w: %v", ErrNoRecording, err)
		case err != nil:
			return nil, time.Time{}, err
		}
		return r, info.ModTime, nil
	}}
}

// ErrNoRecording is what a StoredPlayback's Open returns for a session
// without a stored recording.
var ErrNoRecording = errors.New("console: no recording")

// ServeRecording implements Playback.
func (p StoredPlayback) ServeRecording(w http.ResponseWriter, r *http.Request, doc *SessionDocument) {
	if p.Open == nil || doc.ChannelData.AudioURL == "" {
		http.Error(w, "This session has no playable recording.", http.StatusNotFound)
		return
	}
	rc, mod, err := p.Open(r.Context(), doc)
	if errors.Is(err, ErrNoRecording) {
		http.Error(w, "This session has no playable recording.", http.StatusNotFound)
		return
	}
	if err != nil {
		http.Error(w, "The recording could not be read; retry later.", http.StatusBadGateway)
		return
	}
	defer rc.Close()
	name := path.Base(doc.ChannelData.AudioURL)
	if ct := audioType(name); ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	http.ServeContent(w, r, name, mod, rc)
}

func audioType(name string) string {
	switch strings.ToLower(path.Ext(name)) {
	case ".wav":
		return "audio/wav"
	case ".mp3":
		return "audio/mpeg"
	}
	return mime.TypeByExtension(path.Ext(name))
}
