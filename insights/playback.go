package insights

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/secret"
)

// DefaultPlaybackExpiry is how long a playback link works by default.
const DefaultPlaybackExpiry = time.Hour

// MaxPlaybackExpiry bounds PlaybackConfig.Expiry: the 7 days S3 and GCS
// allow for a signed URL.
const MaxPlaybackExpiry = 7 * 24 * time.Hour

// recordingsPath is the prefix of the recording endpoint; the rest of the
// path is the object key.
const recordingsPath = "/insights/recordings/"

// Query parameters of a playback link to the recording endpoint.
const (
	// ParamExpires is the link's expiry, in seconds since the Unix epoch.
	ParamExpires = "expires"
	// ParamSignature is the link's signature (see PlaybackConfig.Secret).
	ParamSignature = "signature"
)

// RecordingInfo is what a RecordingStore knows of one recording.
type RecordingInfo struct {
	// Size is the object's size in bytes.
	Size int64
	// ContentType is the object's stored content type (the endpoint
	// answers audio/wav or audio/mpeg by the key's extension first).
	ContentType string
	// ModTime is when the object was written (Last-Modified).
	ModTime time.Time
	// ETag is the object's quoted entity tag, "" when unknown; with it
	// the endpoint answers If-Range, If-None-Match and If-Match.
	ETag string
}

// RecordingStore gives the Insights API access to the recordings of
// accounts, for playback. Keys are object keys
// ACCOUNT_SID/APPLICATION_SID/SESSION_ID.wav|mp3 (a document's audio_url);
// account is the key's first segment. siprec/srs.Recordings is one over the
// accounts' buckets; any store can back it.
type RecordingStore interface {
	// StatRecording returns what the store knows of key. A recording that
	// does not exist is an error wrapping ErrNotFound (404); any other error
	// answers 503.
	StatRecording(ctx context.Context, account, key string) (RecordingInfo, error)
	// ReadRecording reads length bytes of key from offset (length < 0: to
	// the end), reading no more of the object than that.
	ReadRecording(ctx context.Context, account, key string, offset, length int64) (io.ReadCloser, error)
	// SignRecording returns a link that plays key without credentials until
	// expiry passes (a bucket's signed URL), or an error wrapping
	// errors.ErrUnsupported when the store cannot make one: the handler
	// then links to its own recording endpoint.
	SignRecording(ctx context.Context, account, key string, expiry time.Duration) (string, error)
}

// PlaybackConfig turns on playback in the Insights API (see NewHandler):
// each document it returns with a channel_data.audio_url gets a
// channel_data.playback_url that a browser plays for Expiry, and the
// recording endpoint streams recordings with HTTP Range support.
type PlaybackConfig struct {
	// Recordings reads and signs the recordings. Required.
	Recordings RecordingStore
	// Secret signs the links to the recording endpoint (HMAC-SHA256 over
	// the key and the expiry): a link works without an API key until it
	// expires, like a bucket's signed URL, and only for its key. Give
	// every gateway of a deployment the same secret, of 32 random bytes or
	// more, so that a link works on any of them. Default: a random secret
	// of the handler, so links stop working when the process restarts.
	Secret secret.String
	// Expiry is how long a link works. Default DefaultPlaybackExpiry; at
	// most MaxPlaybackExpiry.
	Expiry time.Duration
	// BaseURL is the absolute URL at which the handler's paths
	// (/insights/…) are reached by browsers, for example
	// "https://gw.example.com" (with the prefix, when the handler is
	// mounted under one). Default: "http://" or "https://" (by the
	// request's TLS) and the request's Host.
	BaseURL string
	// Proxy makes every link point at the recording endpoint, even for
	// buckets that sign URLs: for buckets browsers cannot reach (a private
	// S3-compatible endpoint), or to keep every access authorized and
	// logged by the gateway.
	Proxy bool
}

// playback is a PlaybackConfig with its defaults.
type playback struct {
	store   RecordingStore
	secret  []byte
	expiry  time.Duration
	baseURL string
	proxy   bool
	now     func() time.Time
}

func newPlayback(c *PlaybackConfig) *playback {
	if c == nil || c.Recordings == nil {
		return nil
	}
	p := &playback{store: c.Recordings, secret: []byte(c.Secret.Reveal()), expiry: c.Expiry, baseURL: strings.TrimRight(c.BaseURL, "/"),
		proxy: c.Proxy, now: time.Now}
	if len(p.secret) == 0 {
		p.secret = make([]byte, 32)
		_, _ = rand.Read(p.secret) // never fails (Go 1.24+)
	}
	if p.expiry <= 0 {
		p.expiry = DefaultPlaybackExpiry
	}
	p.expiry = min(p.expiry, MaxPlaybackExpiry)
	return p
}

