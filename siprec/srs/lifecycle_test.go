package srs

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/driver"
	"github.com/voicegw/voicegw/insights/memindex"
	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/recording"
	"github.com/voicegw/voicegw/storage/bucketconfig"
	"github.com/voicegw/voicegw/tenancy"
)

// TestServerRecoversAfterCrash: what a crashed process left — a recording
// cut off while being written (its .part file holds 2 s of flushed audio),
// its journal entry and its licensed-session lease, plus a session that had
// ended but whose document was not stored — is completed when a Server
// starts on the same directories: the recording repaired and uploaded, both
// documents stored (the cut-off one with a warning and the length of its
// audio), the webhooks sent, the lease given back.
func TestServerRecoversAfterCrash(t *testing.T) {
	ctx := context.Background()
	data, bucket := t.TempDir(), t.TempDir()
	secret := secret.String("whsec_srs_crash_secret_0123456789")
	hooks := newWebhooks(t, secret)
	st, _ := newStore(t)
	acct := recordingAccount("crash", bucket, hooks.srv.URL)
	acct.WebhookSecret = secret
	acct.LicensedSessions = 1
	acct = createAccount(t, st, acct)

	// the crashed process: a recording in progress, flushed, never stopped
	dead, err := recording.OpenDir(recording.DirConfig{Path: filepath.Join(data, "recordings")})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond)
	rec, err := dead.Create(recording.ID{Account: string(acct.SID), Application: "-", Session: "sess-cut"},
		recording.Config{Start: start, Streams: []recording.StreamConfig{{Label: "1"}, {Label: "2"}}})
	if err != nil {
		t.Fatal(err)
	}
	for k := range 2 {
		if err := rec.Stream(k).Start(start); err != nil {
			t.Fatal(err)
		}
	}
	pcm := make([]int16, 160)
	for i := range 100 { // 2 s
		for k := range 2 {
			for j := range pcm {
				pcm[j] = int16(8000 * math.Sin(2*math.Pi*440*float64(k+1)*float64(i*160+j)/8000))
			}
			if err := rec.Stream(k).Write(int64(i*160), pcm); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := rec.Flush(); err != nil {
		t.Fatal(err)
	}
	journal, err := OpenSQLiteJournal(ctx, filepath.Join(data, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = journal.Close() })
	limiter := &tenancy.LocalLimiter{}
	if err := limiter.Acquire(ctx, acct.SID, "lease-cut", 1); err != nil {
		t.Fatal(err)
	}
	for _, e := range []*Entry{
		{SessionID: "sess-cut", Account: string(acct.SID), Application: "-", Format: "wav", CallID: "cut@x",
			Source: "alice@x", Destination: "bob@x", Start: start, Lease: "lease-cut"},
		{SessionID: "sess-ended", Account: string(acct.SID), Application: "-", Format: "wav", CallID: "ended@x",
			Start: start.Add(-time.Hour), End: start.Add(-time.Hour + time.Minute), EndReason: "bye"},
	} {
		if err := journal.Save(ctx, e); err != nil {
			t.Fatal(err)
		}
	}

	ts := startServer(t, serverOptions{DataDir: data, Tenants: st, Journal: journal, Limiter: limiter})
	waitFor(t, "the repaired recording in the bucket", func() bool { return len(filesIn(t, bucket)) == 1 })
	for key, path := range filesIn(t, bucket) {
		if key != string(acct.SID)+"/-/sess-cut.wav" {
			t.Fatalf("uploaded %q", key)
		}
		stereoTones(t, path, 2*time.Second-100*time.Millisecond)
	}
	doc, err := ts.index.Find(ctx, string(acct.SID), "sess-cut")
	if err != nil {
		t.Fatal(err)
	}
	if cd := doc.ChannelData; doc.Status != insights.StatusEnded || cd.StatusCode == nil || *cd.StatusCode != insights.StatusCodeWarning ||
		cd.Duration < 1900 || cd.Duration > 2100 || cd.AudioURL != string(acct.SID)+"/-/sess-cut.wav" {
		t.Fatalf("the cut-off session's document: %+v", doc)
	}
	if doc, err := ts.index.Find(ctx, string(acct.SID), "sess-ended"); err != nil || doc.ChannelData.Duration != 60000 {
		t.Fatalf("the ended session's document: %+v, %v", doc, err)
	}
	if n, _ := limiter.InUse(ctx, acct.SID); n != 0 {
		t.Fatalf("%d licensed sessions still held", n)
	}
	waitFor(t, "both webhooks", func() bool { return len(hooks.received()) == 2 })
	var ev WebhookEvent
	for _, b := range hooks.received() {
		if err := json.Unmarshal([]byte(b), &ev); err == nil && ev.SessionID == "sess-cut" {
			break
		}
	}
	if ev.SessionID != "sess-cut" || ev.Recording == nil || !ev.Recording.Spooled || ev.Recording.Channels != 2 {
		t.Fatalf("the cut-off session's webhook: %+v", ev)
	}
	if p, _ := journal.Pending(ctx); len(p) != 0 {
		t.Fatalf("%d sessions left in the journal", len(p))
	}
	if !ts.events.has("recovered repaired=true") {
		t.Fatalf("the observer did not hear of the repair:\n%s", ts.events)
	}
}

// failingDriver is a session index whose first puts of ended sessions fail
// (a disk full, a database locked), as a real one's would; the documents of
// sessions in progress are stored.
type failingDriver struct {
	driver.Driver
	failures atomic.Int32
}

var errIndexDown = errors.New("index down")

func (d *failingDriver) Put(ctx context.Context, docs []driver.Document) error {
	if len(docs) > 0 && strings.Contains(string(docs[0].JSON), `"call_status":"ended"`) && d.failures.Add(-1) >= 0 {
		return errIndexDown
	}
	return d.Driver.Put(ctx, docs)
}

// TestServerRetriesWhileRunning: when the session document cannot be
// stored at the end of a call, the Server tries again while it runs (every
// RetryInterval), not only at the next start; the webhook is sent once,
// when the document is stored.
func TestServerRetriesWhileRunning(t *testing.T) {
	bucket := t.TempDir()
	secret := secret.String("whsec_srs_retry_secret_0123456789")
	hooks := newWebhooks(t, secret)
	acct := recordingAccount("retry", bucket, hooks.srv.URL)
	acct.WebhookSecret = secret
	drv := &failingDriver{Driver: memindex.NewDriver()}
	drv.failures.Store(2)
	idx := insights.NewIndex(drv)
	t.Cleanup(func() { _ = idx.Close() })
	ts := startServer(t, serverOptions{Accounts: []*tenancy.Account{acct}, Default: "retry", ContactIP: true, Index: idx,
		Edit: func(c *Config) { c.RetryInterval = 100 * time.Millisecond }})

	c, _, err := ts.dial(t, "retry.test", "src", "retry-password-1", "")
	if err != nil {
		t.Fatal(err)
	}
	c.send(200 * time.Millisecond)
	c.stop(t)
	waitFor(t, "the document stored by a retry", func() bool { return ts.events.count("completed err=false") == 1 })
	waitFor(t, "the webhook", func() bool { return len(hooks.received()) == 1 })
	// The journal's row goes after the webhook's answer (finish.go): the
	// receiver has the body before the Server has its response.
	waitFor(t, "the journal's row deleted", func() bool {
		p, err := ts.Server.journal.Pending(context.Background())
		return err == nil && len(p) == 0
	})
	if n := ts.events.count("completed err=true"); n != 2 {
		t.Fatalf("%d failed tries reported, want 2", n)
	}
	time.Sleep(300 * time.Millisecond) // a few more retry rounds: nothing is sent again
	if n := len(hooks.received()); n != 1 {
		t.Fatalf("%d webhooks, want 1", n)
	}
}

// endFailingJournal is a journal whose saves of an ended session fail
// while down is set (a full disk: the row was written at the start, its
// end cannot be), as an SQLite journal's would.
type endFailingJournal struct {
	Journal
	down atomic.Bool
}

func (j *endFailingJournal) Save(ctx context.Context, e *Entry) error {
	if !e.End.IsZero() && j.down.Load() {
		return errIndexDown
	}
	return j.Journal.Save(ctx, e)
}

// TestServerRetriesUnjournaledEnd: when neither the journal can record a
// session's end nor the index its document (a full disk under both), the
// Server still completes the session while it runs once they work again
// (issue 14 item 14), instead of taking the journal's row, which has no
// end, for a session in progress until the next start.
func TestServerRetriesUnjournaledEnd(t *testing.T) {
	bucket := t.TempDir()
	acct := recordingAccount("full", bucket, "")
	drv := &failingDriver{Driver: memindex.NewDriver()}
	drv.failures.Store(1 << 20)
	idx := insights.NewIndex(drv)
	t.Cleanup(func() { _ = idx.Close() })
	j := &endFailingJournal{Journal: NewMemoryJournal()}
	j.down.Store(true)
	ts := startServer(t, serverOptions{Accounts: []*tenancy.Account{acct}, Default: "full", ContactIP: true, Index: idx, Journal: j,
		Edit: func(c *Config) { c.RetryInterval = 50 * time.Millisecond }})

	c, _, err := ts.dial(t, "full.test", "src", "full-password-1", "")
	if err != nil {
		t.Fatal(err)
	}
	c.send(200 * time.Millisecond)
	c.stop(t)
	waitFor(t, "the failed completion", func() bool { return ts.events.count("completed err=true") == 1 })
	time.Sleep(200 * time.Millisecond) // retry rounds while the disk is full
	if n := ts.events.count("completed err=true"); n != 1 {
		t.Fatalf("%d tries while the journal had no end, want 1", n)
	}
	j.down.Store(false)
	drv.failures.Store(0)
	waitFor(t, "the document stored by a retry", func() bool { return ts.events.count("completed err=false") == 1 })
	// The journal's row goes after the completion is reported (finish.go).
	waitFor(t, "the journal's row deleted", func() bool {
		p, err := j.Pending(context.Background())
		return err == nil && len(p) == 0
	})
	ts.events.mu.Lock()
	var id string
	for k := range ts.events.completed {
		id = k
	}
	ts.events.mu.Unlock()
	doc, err := ts.index.Find(context.Background(), string(acct.SID), id)
	if err != nil || doc.SessionEndTime.IsZero() {
		t.Fatalf("document %+v, %v; want one with the session's end", doc, err)
	}
}

// TestServerShutdown: Shutdown during a call sends the client a BYE, has
// the recording finalized and uploaded and its document stored (with a
// warning: the server ended it), waits for all of it, and makes Serve
// return ErrServerClosed.
func TestServerShutdown(t *testing.T) {
	bucket := t.TempDir()
	acct := recordingAccount("bye", bucket, "")
	ts := startServer(t, serverOptions{Accounts: []*tenancy.Account{acct}, Default: "bye", ContactIP: true})
	c, _, err := ts.dial(t, "bye.test", "src", "bye-password-1", "")
	if err != nil {
		t.Fatal(err)
	}
	c.send(500 * time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := ts.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	select {
	case <-c.ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the client got no BYE")
	}
	if err := <-ts.serve; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve returned %v", err)
	}
	files := filesIn(t, bucket)
	if len(files) != 1 {
		t.Fatalf("%d recordings in the bucket after Shutdown returned, want 1", len(files))
	}
	for key := range files {
		id, _, _ := recording.ParseKey(key)
		doc, err := ts.index.Find(context.Background(), string(acct.SID), id.Session)
		if err != nil || *doc.ChannelData.StatusCode != insights.StatusCodeWarning {
			t.Fatalf("document after Shutdown: %+v, %v", doc, err)
		}
	}
	if !ts.events.has("ended shutdown") || !ts.ShuttingDown() {
		t.Fatalf("events:\n%s", ts.events)
	}
	if _, _, err := ts.dial(t, "bye.test", "src", "bye-password-1", ""); err == nil {
		t.Fatal("a call after Shutdown was taken")
	}
}

// diskFullChild is set in the environment of the child process that
// TestServerHangsUpWhenDiskFull runs.
const diskFullChild = "VOICEGW_SRS_DISKFULL_CHILD"

// TestServerHangsUpWhenDiskFull: when a recording can no longer be written
// mid-call (the disk is full), the Server ends the session with a BYE (the
// client hears of it while it is still sending, so it can fail over), the
// session ends as EndHangup and its document says the recording failed;
// what was written before is repaired and uploaded while the Server runs
// (the retry loop), not only at the next start.
// The test runs itself again in a child process whose file size limit
// (RLIMIT_FSIZE, which needs no privilege) is 96 KiB, about 3 s of 8 kHz
// stereo WAV: the kernel refuses the write past it, as a full disk does.
func TestServerHangsUpWhenDiskFull(t *testing.T) {
	if os.Getenv(diskFullChild) == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestServerHangsUpWhenDiskFull$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), diskFullChild+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestServerHangsUpWhenDiskFull") {
			t.Fatalf("child process: %v\n%s", err, out)
		}
		return
	}
	const limit = 96 << 10
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: limit, Max: limit}); err != nil {
		t.Skipf("setrlimit: %v", err)
	}
	acct := recordingAccount("full", "", "")
	acct.Recording.Bucket = bucketconfig.Config{Vendor: bucketconfig.VendorMemory, Memory: &bucketconfig.Memory{}}
	ts := startServer(t, serverOptions{Accounts: []*tenancy.Account{acct}, Default: "full", ContactIP: true, Journal: NewMemoryJournal(),
		Edit: func(c *Config) { c.RetryInterval = 100 * time.Millisecond }})
	c, _, err := ts.dial(t, "full.test", "src", "full-password-1", "")
	if err != nil {
		t.Fatal(err)
	}
	sent := make(chan struct{})
	go func() { defer close(sent); c.send(10 * time.Second) }()
	select {
	case <-c.ended:
	case <-sent:
		t.Fatal("10 s of audio past a 96 KiB file size limit and the server did not end the session")
	}
	waitFor(t, "the session completed", func() bool { return ts.events.count("completed err=false") == 1 })
	if !ts.events.has("ended hangup") {
		t.Fatalf("events:\n%s", ts.events)
	}
	ts.events.mu.Lock()
	rep := ts.events.reports[0]
	var id string
	for k := range ts.events.completed {
		id = k
	}
	ts.events.mu.Unlock()
	if !errors.Is(rep.Err, recording.ErrWrite) {
		t.Fatalf("recording report: %+v, want an error wrapping recording.ErrWrite", rep)
	}
	doc, err := ts.index.Find(context.Background(), string(acct.SID), id)
	if err != nil || doc.ChannelData.StatusCode == nil || *doc.ChannelData.StatusCode != insights.StatusCodeError {
		t.Fatalf("document %+v, %v; want status error", doc, err)
	}
	waitFor(t, "the audio written before the failure uploaded", func() bool { return ts.events.has("uploaded") })
	ts.events.mu.Lock()
	up := ts.events.uploaded[0]
	ts.events.mu.Unlock()
	if up.Size < 32<<10 || up.Size > limit {
		t.Fatalf("uploaded %d bytes, want what was written before the %d-byte limit", up.Size, limit)
	}
	<-sent
}
