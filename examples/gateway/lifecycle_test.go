package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/internal/sipptest"
	"github.com/voicegw/voicegw/internal/testenv"
	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/recording"
)

// partFiles returns the recordings being written in the data directory.
func partFiles(t *testing.T, dataDir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(filepath.Join(dataDir, recordingsDir), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".part") {
			out = append(out, path)
		}
		return nil
	})
	return out
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// TestCrashRecovery kills the gateway (SIGKILL) in the middle of a recorded
// call, starts it again, and finds the recording repaired and uploaded, its
// session document stored (ended, with a warning status, as long as the
// audio that reached the disk), and the account's only licence free again.
func TestCrashRecovery(t *testing.T) {
	bucket := t.TempDir()
	const key = "crash-account-key-0123456789"
	cfg := fmt.Sprintf(`
accounts:
  - name: crash
    sip_realm: crash.test
    licensed_sessions: 1
    sip: {users: [{username: src, password: crash-password-1}]}
    recording: {enabled: true, format: wav, record_all_calls: true, bucket: {vendor: file, file: {dir: %s}}}
    api_keys: [{name: t, secret: %s}]
`, bucket, key)
	gw := startGateway(t, gwOptions{SIP: "default_account: crash", Config: cfg})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := runClient(ctx, t, gw, "-user", "src", "-password", "crash-password-1", "-duration", "30s")
	var out strings.Builder
	client.Stdout, client.Stderr = &out, &out
	if err := client.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = client.Wait() }()
	// wait until about 3 s of audio reached the file (1 s flushes)
	waitFor(t, 20*time.Second, "3 s of audio on disk", func() bool {
		p := partFiles(t, gw.dataDir)
		return len(p) == 1 && fileSize(p[0]) >= 44+3*8000*2*2
	})
	killedAt := time.Now()
	gw.kill()
	parts := partFiles(t, gw.dataDir)
	if len(parts) != 1 {
		t.Fatalf("after the kill: %d recordings in progress on disk, want 1", len(parts))
	}
	onDisk := fileSize(parts[0])
	cancel() // the client's call is gone with the gateway
	_ = client.Wait()

	gw2 := startGateway(t, gwOptions{DataDir: gw.dataDir, Ports: gw, SIP: "default_account: crash", Config: cfg})
	waitFor(t, 20*time.Second, "the repaired recording in the bucket", func() bool { return len(recordings(t, bucket)) == 1 })
	var objKey, path string
	for k, p := range recordings(t, bucket) {
		objKey, path = k, p
	}
	id, _, err := recording.ParseKey(objKey)
	if err != nil {
		t.Fatal(err)
	}
	p := decodeWAV(t, path)
	// everything flushed before the kill: at least the 3 s waited for, at
	// most what was on disk
	if d := p.duration(); d < 3*time.Second || int64(d/time.Millisecond) > (onDisk-44)*1000/(8000*4)+20 {
		t.Fatalf("repaired recording: %s of audio, %d bytes were on disk", d, onDisk)
	}
	checkTone(t, "repaired", p, 0, 440, 880, time.Second, 2500*time.Millisecond)
	checkTone(t, "repaired", p, 1, 880, 440, time.Second, 2500*time.Millisecond)
	if len(partFiles(t, gw.dataDir)) != 0 {
		t.Fatal("a .part file is left after recovery")
	}

	s, err := insights.NewClient(gw2.url(""), secret.String(key)).Find(context.Background(), id.Session)
	if err != nil {
		t.Fatalf("the interrupted session's document: %v", err)
	}
	cd := s.ChannelData
	if s.Status != insights.StatusEnded || cd.AudioURL != objKey || cd.StatusCode == nil || *cd.StatusCode != insights.StatusCodeWarning {
		t.Fatalf("interrupted session: %+v", s)
	}
	if got, want := time.Duration(cd.Duration)*time.Millisecond, p.duration(); got < want-100*time.Millisecond || got > want+time.Second {
		t.Fatalf("document duration %s, recording %s", got, want)
	}
	if end := s.SessionEndTime.Time; end.After(killedAt.Add(time.Second)) {
		t.Fatalf("session end %s is after the kill %s", end, killedAt)
	}
	if gw2.metric(t, `voicegw_recordings_uploaded_total`) != 1 {
		t.Fatal("the upload was not counted")
	}

	// the licence of the interrupted call was released at start: a new call
	// of the one-licence account is taken at once
	ctx2, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel2()
	c2 := runClient(ctx2, t, gw2, "-user", "src", "-password", "crash-password-1", "-duration", "1s")
	if b, err := c2.CombinedOutput(); err != nil {
		t.Fatalf("a call after the restart: %v\n%s", err, b)
	}
	gw2.stop()
}

