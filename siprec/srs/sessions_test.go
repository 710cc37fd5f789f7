package srs

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/siprec/metadata"
	"github.com/voicegw/voicegw/storage/storagetest"
	"github.com/voicegw/voicegw/tenancy"
)

// cadFields is the call attached data of the tests' accounts.
var cadFields = []tenancy.CADField{
	{Name: "tenant_field_org_id", Value: "Interaction.organizationId"},
	{Name: "tenant_field_status", Value: "Interaction.status"},
	{Name: "recording", Value: "Interaction.recordingId"},
	{Name: "session_id", Value: "Interaction.sipSessionId"},
	{Name: "parties", Value: "Interaction.participants"},
}

// threeParties is a call with a caller, an agent and a supervisor who sends
// no stream of their own, with the recorded call's Session-ID.
func threeParties() metadata.Call {
	return metadata.Call{
		SIPSessionIDs: []string{"ab30317f1a784dc48ff824d0d3715d86;remote=47755a9de7794ba387653f2099600ef2"},
		Parties: []metadata.Party{
			{AOR: "sip:+15550001@pbx.example", Name: "Caller", Lang: "en", Label: "1"},
			{AOR: "sip:agent7@cc.example", Name: "Agent 7", Label: "2"},
			{AOR: "tel:+15550003", Name: "Supervisor"},
		},
	}
}

// findDoc returns the stored document of session id, or nil.
func findDoc(t *testing.T, idx *insights.Index, account tenancy.SID, id string) *insights.Session {
	t.Helper()
	doc, err := idx.Find(context.Background(), string(account), id)
	if err != nil {
		return nil
	}
	return doc
}

