package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/voicegw/voicegw/internal/testenv"
	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/siprec/srs"
	"github.com/voicegw/voicegw/storage/bucketconfig"
	"github.com/voicegw/voicegw/storage/storagetest"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/admin"
)

// TestAdminChangesLive: every change made through the admin API counts at
// the gateway's next request, without a restart, observed by a SIP call
// (examples/siprec-client, digest over TCP) or an Insights request in the
// same test:
//
//   - a SIP user added is let in on the next call (and refused before);
//   - a new bucket (the suite's S3 server) receives the next recording;
//   - an allowlist entry removed refuses the next INVITE (403);
//   - a revoked key is refused (401) on the next Insights request;
//   - a deleted account's next call is refused (403), while its call in
//     progress goes on to its end (its peer's BYE passes the guard), and
//     its recording waits in the spool (the account's bucket went with
//     it), which the gateway logs.
func TestAdminChangesLive(t *testing.T) {
	siprecClient(t)
	store := storagetest.NewS3Server(t)
	store.CreateBucket("live")
	gw := startGateway(t, gwOptions{Config: adminConfig})
	ctx := t.Context()
	c := gw.client(adminKey)
	const realm, user, password = "live.example.com", "alice", "alice-Passw0rd-1"
	dir := t.TempDir()
	acct := must[*admin.CreatedAccount](t)(c.CreateAccount(ctx, tenancy.Account{Name: "Live", SIPRealm: realm,
		SIP: tenancy.SIPAccess{Allowlist: []string{"127.0.0.1", "192.0.2.0/24"}},
		Recording: tenancy.RecordingConfig{Enabled: true, RecordAllCalls: true,
			Bucket: bucketconfig.Config{Vendor: bucketconfig.VendorFile, File: &bucketconfig.File{Dir: dir}}}}))

	// A SIP user: refused before it exists, let in once the API added it.
	if code, out := sipCall(t, gw, realm, user, password, time.Second); code == 0 || !strings.Contains(out, "failed") {
		t.Fatalf("a call with a SIP user that does not exist: exit %d\n%s", code, out)
	}
	must[*tenancy.SIPUser](t)(c.AddSIPUser(ctx, acct.SID, user, password))
	if code, out := sipCall(t, gw, realm, user, password, time.Second); code != 0 {
		t.Fatalf("the call of the SIP user just added: exit %d\n%s", code, out)
	}
	waitFile(t, filepath.Join(dir, string(acct.SID), "*", "*.wav"))

	// A new bucket receives the next recording.
	must[*admin.RecordingSettings](t)(c.UpdateRecording(ctx, acct.SID, admin.RecordingPatch{Bucket: ptrTo(store.Config("live", nil))}, 0))
	if code, out := sipCall(t, gw, realm, user, password, time.Second); code != 0 {
		t.Fatalf("the call after the bucket changed: exit %d\n%s", code, out)
	}
	var objects []string
	waitFor(t, 20*time.Second, "a recording in the new bucket", func() bool {
		res, err := store.Client().ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: ptrTo("live")})
		if err != nil {
			t.Fatal(err)
		}
		objects = objects[:0]
		for _, o := range res.Contents {
			objects = append(objects, *o.Key)
		}
		return len(objects) == 1
	})
	if !strings.HasPrefix(objects[0], string(acct.SID)+"/") || !strings.HasSuffix(objects[0], ".wav") {
		t.Fatalf("object %q", objects[0])
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*", "*", "*.wav")); len(files) != 1 {
		t.Fatalf("the old bucket got %d recordings, want the first call's only", len(files))
	}

	// An allowlist entry removed: the next INVITE from it is refused.
	must[*admin.SIPSettings](t)(c.UpdateSIP(ctx, acct.SID, admin.SIPPatch{Allowlist: &[]string{"192.0.2.0/24"}}, 0))
	if code, out := sipCall(t, gw, realm, user, password, time.Second); code == 0 || !strings.Contains(out, "403") {
		t.Fatalf("a call from an address removed from the allowlist: exit %d\n%s", code, out)
	}

	// A key revoked is refused on the next Insights request.
	key := must[*admin.CreatedAPIKey](t)(c.CreateAPIKey(ctx, admin.CreateAPIKeyRequest{Name: "reports", ServiceType: "insights", AccountSID: string(acct.SID)}))
	today := time.Now().UTC().Format("2006-01-02")
	sessions := gw.url("/insights/sessions?from_date=" + today + "&to_date=" + today)
	var found struct{ Total int }
	waitFor(t, 10*time.Second, "the two sessions in the Insights API", func() bool {
		status, body := httpGetKey(t, sessions, key.Secret)
		if status != http.StatusOK {
			t.Fatalf("Insights with a new key: %d %s", status, body)
		}
		_ = json.Unmarshal([]byte(body), &found)
		return found.Total == 2
	})
	must[*rbac.APIKey](t)(c.RevokeAPIKey(ctx, key.ID))
	if status, body := httpGetKey(t, sessions, key.Secret); status != http.StatusUnauthorized {
		t.Fatalf("Insights with the key just revoked: %d %s", status, body)
	}

	// Deleting the account during a call: the call goes on to its end (its
	// peer's BYE is let in though the account is gone), its recording
	// waits in the spool (the account's bucket went with it), which the
	// gateway logs; the next call is refused.
	must[*admin.SIPSettings](t)(c.UpdateSIP(ctx, acct.SID, admin.SIPPatch{Allowlist: &[]string{}}, 0))
	done := make(chan string, 1)
	go func() {
		code, out := sipCall(t, gw, realm, user, password, 4*time.Second)
		if code != 0 {
			out = fmt.Sprintf("exit %d\n%s", code, out)
		}
		done <- out
	}()
	waitFor(t, 10*time.Second, "the call in progress", func() bool { return gw.health(t).SessionsActive == 1 })
	if err := c.DeleteAccount(ctx, acct.SID, 0); err != nil {
		t.Fatal(err)
	}
	if code, out := sipCall(t, gw, realm, user, password, time.Second); code == 0 || !strings.Contains(out, "403") {
		t.Fatalf("a call to the deleted account: exit %d\n%s", code, out)
	}
	out := <-done
	if strings.HasPrefix(out, "exit") || !strings.Contains(out, "stop    ") || strings.Contains(out, "failed") {
		t.Fatalf("the call in progress during the deletion did not end normally:\n%s", out)
	}
	waitFor(t, 10*time.Second, "the deleted account's recording in the spool", func() bool {
		h := gw.health(t)
		return h.SessionsActive == 0 && h.Spooled == 1
	})
	if log := gw.stderr.String(); !strings.Contains(log, "account deleted during sessions") || !strings.Contains(log, string(acct.SID)) ||
		!strings.Contains(log, "reason=unknown_realm") {
		t.Fatalf("the gateway did not say what became of the session in progress, or why the next call was refused:\n%s", tail(log, 4<<10))
	}
}

