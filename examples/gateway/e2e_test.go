package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/internal/sipptest"
	"github.com/voicegw/voicegw/internal/testenv"
	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/recording"
	"github.com/voicegw/voicegw/siprec/srs"
	"github.com/voicegw/voicegw/tenancy"
)

var (
	clientOnce sync.Once
	clientBin  string
	clientErr  error
)

// siprecClient returns the examples/siprec-client binary, built once.
func siprecClient(t *testing.T) string {
	t.Helper()
	clientOnce.Do(func() {
		clientBin = filepath.Join(filepath.Dir(gatewayBin), "siprec-client")
		out, err := exec.Command("go", "build", "-o", clientBin, "../siprec-client").CombinedOutput()
		if err != nil {
			clientErr = fmt.Errorf("building examples/siprec-client: %v\n%s", err, out)
		}
	})
	if clientErr != nil {
		t.Fatal(clientErr)
	}
	return clientBin
}

// runClient runs examples/siprec-client against the gateway over TCP.
func runClient(ctx context.Context, t *testing.T, gw *gwProc, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(ctx, siprecClient(t), append([]string{"-srs", fmt.Sprintf("sip:%s;transport=tcp", gw.sipAddr())}, args...)...)
	return cmd
}

// webhookReceiver is an account's web application: it accepts only requests
// whose signature verifies with the account's webhook secret (tenancy's
// verifier) and keeps their bodies.
type webhookReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	events []srs.WebhookEvent
	bad    int
}

func newWebhookReceiver(t *testing.T, hookSecret string) *webhookReceiver {
	w := &webhookReceiver{}
	v := &tenancy.WebhookVerifier{Secrets: []secret.String{secret.String(hookSecret)}}
	verified := v.Middleware(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var ev srs.WebhookEvent
		if err := json.Unmarshal(b, &ev); err != nil {
			rw.WriteHeader(400)
			return
		}
		w.mu.Lock()
		w.events = append(w.events, ev)
		w.mu.Unlock()
	}))
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		verified.ServeHTTP(rec, r)
		if rec.Code != 200 {
			w.mu.Lock()
			w.bad++
			w.mu.Unlock()
		}
		for k, vs := range rec.Header() {
			rw.Header()[k] = vs
		}
		rw.WriteHeader(rec.Code)
		_, _ = rw.Write(rec.Body.Bytes())
	}))
	t.Cleanup(w.srv.Close)
	return w
}

func (w *webhookReceiver) event(id string) (srs.WebhookEvent, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range w.events {
		if e.SessionID == id {
			return e, true
		}
	}
	return srs.WebhookEvent{}, false
}