// TestSessionDocumentLifecycle: a call's document exists while it is in
// progress (status in_progress, every participant of the metadata with its
// streams, the Session-ID, the call attached data) and is searchable by a
// participant; at the end it is completed (duration, audio_url, status 0,
// the recording uploaded), and the signed webhook carries the call attached
// data.
func TestSessionDocumentLifecycle(t *testing.T) {
	ctx := context.Background()
	bucket := t.TempDir()
	secret := secret.String("whsec_srs_sessions_secret_012345")
	hooks := newWebhooks(t, secret)
	acct := recordingAccount("live", bucket, hooks.srv.URL)
	acct.WebhookSecret, acct.CallAttachedData = secret, cadFields
	ts := startServer(t, serverOptions{Accounts: []*tenancy.Account{acct}, Default: "live", ContactIP: true})

	c, _, err := ts.dialMetadata(t, "live.test", "src", "live-password-1", "rec-live-1", threeParties())
	if err != nil {
		t.Fatal(err)
	}
	var id string
	waitFor(t, "the session", func() bool {
		for _, s := range ts.rec.Sessions() {
			id = s.ID()
		}
		return id != ""
	})
	var doc *insights.Session
	waitFor(t, "the in-progress document", func() bool { doc = findDoc(t, ts.index, acct.SID, id); return doc != nil })
	cd := doc.ChannelData
	if doc.Status != insights.StatusInProgress || cd.CallStatus != insights.StatusInProgress || cd.StatusCode != nil ||
		cd.RecordingStatus != insights.RecordingStatusRecording || !doc.SessionEndTime.IsZero() || cd.Duration != 0 ||
		doc.Source != "+15550001@pbx.example" || doc.Destination != "agent7@cc.example" || cd.RecordingID != "rec-live-1" {
		t.Fatalf("in-progress document %+v", doc)
	}
	want := []insights.Participant{
		{Name: "Caller", AOR: "sip:+15550001@pbx.example", User: "+15550001", Send: []string{"1"}, Recv: []string{"2"}},
		{Name: "Agent 7", AOR: "sip:agent7@cc.example", User: "agent7", Send: []string{"2"}, Recv: []string{"1"}},
		{Name: "Supervisor", AOR: "tel:+15550003", User: "+15550003", Recv: []string{"1", "2"}},
	}
	for i := range cd.Participants {
		cd.Participants[i].ID = "" // random
	}
	if !slicesEqualJSON(cd.Participants, want) || !slices.Equal(cd.SIPSessionIDs, threeParties().SIPSessionIDs) {
		t.Fatalf("participants %+v, Session-IDs %q", cd.Participants, cd.SIPSessionIDs)
	}
	wantCAD := map[string]any{"tenant_field_org_id": string(acct.SID), "tenant_field_status": "in_progress", "recording": "rec-live-1",
		"session_id": threeParties().SIPSessionIDs[0], "parties": float64(3)}
	if !slicesEqualJSON(doc.CallAttachedData, wantCAD) {
		t.Fatalf("call attached data %v, want %v", doc.CallAttachedData, wantCAD)
	}
	// searchable while in progress, by a participant who sends no stream
	q := &insights.Query{From: dayOf(-1), To: dayOf(1), Filter: insights.Filter{Must: []insights.Clause{
		insights.Term("status", "in_progress"), insights.Term("channel_data.participants.user", "+15550003"),
		insights.Term("call_attached_data.tenant_field_status", "in_progress")}}}
	if res, err := ts.index.Search(ctx, string(acct.SID), q); err != nil || res.Total != 1 {
		t.Fatalf("search of the call in progress: %+v, %v", res, err)
	}

	c.send(time.Second)
	c.stop(t)
	waitFor(t, "the webhook", func() bool { return len(hooks.received()) == 1 })
	waitFor(t, "the uploaded recording in the document", func() bool {
		doc = findDoc(t, ts.index, acct.SID, id)
		return doc != nil && doc.ChannelData.RecordingStatus == insights.RecordingStatusUploaded
	})
	cd = doc.ChannelData
	if doc.Status != insights.StatusEnded || cd.CallStatus != insights.StatusEnded || cd.StatusCode == nil || *cd.StatusCode != 0 ||
		cd.StatusReason != "" || cd.EndReason != "bye" || cd.Duration < 900 || cd.AudioURL != string(acct.SID)+"/"+string(acct.SIPRECApplication)+"/"+id+".wav" ||
		len(cd.Participants) != 3 || doc.CallAttachedData["tenant_field_status"] != "ended" {
		t.Fatalf("ended document %+v", doc)
	}
	var ev WebhookEvent
	if err := json.Unmarshal([]byte(hooks.received()[0]), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Event != WebhookEventSessionEnded || ev.CallAttachedData["tenant_field_status"] != "ended" || ev.Session == nil ||
		len(ev.Session.ChannelData.Participants) != 3 || ev.Session.CallAttachedData["recording"] != "rec-live-1" {
		t.Fatalf("webhook %+v", ev)
	}
	time.Sleep(200 * time.Millisecond) // an upload that landed at the first try sends no session.updated
	if n := len(hooks.received()); n != 1 {
		t.Fatalf("%d webhooks, want 1", n)
	}
}

// slicesEqualJSON compares two values by their JSON.
func slicesEqualJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestUploadStatusFollowsTheSpool: a call recorded while the account's
// bucket (an S3 server) is down is erroneous (200, upload_failing, the
// reason) with no playback link; when the bucket is back the spool lands the
// recording, the document flips to a warning (100, uploaded late), the
// webhook says so (session.updated), and the playback link plays it.
func TestUploadStatusFollowsTheSpool(t *testing.T) {
	ctx := context.Background()
	s3 := storagetest.NewS3Server(t)
	s3.CreateBucket("recordings")
	secret := secret.String("whsec_srs_spool_secret_0123456789")
	hooks := newWebhooks(t, secret)
	acct := recordingAccount("down", t.TempDir(), hooks.srv.URL)
	acct.WebhookSecret, acct.CallAttachedData = secret, []tenancy.CADField{{Name: "code", Value: "Interaction.statusCode"}}
	acct.Recording.Bucket = s3.Config("recordings", nil)
	ts := startServer(t, serverOptions{Accounts: []*tenancy.Account{acct}, Default: "down", ContactIP: true})
	api := httptest.NewServer(insights.NewHandler(insights.HandlerConfig{Index: ts.index, Keys: insights.StaticKeys{"key": string(acct.SID)},
		Playback: &insights.PlaybackConfig{Recordings: ts.Recordings()}}))
	t.Cleanup(api.Close)
	s3.Stop()

	c, _, err := ts.dial(t, "down.test", "src", "down-password-1", "")
	if err != nil {
		t.Fatal(err)
	}
	c.send(time.Second)
	c.stop(t)
	var id string
	waitFor(t, "the ended session", func() bool {
		res, err := ts.index.Search(ctx, string(acct.SID), &insights.Query{From: dayOf(-1), To: dayOf(1),
			Filter: insights.Filter{Must: []insights.Clause{insights.Term("status", "ended")}}})
		if err != nil || res.Total != 1 {
			return false
		}
		s, _ := res.Hits[0].Session()
		id = s.ID
		return true
	})
	var doc *insights.Session
	waitFor(t, "the failing upload in the document", func() bool {
		doc = findDoc(t, ts.index, acct.SID, id)
		return doc.ChannelData.RecordingStatus == insights.RecordingStatusUploadFailing
	})
	if cd := doc.ChannelData; *cd.StatusCode != insights.StatusCodeError || !strings.Contains(cd.StatusReason, "upload failing") ||
		!strings.Contains(cd.StatusReason, "unreachable") || doc.CallAttachedData["code"] != float64(200) {
		t.Fatalf("document while the bucket is down: %+v", doc)
	}
	if link := playbackURL(t, api.URL, id); link != "" {
		t.Fatalf("playback_url %q while the recording is not in the bucket", link)
	}

	s3.Start()
	waitFor(t, "the landed recording in the document", func() bool {
		doc = findDoc(t, ts.index, acct.SID, id)
		return doc.ChannelData.RecordingStatus == insights.RecordingStatusUploaded
	})
	if cd := doc.ChannelData; *cd.StatusCode != insights.StatusCodeWarning || !strings.Contains(cd.StatusReason, "uploaded late") ||
		doc.CallAttachedData["code"] != float64(100) {
		t.Fatalf("document after the upload: %+v", doc)
	}
	waitFor(t, "the session.updated webhook", func() bool {
		evs := webhookEvents(t, hooks)
		last := evs[len(evs)-1]
		return last.Event == WebhookEventSessionUpdated && *last.Session.ChannelData.StatusCode == insights.StatusCodeWarning
	})
	saw200 := false
	for _, ev := range webhookEvents(t, hooks) {
		saw200 = saw200 || *ev.Session.ChannelData.StatusCode == insights.StatusCodeError
	}
	if !saw200 {
		t.Fatalf("no webhook said the upload failed: %+v", webhookEvents(t, hooks))
	}

	// the link: S3's presigned URL, which answers ranges
	link := playbackURL(t, api.URL, id)
	if !strings.Contains(link, "X-Amz-Signature=") {
		t.Fatalf("playback_url %q: want an S3 presigned URL", link)
	}
	req, _ := http.NewRequest(http.MethodGet, link, nil)
	req.Header.Set("Range", "bytes=0-11")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		t.Fatalf("ranged GET of the link: %d %q", resp.StatusCode, b)
	}
}

// playbackURL returns the session's playback_url as the Insights API gives it.
func playbackURL(t *testing.T, base, id string) string {
	t.Helper()
	s, err := insights.NewClient(base, "key").Find(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return s.ChannelData.PlaybackURL
}

// webhookEvents decodes the webhooks received.
func webhookEvents(t *testing.T, w *webhooks) []WebhookEvent {
	t.Helper()
	var out []WebhookEvent
	for _, b := range w.received() {
		var ev WebhookEvent
		if err := json.Unmarshal([]byte(b), &ev); err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	if len(out) == 0 {
		out = append(out, WebhookEvent{Session: &insights.Session{ChannelData: insights.ChannelData{StatusCode: new(int)}}})
	}
	return out
}

// dayOf is the bound of the UTC day n days from today.
func dayOf(n int) insights.Bound {
	d := time.Now().UTC().AddDate(0, 0, n)
	return insights.Day(d.Year(), d.Month(), d.Day())
}