// health reads /healthz.
func (p *gwProc) health(t *testing.T) srs.Health {
	t.Helper()
	_, body := httpGet(t, p.url("/healthz"))
	var h srs.Health
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatalf("/healthz: %v: %s", err, body)
	}
	return h
}

// TestREADMEAdminWalkthrough runs the README's curl walkthrough of the
// admin API as written (bash, curl, jq, go run ./examples/siprec-client from
// the repository's root) against the built gateway, with the gateway's
// addresses, its admin key and a temporary bucket directory put in the
// block's four variables: an account, its SIP user, its bucket set and
// tested, an Insights key, a call recorded and found with that key.
func TestREADMEAdminWalkthrough(t *testing.T) {
	bash := testenv.RequireTool(t, "bash", "apt-get install -y bash")
	testenv.RequireTool(t, "curl", "apt-get install -y curl")
	testenv.RequireTool(t, "jq", "apt-get install -y jq")
	siprecClient(t) // warms the build cache go run uses
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- walkthrough: admin API -->\n```sh\n(.*?)\n```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no admin API walkthrough block")
	}
	gw := startGateway(t, gwOptions{Config: adminConfig})
	dir := filepath.Join(t.TempDir(), "acme recordings") // a space, to check the quoting
	script := string(m[1])
	for name, value := range map[string]string{"GW": gw.url(""), "KEY": "'" + adminKey + "'", "SIP_PORT": fmt.Sprint(gw.sipPort), "DIR": "'" + dir + "'"} {
		re := regexp.MustCompile(`(?m)^` + name + `=\S+`)
		if !re.MatchString(script) {
			t.Fatalf("the walkthrough does not set %s", name)
		}
		script = re.ReplaceAllLiteralString(script, name+"="+value)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bash, "-euo", "pipefail", "-c", script)
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the walkthrough failed: %v\n%s", err, out)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*", "*.wav"))
	if len(files) != 1 {
		t.Fatalf("%d recordings in the bucket, want 1\n%s", len(files), out)
	}
	sid := filepath.Base(filepath.Dir(filepath.Dir(files[0])))
	key := strings.TrimPrefix(files[0], dir+"/")
	for _, want := range []string{`"ok":true`, `{"total":1,"audio_url":"` + key + `"}`, files[0], "stop ", "accepted: 200"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the walkthrough's output lacks %q:\n%s", want, out)
		}
	}
	a := must[*tenancy.Account](t)(gw.client(adminKey).Account(t.Context(), tenancy.SID(sid)))
	if a.Name != "Acme" || a.SIPRealm != "sip.acme.example" || len(a.SIP.Users) != 1 {
		t.Fatalf("the account made by the walkthrough: %+v", a)
	}
	if strings.Contains(gw.stderr.String(), "alice-Passw0rd-1") {
		t.Fatal("the gateway logged the SIP user's password")
	}
}

func ptrTo[T any](v T) *T { return &v }