// TestGracefulShutdown sends SIGTERM during two recorded calls: the
// gateway refuses new calls (503), ends both sessions, uploads the
// recording whose bucket works, leaves the other in the spool when its
// bucket is unreachable, and exits; the next start, with that bucket fixed,
// uploads what the spool kept.
func TestGracefulShutdown(t *testing.T) {
	sipptest.Path(t)
	good, fixed := t.TempDir(), t.TempDir()
	accounts := func(downBucket string) string {
		return fmt.Sprintf(`
accounts:
  - name: good
    sip_realm: good.test
    sip: {users: [{username: src, password: good-password-1}]}
    recording: {enabled: true, record_all_calls: true, bucket: {vendor: file, file: {dir: %s}}}
  - name: down
    sip_realm: down.test
    sip: {users: [{username: sbc, password: down-password-1}]}
    recording: {enabled: true, record_all_calls: true, bucket: %s}
`, good, downBucket)
	}
	unreachable := `{vendor: s3-compatible, s3_compatible: {endpoint: "http://127.0.0.1:9", path_style: true, bucket: recs, access_key_id: AKIAIOSFODNN7EXAMPLE, secret_access_key: wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY}}`
	gw := startGateway(t, gwOptions{SIP: "default_account: good", ShutdownTimeout: 4 * time.Second, Config: accounts(unreachable)})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client := runClient(ctx, t, gw, "-user", "src", "-password", "good-password-1", "-duration", "8s")
	var out strings.Builder
	client.Stdout, client.Stderr = &out, &out
	if err := client.Start(); err != nil {
		t.Fatal(err)
	}
	dir := sippDir(t)
	down := sipptest.Start(t, sipptest.Options{
		Scenario: filepath.Join(dir, "siprec_src_auth.xml"), Remote: gw.sipAddr(), Transport: sipptest.TCP, Dir: dir,
		Args: append(sippKeys(t, "down.test", "sbc", "down-password-1"), "-key", "hold", "30000"),
	})
	waitFor(t, 20*time.Second, "two sessions", func() bool { return gw.metric(t, "voicegw_sessions_active") == 2 })
	time.Sleep(2 * time.Second)

	if err := gw.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// while the spool waits for the unreachable bucket, the gateway still
	// answers, and refuses new calls
	waitFor(t, 10*time.Second, "/healthz to say shutting_down", func() bool {
		code, body := httpGet(t, gw.url("/healthz"))
		return code == 503 && strings.Contains(body, "shutting_down")
	})
	if _, err := sippCall(t, gw, sippDir(t), "siprec_refused_503.xml", "good.test", "src", "good-password-1"); err != nil {
		t.Fatalf("a call during shutdown: %v", err)
	}
	gw.waitMetric(t, `voicegw_calls_total{reason="shutting_down",result="refused"}`, 1)
	waitFor(t, 3*time.Second, "the failed upload to be counted", func() bool {
		return gw.metric(t, "voicegw_upload_errors_total") >= 1 && gw.metric(t, "voicegw_recordings_spooled") == 1
	})
	select {
	case <-gw.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the gateway did not exit")
	}
	if gw.waitErr != nil {
		t.Fatalf("exit: %v", gw.waitErr)
	}
	if err := client.Wait(); err != nil {
		t.Fatalf("siprec-client: %v\n%s", err, out.String())
	}
	down.Kill() // sipp's scenario does not expect the gateway's BYE; it would wait out its hold

	recs := recordings(t, good)
	if len(recs) != 1 {
		t.Fatalf("%d recordings in the working bucket, want 1", len(recs))
	}
	for _, path := range recs {
		if d := decodeWAV(t, path).duration(); d < 2*time.Second || d > 10*time.Second {
			t.Fatalf("the recording ended by the shutdown holds %s", d)
		}
	}
	log := gw.stderr.String()
	if !strings.Contains(log, "recordings left in the spool") {
		t.Fatalf("no word of the recording left in the spool:\n%s", tail(log, 4000))
	}

	// restart with the bucket fixed: the spool uploads the kept recording
	gw2 := startGateway(t, gwOptions{DataDir: gw.dataDir, Ports: gw, SIP: "default_account: good",
		Config: accounts(fmt.Sprintf("{vendor: file, file: {dir: %s}}", fixed))})
	waitFor(t, 30*time.Second, "the spooled recording in the fixed bucket", func() bool { return len(recordings(t, fixed)) == 1 })
	gw2.stop()
}

// sippKeys are the sipp arguments of a SIPREC call with digest.
func sippKeys(t *testing.T, realm, user, password string) []string {
	return []string{"-s", "srs", "-key", "realm", realm, "-auth_uri", realm, "-au", user, "-ap", password,
		"-key", "mp2", fmt.Sprint(testenv.FreeUDPPortPair(t)), "-mp", fmt.Sprint(testenv.FreeUDPPortPair(t))}
}
