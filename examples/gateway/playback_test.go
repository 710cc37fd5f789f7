package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/internal/pgtest"
	"github.com/voicegw/voicegw/internal/sipptest"
	"github.com/voicegw/voicegw/internal/testenv"
	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/recording"
	"github.com/voicegw/voicegw/siprec/srs"
	"github.com/voicegw/voicegw/storage/storagetest"
)

// TestPlaybackEndToEnd is issue 17's "Must show" through the gateway
// binary: a call in progress is listed as in_progress and then ended; its
// document's playback_url plays without an API key (a ranged GET answers
// 206 with exactly those bytes of the file in the bucket, a full GET
// decodes) and stops working with a changed signature or once expired; a
// call recorded while the bucket is down is erroneous (upload_failing) and
// flips to uploaded (a warning: late) when the spool uploads it after the
// bucket comes back (and a signed session.updated webhook says so);
// participants and call attached data are in the document and in the
// session.ended webhook, and a search on a participant finds it.
func TestPlaybackEndToEnd(t *testing.T) {
	siprecClient(t)
	bucket := filepath.Join(t.TempDir(), "bucket")
	if err := os.Mkdir(bucket, 0o700); err != nil {
		t.Fatal(err)
	}
	const (
		key      = "playback-account-key-0123456789"
		password = "playback-password-1"
		expiry   = 4 * time.Second
	)
	hooks := newWebhookReceiver(t, hookSecret)
	gw := startGateway(t, gwOptions{SIP: "default_account: pb", Config: fmt.Sprintf(`
recording: {retry_interval: 1s}
playback: {expiry: %s}
accounts:
  - name: pb
    sip_realm: pb.test
    sip: {users: [{username: src, password: %s}]}
    recording: {enabled: true, format: wav, record_all_calls: true, bucket: {vendor: file, file: {dir: %s}}}
    call_attached_data: [{name: rec_id, value: Interaction.recordingId}, {name: caller, value: Interaction.source}]
    session_webhook: %s/hooks/sessions
    webhook_secret: %s
    api_keys: [{name: t, secret: %s}]
`, expiry, password, bucket, hooks.srv.URL, hookSecret, key)})
	if fi, err := os.Stat(filepath.Join(gw.dataDir, playbackSecretFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the playback secret file: %v, %v; want mode 0600", fi, err)
	}
	api := insights.NewClient(gw.url(""), secret.String(key))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	e := &pbEnv{gw: gw, api: api, ctx: ctx, password: password}
	search, find := e.searcher(t), e.finder(t)
	call := func(recID string, d time.Duration) (*strings.Builder, func()) { return e.call(t, recID, d) }

	// 1. in progress, then ended
	_, wait := call("pb-rec-1", 6*time.Second)
	var id string
	waitFor(t, 5*time.Second, "the call listed as in_progress", func() bool {
		for _, s := range search(insights.Term("status", insights.StatusInProgress)) {
			id = s.ID
		}
		return id != ""
	})
	live := find(id)
	if live.Status != insights.StatusInProgress || live.ChannelData.RecordingStatus != insights.RecordingStatusRecording {
		t.Fatalf("while the call is in progress: status %q, recording_status %q", live.Status, live.ChannelData.RecordingStatus)
	}
	t.Logf("in progress: %s, recording_status %s", live.Status, live.ChannelData.RecordingStatus)
	wait()
	var doc *insights.Session
	waitFor(t, 20*time.Second, "the call ended and uploaded", func() bool {
		doc = find(id)
		return doc.Status == insights.StatusEnded && doc.ChannelData.RecordingStatus == insights.RecordingStatusUploaded
	})
	cd := doc.ChannelData
	if cd.StatusCode == nil || *cd.StatusCode != insights.StatusCodeOK || cd.Duration < 5000 || cd.AudioURL == "" {
		t.Fatalf("ended call: status_code %v, duration %d ms, audio_url %q", cd.StatusCode, cd.Duration, cd.AudioURL)
	}
	if n := len(search(insights.Term("status", insights.StatusInProgress))); n != 0 {
		t.Fatalf("%d sessions still listed in_progress", n)
	}

	// 2. participants and call attached data, searchable
	t.Run("participants and CAD", func(t *testing.T) {
		search := e.searcher(t)
		var users, names []string
		for _, p := range cd.Participants {
			users, names = append(users, p.User), append(names, p.Name)
		}
		if strings.Join(users, ",") != "caller,callee" || strings.Join(names, ",") != "Caller,Callee" {
			t.Errorf("participants %+v; want Caller (caller) and Callee (callee)", cd.Participants)
		}
		if doc.CallAttachedData["rec_id"] != "pb-rec-1" || doc.CallAttachedData["caller"] == nil {
			t.Errorf("call_attached_data %v; want rec_id pb-rec-1 and caller", doc.CallAttachedData)
		}
		for _, c := range []insights.Clause{
			insights.Term("channel_data.participants.user", "callee"),
			insights.Term("channel_data.participants.aor", "sip:callee@example.invalid"),
			insights.Match("channel_data.participants.name", "Callee"),
			insights.Term("call_attached_data.rec_id", "pb-rec-1"),
		} {
			hits := search(c)
			if len(hits) != 1 || hits[0].ID != id {
				t.Errorf("search %+v: %d hits, want the call", c, len(hits))
			}
		}
		if hits := search(insights.Term("channel_data.participants.user", "nobody")); len(hits) != 0 {
			t.Errorf("a participant not in the call: %d hits", len(hits))
		}
		waitFor(t, 10*time.Second, "the session.ended webhook", func() bool { return hookEvent(hooks, id, srs.WebhookEventSessionEnded) != nil })
		ev := hookEvent(hooks, id, srs.WebhookEventSessionEnded)
		if ev.Session == nil || ev.Session.CallAttachedData["rec_id"] != "pb-rec-1" || len(ev.Session.ChannelData.Participants) != 2 {
			t.Errorf("session.ended webhook: %+v; want the call attached data and both participants", ev.Session)
		}
	})

	// 3. the playback link
	file := objectBytes(t, bucket, cd.AudioURL)
	t.Run("playback", func(t *testing.T) {
		find := e.finder(t)
		link := find(id).ChannelData.PlaybackURL
		if !strings.HasPrefix(link, gw.url("/insights/recordings/"+cd.AudioURL+"?")) {
			t.Fatalf("playback_url %q; want a signed link to the gateway's recording endpoint", link)
		}
		code, h, body := fetch(t, link, "bytes=100-199")
		if code != http.StatusPartialContent || !bytes.Equal(body, file[100:200]) ||
			h.Get("Content-Range") != fmt.Sprintf("bytes 100-199/%d", len(file)) {
			t.Fatalf("ranged GET: %d, Content-Range %q, %d bytes (equal to the file's 100-199: %v)",
				code, h.Get("Content-Range"), len(body), bytes.Equal(body, file[100:200]))
		}
		code, h, body = fetch(t, link, "")
		if code != http.StatusOK || h.Get("Content-Type") != "audio/wav" || !bytes.Equal(body, file) {
			t.Fatalf("full GET: %d, Content-Type %q, %d bytes of %d", code, h.Get("Content-Type"), len(body), len(file))
		}
		played := filepath.Join(t.TempDir(), "played.wav")
		if err := os.WriteFile(played, body, 0o600); err != nil {
			t.Fatal(err)
		}
		p := decodeWAV(t, played)
		if p.rate != 8000 || len(p.channels) != 2 || p.duration() < 5*time.Second {
			t.Fatalf("the played recording: %d channels at %d Hz, %s", len(p.channels), p.rate, p.duration())
		}
		checkTone(t, "played", p, 0, 440, 880, time.Second, 4*time.Second)

		// a changed signature
		i := strings.LastIndex(link, "=") + 1
		flip := "A"
		if link[i:i+1] == "A" {
			flip = "B"
		}
		if code, _, _ := fetch(t, link[:i]+flip+link[i+1:], "bytes=100-199"); code != http.StatusForbidden {
			t.Fatalf("a link with a changed signature: %d, want 403", code)
		}
		// another recording's path with this link's signature
		other := strings.Replace(link, ".wav?", "x.wav?", 1)
		if code, _, _ := fetch(t, other, ""); code != http.StatusForbidden {
			t.Fatalf("another key with this link's signature: %d, want 403", code)
		}
		// expired: the same link, once its expiry has passed
		time.Sleep(expiry + 1500*time.Millisecond)
		if code, _, _ := fetch(t, link, "bytes=100-199"); code != http.StatusForbidden {
			t.Fatalf("the link after its expiry: %d, want 403", code)
		}
		waitFor(t, 2*time.Second, "the log's reason for the 403", func() bool {
			return strings.Contains(gw.stderr.String(), "playback link expired")
		})
		// the log names refused links without their signature (a bearer
		// credential until it expires)
		if sig := link[i:]; strings.Contains(gw.stderr.String(), sig) || strings.Contains(gw.stdout.String(), sig) {
			t.Fatal("a playback link's signature is in the gateway's log")
		}
	})

	// 4. a call recorded while the bucket is down: the bucket's directory
	// is replaced by a file (the tests run as root, so modes do not stop
	// writes), then put back
	t.Run("bucket down", func(t *testing.T) {
		search, find := e.searcher(t), e.finder(t)
		away := bucket + ".away"
		if err := os.Rename(bucket, away); err != nil {
			t.Fatal(err)
		}
		writeFile(t, bucket, "not a directory")
		_, wait := e.call(t, "pb-rec-2", 2*time.Second)
		wait()
		var id2 string
		waitFor(t, 10*time.Second, "the second call's document", func() bool {
			hits := search(insights.Term("channel_data.recording_id", "pb-rec-2"))
			if len(hits) == 1 {
				id2 = hits[0].ID
			}
			return id2 != ""
		})
		var d *insights.Session
		waitFor(t, 30*time.Second, "the call ended with its upload failing", func() bool {
			d = find(id2)
			return d.Status == insights.StatusEnded && d.ChannelData.RecordingStatus == insights.RecordingStatusUploadFailing
		})
		if c := d.ChannelData.StatusCode; c == nil || *c != insights.StatusCodeError {
			t.Fatalf("upload failing: status_code %v (%q), want %d", c, d.ChannelData.StatusReason, insights.StatusCodeError)
		}
		t.Logf("bucket down: status_code %d, recording_status %s, reason %q", *d.ChannelData.StatusCode, d.ChannelData.RecordingStatus, d.ChannelData.StatusReason)
		if err := os.Remove(bucket); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(away, bucket); err != nil {
			t.Fatal(err)
		}
		back := time.Now()
		waitFor(t, 90*time.Second, "the spool's upload after the bucket came back", func() bool {
			d = find(id2)
			return d.ChannelData.RecordingStatus == insights.RecordingStatusUploaded
		})
		if c := d.ChannelData.StatusCode; c == nil || *c != insights.StatusCodeWarning {
			t.Fatalf("uploaded late: status_code %v (%q), want %d", c, d.ChannelData.StatusReason, insights.StatusCodeWarning)
		}
		t.Logf("uploaded %s after the bucket came back: status_code %d, reason %q", time.Since(back).Round(100*time.Millisecond), *d.ChannelData.StatusCode, d.ChannelData.StatusReason)
		waitFor(t, 10*time.Second, "a session.updated webhook with the upload", func() bool {
			ev := hookEvent(hooks, id2, srs.WebhookEventSessionUpdated)
			return ev != nil && ev.Session != nil && ev.Session.ChannelData.RecordingStatus == insights.RecordingStatusUploaded
		})
		if ev := hookEvent(hooks, id2, srs.WebhookEventSessionUpdated); ev.Session.ChannelData.StatusCode == nil || *ev.Session.ChannelData.StatusCode != insights.StatusCodeWarning {
			t.Fatalf("session.updated webhook: status_code %v, want %d", ev.Session.ChannelData.StatusCode, insights.StatusCodeWarning)
		}
		f2 := objectBytes(t, bucket, d.ChannelData.AudioURL)
		code, _, body := fetch(t, d.ChannelData.PlaybackURL, "bytes=100-199")
		if code != http.StatusPartialContent || !bytes.Equal(body, f2[100:200]) {
			t.Fatalf("the late recording's ranged GET: %d, %d bytes", code, len(body))
		}
	})
}

// TestPlaybackS3EndToEnd is TestPlaybackEndToEnd's playback and bucket
// down on an S3-compatible bucket (storagetest's S3 server, which checks
// SigV4 signatures and presigned expiries as S3 does): the document's
// playback_url is the bucket's presigned URL, ranged and full GETs of it
// answer the object's bytes, a changed signature and an expired URL get 403;
// a call recorded while the server is stopped is upload_failing (200) and
// uploaded late (100) once it is started again.
func TestPlaybackS3EndToEnd(t *testing.T) {
	siprecClient(t)
	store := storagetest.NewS3Server(t)
	store.CreateBucket("recs")
	const (
		key      = "playback-s3-account-key-0123456789"
		password = "playback-s3-password-1"
		expiry   = 4 * time.Second
	)
	gw := startGateway(t, gwOptions{SIP: "default_account: pbs3", Config: fmt.Sprintf(`
recording: {retry_interval: 1s}
playback: {expiry: %s}
accounts:
  - name: pbs3
    sip_realm: pbs3.test
    sip: {users: [{username: src, password: %s}]}
    recording:
      enabled: true
      format: wav
      record_all_calls: true
      bucket: {vendor: s3-compatible, s3_compatible: {endpoint: "%s", path_style: true, bucket: recs, region: %s, access_key_id: %s, secret_access_key: "%s"}}
    api_keys: [{name: t, secret: %s}]
`, expiry, password, store.Endpoint(), store.Region, store.KeyID, store.SecretKey.Reveal(), key)})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e := &pbEnv{gw: gw, api: insights.NewClient(gw.url(""), secret.String(key)), ctx: ctx, password: password}
	object := func(t *testing.T, k string) []byte {
		t.Helper()
		out, err := store.Client().GetObject(ctx, &s3.GetObjectInput{Bucket: ptrTo("recs"), Key: ptrTo(k)})
		if err != nil {
			t.Fatalf("the recording in the bucket: %v", err)
		}
		defer out.Body.Close()
		b, err := io.ReadAll(out.Body)
		if err != nil || len(b) < 200 {
			t.Fatalf("the recording in the bucket: %d bytes, %v", len(b), err)
		}
		return b
	}
	// ended waits for the call forwarding recID to end with its recording
	// in status rs, and returns its document.
	ended := func(t *testing.T, recID, rs string) *insights.Session {
		t.Helper()
		search, find := e.searcher(t), e.finder(t)
		var d *insights.Session
		waitFor(t, 30*time.Second, recID+" ended, recording "+rs, func() bool {
			hits := search(insights.Term("channel_data.recording_id", recID))
			if len(hits) != 1 {
				return false
			}
			d = find(hits[0].ID)
			return d.Status == insights.StatusEnded && d.ChannelData.RecordingStatus == rs
		})
		return d
	}

	t.Run("presigned playback", func(t *testing.T) {
		_, wait := e.call(t, "pb-s3-1", 3*time.Second)
		wait()
		d := ended(t, "pb-s3-1", insights.RecordingStatusUploaded)
		cd := d.ChannelData
		if cd.StatusCode == nil || *cd.StatusCode != insights.StatusCodeOK {
			t.Fatalf("status_code %v (%q)", cd.StatusCode, cd.StatusReason)
		}
		link := cd.PlaybackURL
		if !strings.HasPrefix(link, store.Endpoint()+"/recs/"+cd.AudioURL+"?") || !strings.Contains(link, "X-Amz-Signature=") {
			t.Fatalf("playback_url %q; want the bucket's presigned URL", link)
		}
		file := object(t, cd.AudioURL)
		code, h, body := fetch(t, link, "bytes=100-199")
		if code != http.StatusPartialContent || !bytes.Equal(body, file[100:200]) {
			t.Fatalf("ranged GET: %d, Content-Range %q, %d bytes", code, h.Get("Content-Range"), len(body))
		}
		code, _, body = fetch(t, link, "")
		if code != http.StatusOK || !bytes.Equal(body, file) {
			t.Fatalf("full GET: %d, %d bytes of %d", code, len(body), len(file))
		}
		played := filepath.Join(t.TempDir(), "played.wav")
		if err := os.WriteFile(played, body, 0o600); err != nil {
			t.Fatal(err)
		}
		if p := decodeWAV(t, played); p.rate != 8000 || len(p.channels) != 2 || p.duration() < 2500*time.Millisecond {
			t.Fatalf("the played recording: %d channels at %d Hz, %s", len(p.channels), p.rate, p.duration())
		}
		i := strings.Index(link, "X-Amz-Signature=") + len("X-Amz-Signature=")
		flip := "0"
		if link[i] == '0' {
			flip = "1"
		}
		if code, _, _ := fetch(t, link[:i]+flip+link[i+1:], "bytes=100-199"); code != http.StatusForbidden {
			t.Fatalf("a presigned URL with a changed signature: %d, want 403", code)
		}
		time.Sleep(expiry + 1500*time.Millisecond)
		if code, _, _ := fetch(t, link, "bytes=100-199"); code != http.StatusForbidden {
			t.Fatalf("the presigned URL after its expiry: %d, want 403", code)
		}
	})

	t.Run("bucket down", func(t *testing.T) {
		store.Stop()
		_, wait := e.call(t, "pb-s3-2", 2*time.Second)
		wait()
		d := ended(t, "pb-s3-2", insights.RecordingStatusUploadFailing)
		if c := d.ChannelData.StatusCode; c == nil || *c != insights.StatusCodeError {
			t.Fatalf("upload failing: status_code %v (%q), want %d", c, d.ChannelData.StatusReason, insights.StatusCodeError)
		}
		t.Logf("S3 server stopped: status_code %d, reason %q", *d.ChannelData.StatusCode, d.ChannelData.StatusReason)
		store.Start()
		back := time.Now()
		d = ended(t, "pb-s3-2", insights.RecordingStatusUploaded)
		if c := d.ChannelData.StatusCode; c == nil || *c != insights.StatusCodeWarning {
			t.Fatalf("uploaded late: status_code %v (%q), want %d", c, d.ChannelData.StatusReason, insights.StatusCodeWarning)
		}
		t.Logf("uploaded %s after the S3 server came back: status_code %d, reason %q", time.Since(back).Round(100*time.Millisecond), *d.ChannelData.StatusCode, d.ChannelData.StatusReason)
		file := object(t, d.ChannelData.AudioURL)
		if code, _, body := fetch(t, d.ChannelData.PlaybackURL, "bytes=100-199"); code != http.StatusPartialContent || !bytes.Equal(body, file[100:200]) {
			t.Fatalf("the late recording's ranged GET: %d, %d bytes", code, len(body))
		}
	})
}

// TestPlaybackMP3 plays an MP3 recording through the gateway's link: served
// as audio/mpeg, a ranged GET answers those bytes of the object, and the
// full GET decodes (lame) to the call's length, in one channel by default
// (recording.mp3_mono) and in stereo with mp3_mono: false (the key reaches
// the recorder).
func TestPlaybackMP3(t *testing.T) {
	if _, err := recording.OpenLAME(""); err != nil {
		testenv.Missing(t, "LAME's shared library (MP3 recordings)", "apt-get install -y libmp3lame0")
	}
	siprecClient(t)
	for _, tc := range []struct {
		name, global string
		channels     int // 1: 32 kbit/s, 2: 48 (mp3_bitrate 0)
	}{
		{"stereo", "recording: {mp3_mono: false}\n", 2},
		{"mono (the default)", "", 1},
	} {
		t.Run(tc.name, func(t *testing.T) { testPlaybackMP3(t, tc.global, tc.channels) })
	}
}

func testPlaybackMP3(t *testing.T, global string, channels int) {
	bucket := t.TempDir()
	const key, password = "playback-mp3-account-key-0123456789", "playback-mp3-password-1"
	gw := startGateway(t, gwOptions{SIP: "default_account: pbmp3", Config: fmt.Sprintf(`
accounts:
  - name: pbmp3
    sip_realm: pbmp3.test
    sip: {users: [{username: src, password: %s}]}
    recording: {enabled: true, format: mp3, record_all_calls: true, bucket: {vendor: file, file: {dir: %s}}}
    api_keys: [{name: t, secret: %s}]
`, password, bucket, key) + global})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e := &pbEnv{gw: gw, api: insights.NewClient(gw.url(""), secret.String(key)), ctx: ctx, password: password}
	_, wait := e.call(t, "pb-mp3-1", 3*time.Second)
	wait()
	search, find := e.searcher(t), e.finder(t)
	var d *insights.Session
	waitFor(t, 20*time.Second, "the MP3 call uploaded", func() bool {
		hits := search(insights.Term("channel_data.recording_id", "pb-mp3-1"))
		if len(hits) != 1 {
			return false
		}
		d = find(hits[0].ID)
		return d.ChannelData.RecordingStatus == insights.RecordingStatusUploaded
	})
	cd := d.ChannelData
	if !strings.HasSuffix(cd.AudioURL, ".mp3") || !strings.HasPrefix(cd.PlaybackURL, gw.url("/insights/recordings/"+cd.AudioURL+"?")) {
		t.Fatalf("audio_url %q, playback_url %q", cd.AudioURL, cd.PlaybackURL)
	}
	file := objectBytes(t, bucket, cd.AudioURL)
	code, h, body := fetch(t, cd.PlaybackURL, "bytes=100-199")
	if code != http.StatusPartialContent || !bytes.Equal(body, file[100:200]) || h.Get("Content-Type") != "audio/mpeg" {
		t.Fatalf("ranged GET: %d, Content-Type %q, %d bytes", code, h.Get("Content-Type"), len(body))
	}
	code, h, body = fetch(t, cd.PlaybackURL, "")
	if code != http.StatusOK || !bytes.Equal(body, file) || h.Get("Content-Type") != "audio/mpeg" {
		t.Fatalf("full GET: %d, Content-Type %q, %d bytes of %d", code, h.Get("Content-Type"), len(body), len(file))
	}
	played := filepath.Join(t.TempDir(), "played.mp3")
	if err := os.WriteFile(played, body, 0o600); err != nil {
		t.Fatal(err)
	}
	p := decodeWAV(t, lameDecode(t, played))
	if len(p.channels) != channels || p.rate != 8000 || p.duration() < 2500*time.Millisecond || p.duration() > 4*time.Second {
		t.Fatalf("the played MP3 decodes to %d channels at %d Hz, %s; want the 3 s call in %d channels", len(p.channels), p.rate, p.duration(), channels)
	}
	// recording's default bitrate: 32 kbit/s for one channel, 48 for two
	if info, err := recording.Inspect(played); err != nil || info.Bitrate != map[int]int{1: 32, 2: 48}[channels] {
		t.Fatalf("the played MP3: %+v, %v; want the default bitrate for %d channels", info, err, channels)
	}
}

// pbEnv is a gateway with one account calling as src, and its Insights API.
type pbEnv struct {
	gw       *gwProc
	api      *insights.Client
	ctx      context.Context
	password string
}

// searcher returns a function returning today's sessions matching the
// clauses (failing t).
func (e *pbEnv) searcher(t *testing.T) func(must ...insights.Clause) []insights.Session {
	return func(must ...insights.Clause) []insights.Session {
		t.Helper()
		q := &insights.Query{From: insights.At(time.Now().Add(-time.Hour)), To: insights.At(time.Now().Add(time.Hour)), Filter: insights.Filter{Must: must}}
		res, err := e.api.Search(e.ctx, q)
		if err != nil {
			t.Fatalf("search: %v", err)
		}
		out := make([]insights.Session, len(res.Hits))
		for i, h := range res.Hits {
			if err := json.Unmarshal(h, &out[i]); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}
}

// finder returns a function returning the document of a session (failing t).
func (e *pbEnv) finder(t *testing.T) func(id string) *insights.Session {
	return func(id string) *insights.Session {
		t.Helper()
		s, err := e.api.Find(e.ctx, id)
		if err != nil {
			t.Fatalf("Find(%s): %v", id, err)
		}
		return s
	}
}

// call starts a siprec-client call of d forwarding recID; the function
// returned waits for its end.
func (e *pbEnv) call(t *testing.T, recID string, d time.Duration) (*strings.Builder, func()) {
	t.Helper()
	var out strings.Builder
	cl := runClient(e.ctx, t, e.gw, "-user", "src", "-password", e.password, "-duration", d.String(), "-recording-id", recID)
	cl.Stdout, cl.Stderr = &out, &out
	if err := cl.Start(); err != nil {
		t.Fatal(err)
	}
	return &out, func() {
		t.Helper()
		if err := cl.Wait(); err != nil {
			t.Fatalf("siprec-client: %v\n%s", err, out.String())
		}
	}
}

// hookEvent returns the last event of type typ about session id that hooks
// received, nil when none.
func hookEvent(hooks *webhookReceiver, id, typ string) *srs.WebhookEvent {
	hooks.mu.Lock()
	defer hooks.mu.Unlock()
	var last *srs.WebhookEvent
	for i, e := range hooks.events {
		if e.SessionID == id && e.Event == typ {
			last = &hooks.events[i]
		}
	}
	if last == nil {
		return nil
	}
	c := *last
	return &c
}

// objectBytes returns the object key of the file bucket in dir.
func objectBytes(t *testing.T, dir, key string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(key)))
	if err != nil {
		t.Fatalf("the recording in the bucket: %v", err)
	}
	if len(b) < 200 {
		t.Fatalf("the recording in the bucket has %d bytes", len(b))
	}
	return b
}