// sign returns the signature of a link to key expiring at exp.
func (p *playback) sign(key string, exp int64) string {
	m := hmac.New(sha256.New, p.secret)
	m.Write([]byte("voicegw-playback-v1\x00"))
	m.Write([]byte(key))
	m.Write([]byte{0})
	m.Write([]byte(strconv.FormatInt(exp, 10)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// verify checks a link's expiry and signature.
func (p *playback) verify(key, expires, sig string) error {
	exp, err := strconv.ParseInt(expires, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: playback link expiry %q is not a number", ErrUnauthorized, truncate([]byte(expires)))
	}
	if !hmac.Equal([]byte(sig), []byte(p.sign(key, exp))) {
		return fmt.Errorf("%w: playback link signature does not match", ErrUnauthorized)
	}
	if p.now().Unix() > exp {
		return fmt.Errorf("%w: playback link expired at %s", ErrUnauthorized, time.Unix(exp, 0).UTC().Format(time.RFC3339))
	}
	return nil
}

// link returns a playback link for key: the bucket's signed URL, or a
// signed link to the recording endpoint.
func (h *handler) link(ctx context.Context, r *http.Request, account, key string) string {
	p := h.play
	if !p.proxy {
		u, err := p.store.SignRecording(ctx, account, key, p.expiry)
		if err == nil {
			return u
		}
		if !errors.Is(err, errors.ErrUnsupported) {
			h.log.WarnContext(ctx, "insights: signing a playback URL failed; linking to the recording endpoint", "key", key, "error", err)
		}
	}
	base := p.baseURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	exp := p.now().Add(p.expiry).Unix()
	var b strings.Builder
	b.WriteString(base)
	b.WriteString(strings.TrimSuffix(recordingsPath, "/"))
	for seg := range strings.SplitSeq(key, "/") {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(seg))
	}
	b.WriteString("?" + ParamExpires + "=")
	b.WriteString(strconv.FormatInt(exp, 10))
	b.WriteString("&" + ParamSignature + "=")
	b.WriteString(p.sign(key, exp))
	return b.String()
}

// recordingAccount checks that key is a recording's object key,
// ACCOUNT/APPLICATION/SESSION.wav|mp3, and returns its account.
func recordingAccount(key string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%w: recording key %q %s", ErrNotFound, truncate([]byte(key)), why)
	}
	if !utf8.ValidString(key) || len(key) > 1024 {
		return bad("is not a key")
	}
	segs := strings.Split(key, "/")
	if len(segs) != 3 {
		return bad("is not ACCOUNT/APPLICATION/SESSION.wav|mp3")
	}
	for _, s := range segs {
		if s == "" || s == "." || s == ".." || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return bad("has an empty, dot or control-character segment")
		}
	}
	if contentTypeOf(key) == "" {
		return bad("is not a .wav or .mp3 recording")
	}
	return segs[0], nil
}

// contentTypeOf is a recording's content type by its key's extension.
func contentTypeOf(key string) string {
	switch strings.ToLower(path.Ext(key)) {
	case ".wav":
		return "audio/wav"
	case ".mp3":
		return "audio/mpeg"
	}
	return ""
}

