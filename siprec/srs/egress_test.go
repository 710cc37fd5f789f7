package srs

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/storage/storagetest"
	"github.com/voicegw/voicegw/tenancy"
)

// TestEgressRefusesAccountEndpoints: with the default Config.Egress, an
// account whose S3-compatible bucket endpoint and session webhook are on
// loopback (where an attacker would point them at internal services) still
// has its call recorded and documented, but nothing reaches either server:
// the upload stays in the spool with the refusal as its reason, and the
// webhook fails.
func TestEgressRefusesAccountEndpoints(t *testing.T) {
	ctx := context.Background()
	bucket := storagetest.NewS3Server(t)
	bucket.CreateBucket("recordings")
	sec := secret.String("whsec_srs_egress_secret_0123456789")
	hooks := newWebhooks(t, sec)
	acct := recordingAccount("ssrf", t.TempDir(), hooks.srv.URL)
	acct.WebhookSecret = sec
	acct.Recording.Bucket = bucket.Config("recordings", nil)
	ts := startServer(t, serverOptions{Accounts: []*tenancy.Account{acct}, Default: "ssrf", ContactIP: true,
		Edit: func(c *Config) { c.Egress = nil }}) // the default policy

	c, _, err := ts.dial(t, "ssrf.test", "src", "ssrf-password-1", "")
	if err != nil {
		t.Fatal(err)
	}
	c.send(500 * time.Millisecond)
	c.stop(t)
	waitFor(t, "the failed webhook", func() bool { return ts.events.has("webhook err=true") })
	var doc *insights.Session
	waitFor(t, "the refused upload in the document", func() bool {
		res, err := ts.index.Search(ctx, string(acct.SID), &insights.Query{From: dayOf(-1), To: dayOf(1)})
		if err != nil || res.Total != 1 {
			return false
		}
		s, _ := res.Hits[0].Session()
		doc = findDoc(t, ts.index, acct.SID, s.ID)
		return doc.ChannelData.RecordingStatus == insights.RecordingStatusUploadFailing
	})
	if doc.Status != "ended" || !strings.Contains(doc.ChannelData.StatusReason, "egress") {
		t.Fatalf("document: status %q, reason %q: want ended, the upload failing on the egress policy", doc.Status, doc.ChannelData.StatusReason)
	}
	if ts.events.has("webhook err=false") || ts.events.has("uploaded") {
		t.Fatalf("events: %s", ts.events)
	}
	hooks.mu.Lock()
	got, bad := len(hooks.events), hooks.bad
	hooks.mu.Unlock()
	if got != 0 || bad != 0 {
		t.Fatalf("the loopback webhook receiver got %d requests (%d unsigned)", got, bad)
	}
	list, err := bucket.Client().ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("recordings")})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Contents) != 0 {
		t.Fatalf("%d objects reached the loopback bucket", len(list.Contents))
	}
}