// fetch GETs url without an API key, with a Range header unless rng is "".
func fetch(t *testing.T, url, rng string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header, body
}

// TestPlaybackSecretFile: the playback secret is made once (0600, 32
// random bytes), read back the same at the next start, and a file too short
// to be a secret is refused rather than used.
func TestPlaybackSecretFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets", "playback-link-secret")
	s1, err := secret.File(path, minPlaybackSecret)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 || len(s1.Reveal()) != 43 {
		t.Fatalf("made %v (%v), %d characters; want mode 0600 and 43 characters (32 bytes)", fi, err, len(s1.Reveal()))
	}
	if s2, err := secret.File(path, minPlaybackSecret); err != nil || s2.Reveal() != s1.Reveal() {
		t.Fatalf("read back: %v; want the same secret", err)
	}
	writeFile(t, path, "short\n")
	if _, err := secret.File(path, minPlaybackSecret); err == nil || !strings.Contains(err.Error(), "shorter than 32") {
		t.Fatalf("a short file: %v", err)
	}
}

// TestPlaybackLinkAcrossGateways: gateways of one PostgreSQL database play
// each other's playback links once they share the playback secret (B has
// A's DATA_DIR/secrets/playback-link-secret copied, as the configuration's
// documentation says); C, with a secret of its own, refuses them with 403.
func TestPlaybackLinkAcrossGateways(t *testing.T) {
	sipptest.Path(t)
	dsn := pgtest.Shared(t).NewDatabase(t)
	keyFile := filepath.Join(t.TempDir(), "database-sealing-key")
	bucket := t.TempDir()
	cfg := pgGatewayConfig(dsn, keyFile, bucket)
	a := startGateway(t, gwOptions{Config: cfg})
	bDir := t.TempDir()
	sec, err := os.ReadFile(filepath.Join(a.dataDir, playbackSecretFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(bDir, "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bDir, playbackSecretFile), sec, 0o600); err != nil {
		t.Fatal(err)
	}
	b := startGateway(t, gwOptions{Config: cfg, DataDir: bDir})
	c := startGateway(t, gwOptions{Config: cfg})

	if _, err := sippCall(t, a, sippDir(t), "siprec_src_auth.xml", "shared.test", "sbc", "shared-password-1", "-key", "hold", "1000"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the recording in the bucket", func() bool { return len(recordings(t, bucket)) == 1 })
	var objKey string
	for k := range recordings(t, bucket) {
		objKey = k
	}
	id, _, err := recording.ParseKey(objKey)
	if err != nil {
		t.Fatal(err)
	}
	var s *insights.Session
	waitFor(t, 20*time.Second, "the session document through A", func() bool {
		s, err = insights.NewClient(a.url(""), secret.String(pgAccountKey)).Find(context.Background(), id.Session)
		return err == nil && s.ChannelData.PlaybackURL != ""
	})
	link := s.ChannelData.PlaybackURL
	if !strings.HasPrefix(link, a.url("/insights/recordings/")) {
		t.Fatalf("playback_url %q", link)
	}
	file := objectBytes(t, bucket, objKey)
	on := func(gw *gwProc) string { return gw.url("") + strings.TrimPrefix(link, a.url("")) }
	if code, _, body := fetch(t, on(b), "bytes=100-199"); code != http.StatusPartialContent || !bytes.Equal(body, file[100:200]) {
		t.Fatalf("A's link on B (same secret): %d, %d bytes", code, len(body))
	}
	if code, _, _ := fetch(t, on(c), "bytes=100-199"); code != http.StatusForbidden {
		t.Fatalf("A's link on C (a secret of its own): %d, want 403", code)
	}
}