// serveRecording answers GET and HEAD /insights/recordings/{key}: the
// recording, with Range, If-Range and conditional requests as
// http.ServeContent answers them, read from the store one ranged read per
// range. The request carries a playback link's expires and signature, or
// an API key that may read the interactions of the key's account.
func (h *handler) serveRecording(w http.ResponseWriter, r *http.Request) {
	if h.play == nil {
		h.fail(w, r, http.StatusNotFound, "no such endpoint", nil)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		h.fail(w, r, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed here", nil)
		return
	}
	key, err := url.PathUnescape(strings.TrimPrefix(r.URL.EscapedPath(), recordingsPath))
	if err != nil {
		h.fail(w, r, http.StatusNotFound, "no such recording", err)
		return
	}
	account, err := recordingAccount(key)
	if err != nil {
		h.fail(w, r, http.StatusNotFound, "no such recording", err)
		return
	}
	q := r.URL.Query()
	if q.Has(ParamSignature) || q.Has(ParamExpires) {
		src := h.addr(r)
		if ok, wait := h.failed.Reserve(src); !ok {
			secs := max(1, int((wait+time.Second-1)/time.Second))
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			h.fail(w, r, http.StatusTooManyRequests, fmt.Sprintf("too many invalid playback links from this address: retry in %d s", secs),
				fmt.Errorf("%w: source %s throttled for %v", ErrUnauthorized, src, wait))
			return
		}
		if err := h.play.verify(key, q.Get(ParamExpires), q.Get(ParamSignature)); err != nil {
			h.fail(w, r, http.StatusForbidden, "this playback link is invalid or has expired: get a new one from the session", err)
			return
		}
		h.failed.Refund(src)
	} else {
		// An API key: authorized as a search of the key's account.
		if named := strings.TrimSpace(r.Header.Get(AccountHeader)); named != "" && named != account {
			h.fail(w, r, http.StatusForbidden, "the recording belongs to account "+strconv.Quote(account)+", not to the account named in "+AccountHeader,
				fmt.Errorf("%w: recording of %s, %s names %s", ErrForbidden, account, AccountHeader, named))
			return
		}
		r.Header.Set(AccountHeader, account)
		if _, ok := h.authorize(w, r, rbac.EntityInteraction, rbac.ActionRead, false); !ok {
			return
		}
	}
	ctx := r.Context()
	obj, info, err := OpenRecording(ctx, h.play.store, account, key)
	switch {
	case errors.Is(err, ErrNotFound):
		h.fail(w, r, http.StatusNotFound, "no such recording", err)
		return
	case err != nil:
		h.unavailable(w, r, "the recording's bucket is unavailable, retry later", err)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", contentTypeOf(key))
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Disposition", `inline; filename="`+path.Base(key)+`"`)
	hd.Set("Cache-Control", "private, max-age="+strconv.Itoa(int(h.play.expiry/time.Second)))
	if e := info.ETag; len(e) >= 2 && strings.HasSuffix(e, `"`) && !strings.ContainsAny(e, "\r\n") {
		hd.Set("ETag", e)
	}
	obj.spans = rangeSpans(r.Header.Get("Range"), info.Size)
	defer obj.Close()
	http.ServeContent(w, r, path.Base(key), info.ModTime, obj)
	if obj.err != nil {
		h.log.WarnContext(ctx, "insights: reading a recording failed", "key", key, "error", obj.err)
	}
}

// span is a byte range [from, to) of an object.
type span struct{ from, to int64 }

// rangeSpans reads the ranges of a Range header (RFC 9110 §14.1.2) as
// hints: the RecordingReader reads each range with one ranged read that ends
// where the range ends. http.ServeContent decides what is answered; a
// header it would refuse gives no hints.
func rangeSpans(h string, size int64) []span {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok || size <= 0 {
		return nil
	}
	var out []span
	for part := range strings.SplitSeq(spec, ",") {
		first, last, ok := strings.Cut(strings.TrimSpace(part), "-")
		if !ok {
			return nil
		}
		first, last = strings.TrimSpace(first), strings.TrimSpace(last)
		var s span
		switch {
		case first == "":
			n, err := strconv.ParseInt(last, 10, 64)
			if err != nil || n <= 0 {
				return nil
			}
			s = span{max(0, size-n), size}
		default:
			a, err := strconv.ParseInt(first, 10, 64)
			if err != nil || a < 0 {
				return nil
			}
			s = span{a, size}
			if last != "" {
				b, err := strconv.ParseInt(last, 10, 64)
				if err != nil || b < a {
					return nil
				}
				s.to = min(size, b+1)
			}
		}
		if s.from < s.to {
			out = append(out, s)
		}
	}
	return out
}

// RecordingReader is an io.ReadSeekCloser over a recording in a
// RecordingStore: seeking costs nothing, and reading opens one ranged read
// from the position to the end of the object (or, in the recording
// endpoint, of the requested range that holds it), so http.ServeContent
// reads what it answers and no more. A player that seeks costs one ranged
// read per seek. OpenRecording returns one; it is not safe for concurrent
// use.
type RecordingReader struct {
	ctx            context.Context
	store          RecordingStore
	account, key   string
	size, pos      int64
	spans          []span
	rc             io.ReadCloser
	rcPos, rcLimit int64
	err            error
}

// Seek sets the position of the next Read (io.Seeker); it reads nothing.
func (o *RecordingReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += o.pos
	case io.SeekEnd:
		offset += o.size
	default:
		return o.pos, errors.New("insights: bad whence")
	}
	if offset < 0 {
		return o.pos, errors.New("insights: seek before the start")
	}
	o.pos = offset
	return offset, nil
}

// Read reads from the position, through the ranged read open there or a
// new one; a recording that ends before its size is io.ErrUnexpectedEOF.
func (o *RecordingReader) Read(p []byte) (int, error) {
	if o.pos >= o.size {
		return 0, io.EOF
	}
	if o.rc != nil && (o.rcPos != o.pos || o.rcPos >= o.rcLimit) {
		_ = o.Close()
	}
	if o.rc == nil {
		end := o.size
		for _, s := range o.spans {
			if s.from <= o.pos && o.pos < s.to {
				end = s.to
				break
			}
		}
		rc, err := o.store.ReadRecording(o.ctx, o.account, o.key, o.pos, end-o.pos)
		if err != nil {
			o.err = err
			return 0, err
		}
		o.rc, o.rcPos, o.rcLimit = rc, o.pos, end
	}
	if max := o.rcLimit - o.rcPos; int64(len(p)) > max {
		p = p[:max]
	}
	n, err := o.rc.Read(p)
	o.pos += int64(n)
	o.rcPos += int64(n)
	if err == io.EOF {
		_ = o.Close()
		if o.pos < o.size && n == 0 {
			o.err = fmt.Errorf("insights: recording %s ended at byte %d of %d", o.key, o.pos, o.size)
			return 0, io.ErrUnexpectedEOF
		}
		err = nil
	}
	if err != nil {
		o.err = err
	}
	return n, err
}

// Close ends the ranged read in progress, if any. The reader can go on
// after it: the next Read opens another.
func (o *RecordingReader) Close() error {
	if o.rc == nil {
		return nil
	}
	err := o.rc.Close()
	o.rc = nil
	return err
}

// OpenRecording returns a reader over the recording key of account in
// store, and what the store knows of it (its size and modification time,
// for http.ServeContent). A recording that does not exist is an error
// wrapping ErrNotFound. Nothing is read before the first Read.
func OpenRecording(ctx context.Context, store RecordingStore, account, key string) (*RecordingReader, RecordingInfo, error) {
	info, err := store.StatRecording(ctx, account, key)
	if err != nil {
		return nil, RecordingInfo{}, err
	}
	return &RecordingReader{ctx: ctx, store: store, account: account, key: key, size: info.Size}, info, nil
}

// withPlayback returns doc (a session document or a projection of one) with
// channel_data.playback_url added when it has a channel_data.audio_url whose
// account is the document's; doc unchanged otherwise.
func (h *handler) withPlayback(ctx context.Context, r *http.Request, doc []byte) []byte {
	if h.play == nil || !bytes.Contains(doc, []byte(`"audio_url"`)) {
		return doc
	}
	from, to, account, ok := channelData(doc)
	if !ok {
		return doc
	}
	var cd map[string]json.RawMessage
	if err := json.Unmarshal(doc[from:to], &cd); err != nil {
		return doc
	}
	var key string
	if err := json.Unmarshal(cd["audio_url"], &key); err != nil || key == "" {
		return doc
	}
	if _, has := cd["playback_url"]; has {
		return doc
	}
	var status string
	if err := json.Unmarshal(cd["recording_status"], &status); err == nil && status != RecordingStatusUploaded {
		return doc // not in the bucket (yet): a link would answer 404
	}
	keyAccount, err := recordingAccount(key)
	if err != nil || (account != "" && account != keyAccount) {
		return doc
	}
	link, _ := json.Marshal(h.link(ctx, r, keyAccount, key))
	out := make([]byte, 0, len(doc)+len(link)+20)
	out = append(out, doc[:to-1]...)
	if len(cd) > 0 {
		out = append(out, ',')
	}
	out = append(out, `"playback_url":`...)
	out = append(out, link...)
	return append(out, doc[to-1:]...)
}

// channelData finds the channel_data object of a document: its offsets
// [from, to) and the document's account_id ("" when absent).
func channelData(doc []byte) (from, to int, account string, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return 0, 0, "", false
	}
	found := false
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return 0, 0, "", false
		}
		name, _ := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return 0, 0, "", false
		}
		end := int(dec.InputOffset())
		switch name {
		case "channel_data":
			if len(raw) < 2 || raw[0] != '{' {
				return 0, 0, "", false
			}
			from, to, found = end-len(raw), end, true
		case "account_id":
			_ = json.Unmarshal(raw, &account)
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return 0, 0, "", false
	}
	if _, err := dec.Token(); err != io.EOF {
		return 0, 0, "", false // something after the document
	}
	return from, to, account, found
}