// recordings returns the recordings in a local bucket directory, by key.
func recordings(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if ext := filepath.Ext(path); ext == ".wav" || ext == ".mp3" {
			rel, _ := filepath.Rel(dir, path)
			out[filepath.ToSlash(rel)] = path
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return out
}

const (
	wavKey      = "wav-account-key-0123456789"
	mp3Key      = "mp3-account-key-0123456789"
	hookSecret  = "whsec_e2e_webhook_secret_0123"
	wavPassword = "wav-sbc-password-1"
	mp3Password = "mp3-src-password-1"
)

// TestEndToEnd places two recorded calls at once: one with sipp (digest over
// TCP, realm wav.test, WAV) and one with examples/siprec-client (digest over
// TCP, addressed to the gateway's IP address, so the default account, MP3),
// then checks the files in the buckets (duration, channels, 440 Hz on the
// left and 880 Hz on the right, with go-audio/wav, sox and lame), the
// sessions through the Insights API (with insights' client, account-scoped),
// the signed webhook, and the metrics.
func TestEndToEnd(t *testing.T) {
	sipptest.Path(t)
	if _, err := recording.OpenLAME(""); err != nil {
		testenv.Missing(t, "LAME's shared library (MP3 recordings)", "apt-get install -y libmp3lame0")
	}
	siprecClient(t)
	hooks := newWebhookReceiver(t, hookSecret)
	wavBucket, mp3Bucket := t.TempDir(), t.TempDir()
	gw := startGateway(t, gwOptions{SIP: "default_account: mp3", Config: fmt.Sprintf(`
accounts:
  - name: wav
    sip_realm: wav.test
    sip: {users: [{username: sbc, password: %s}], allowlist: [127.0.0.0/8]}
    recording: {enabled: true, format: wav, bucket: {vendor: file, file: {dir: %s}}}
    applications: [{name: siprec, record_all_calls: true}]
    session_webhook: %s/hooks/sessions
    webhook_secret: %s
    api_keys: [{name: e2e, secret: %s}]
  - name: mp3
    sip_realm: mp3.test
    sip: {users: [{username: src, password: %s}]}
    recording: {enabled: true, format: mp3, record_all_calls: true, bucket: {url: "file://%s"}}
    api_keys: [{name: e2e, secret: %s}]
recording: {mp3_mono: false} # a party per channel, checked below (the default mixes them)
`, wavPassword, wavBucket, hooks.srv.URL, hookSecret, wavKey, mp3Password, mp3Bucket, mp3Key)})

	// both calls at once
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var clientOut strings.Builder
	cl := runClient(ctx, t, gw, "-user", "src", "-password", mp3Password, "-duration", "5s", "-recording-id", "e2e-rec-42")
	cl.Stdout, cl.Stderr = &clientOut, &clientOut
	if err := cl.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := sippCall(t, gw, sippDir(t), "siprec_src_auth.xml", "wav.test", "sbc", wavPassword, "-key", "hold", "5500"); err != nil {
		t.Fatalf("sipp call: %v", err)
	}
	if err := cl.Wait(); err != nil {
		t.Fatalf("siprec-client: %v\n%s", err, clientOut.String())
	}
	waitFor(t, 20*time.Second, "both recordings in their buckets", func() bool {
		return len(recordings(t, wavBucket)) == 1 && len(recordings(t, mp3Bucket)) == 1
	})

	type call struct {
		name, key, apiKey, path string
		id                      recording.ID
		format                  recording.Format
	}
	var calls []call
	for _, c := range []struct {
		name, bucket, apiKey string
	}{{"sipp/wav", wavBucket, wavKey}, {"siprec-client/mp3", mp3Bucket, mp3Key}} {
		for key, path := range recordings(t, c.bucket) {
			id, f, err := recording.ParseKey(key)
			if err != nil {
				t.Fatalf("%s: object key %q: %v", c.name, key, err)
			}
			calls = append(calls, call{c.name, key, c.apiKey, path, id, f})
		}
	}

	t.Run("files", func(t *testing.T) {
		for _, c := range calls {
			var p pcm
			switch c.format {
			case recording.WAV:
				p = decodeWAV(t, c.path)
				if p.rate != 8000 {
					t.Errorf("%s: %d Hz, want 8000", c.name, p.rate)
				}
				for ch, f := range []float64{440, 880} {
					if got := soxFrequency(t, c.path, ch+1); !near(got, f, f*0.05) {
						t.Errorf("%s: sox: channel %d at %.0f Hz, want %.0f", c.name, ch+1, got, f)
					}
				}
			case recording.MP3:
				// 8 kHz MPEG-2.5 (recording's default), which go-mp3 cannot
				// read: lame decodes it, honouring the LAME tag's delay and
				// padding, so the audio has the tag's exact length.
				dec := lameDecode(t, c.path)
				p = decodeWAV(t, dec)
				info, _ := recording.Inspect(c.path)
				if len(p.channels) != 2 || p.rate != 8000 || !near(p.duration().Seconds(), info.Duration.Seconds(), 0.001) {
					t.Errorf("%s: lame --decode: %d channels at %d Hz, %s; the file's tag says %s at 8000 Hz",
						c.name, len(p.channels), p.rate, p.duration(), info.Duration)
				}
				for ch, f := range []float64{440, 880} {
					if got := soxFrequency(t, dec, ch+1); !near(got, f, f*0.05) {
						t.Errorf("%s: lame+sox: channel %d at %.0f Hz, want %.0f", c.name, ch+1, got, f)
					}
				}
			}
			info, err := recording.Inspect(c.path)
			if err != nil || info.Channels != 2 {
				t.Fatalf("%s: %+v, %v; want a stereo file", c.name, info, err)
			}
			if d := p.duration(); d < 4900*time.Millisecond || d > 6500*time.Millisecond {
				t.Errorf("%s: %s of audio, want about 5 s", c.name, d)
			}
			checkTone(t, c.name, p, 0, 440, 880, time.Second, 4*time.Second)
			checkTone(t, c.name, p, 1, 880, 440, time.Second, 4*time.Second)
		}
	})

	t.Run("insights", func(t *testing.T) {
		for _, c := range calls {
			cl := insights.NewClient(gw.url(""), secret.String(c.apiKey))
			s, err := cl.Find(context.Background(), c.id.Session)
			if err != nil {
				t.Fatalf("%s: Find(%s): %v", c.name, c.id.Session, err)
			}
			cd := s.ChannelData
			if s.AccountID != c.id.Account || cd.AudioURL != c.key || s.Status != insights.StatusEnded ||
				s.Source != "alice@example.com" && c.format == recording.WAV || cd.SIPCallID == "" {
				t.Errorf("%s: session %+v", c.name, s)
			}
			if cd.Duration < 4500 || cd.Duration > 8000 {
				t.Errorf("%s: duration %d ms", c.name, cd.Duration)
			}
			if cd.StatusCode == nil || *cd.StatusCode != insights.StatusCodeOK {
				t.Errorf("%s: status code %v", c.name, cd.StatusCode)
			}
			if c.format == recording.WAV && s.Destination != "bob@example.com" {
				t.Errorf("%s: destination %q", c.name, s.Destination)
			}
			if c.format == recording.MP3 && cd.RecordingID != "e2e-rec-42" {
				t.Errorf("%s: recording ID %q, want the one the client forwarded", c.name, cd.RecordingID)
			}
			// the other account's key does not see it
			other := wavKey
			if c.apiKey == wavKey {
				other = mp3Key
			}
			_, err = insights.NewClient(gw.url(""), secret.String(other)).Find(context.Background(), c.id.Session)
			if !errors.Is(err, insights.ErrNotFound) {
				t.Errorf("%s: another account's key: %v, want ErrNotFound", c.name, err)
			}
		}
	})

	t.Run("webhook", func(t *testing.T) {
		var wavCall call
		for _, c := range calls {
			if c.format == recording.WAV {
				wavCall = c
			}
		}
		waitFor(t, 10*time.Second, "the signed webhook", func() bool { _, ok := hooks.event(wavCall.id.Session); return ok })
		ev, _ := hooks.event(wavCall.id.Session)
		if ev.Event != "session.ended" || ev.AccountSID != wavCall.id.Account || ev.Session == nil ||
			ev.Session.ChannelData.AudioURL != wavCall.key || ev.Recording == nil || ev.Recording.Key != wavCall.key {
			t.Fatalf("webhook event %+v", ev)
		}
		hooks.mu.Lock()
		defer hooks.mu.Unlock()
		if hooks.bad != 0 || len(hooks.events) != 1 {
			t.Fatalf("%d events, %d refused by the verifier; want 1 verified (the MP3 account has no webhook)", len(hooks.events), hooks.bad)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		for sample, want := range map[string]float64{
			`voicegw_calls_total{reason="",result="accepted"}`:                       2,
			`voicegw_recordings_written_total{format="wav"}`:                         1,
			`voicegw_recordings_written_total{format="mp3"}`:                         1,
			`voicegw_recordings_uploaded_total`:                                      2,
			`voicegw_sessions_ended_total{reason="bye"}`:                             2,
			`voicegw_sessions_active`:                                                0,
			`voicegw_rtp_packets_lost_total`:                                         0,
			`voicegw_calls_total{reason="credentials_required",result="challenged"}`: 2,
		} {
			if got := gw.metric(t, sample); got != want {
				t.Errorf("%s = %v, want %v", sample, got, want)
			}
		}
		// 2 calls × 2 streams × 5 s of 20 ms packets
		if got := gw.metric(t, "voicegw_rtp_packets_received_total"); got < 900 || got > 1100 {
			t.Errorf("voicegw_rtp_packets_received_total = %v, want about 1000", got)
		}
	})
	gw.stop()
	if _, err := os.Stat(filepath.Join(gw.dataDir, "recordings")); err != nil {
		t.Fatal(err)
	}
}
