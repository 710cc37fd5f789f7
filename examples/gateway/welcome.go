package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/voicegw/voicegw/siprec/srs/srsstate"
)

// printWelcome prints, on the start that created the demo account and only
// then, its credentials and how to use it. Later starts print nothing secret.
func (g *Gateway) printWelcome() {
	d := g.demo
	if d == nil {
		if a, err := g.st.Tenants.AccountByName(context.Background(), demoAccountName); err == nil && len(g.cfg.Accounts) == 0 {
			g.log.Info("demo account ready (its credentials were printed when it was created; delete the data directory for new ones)",
				"realm", a.SIPRealm, "sip_user", "demo", "bucket", a.Recording.Bucket.BucketName())
		}
		return
	}
	sipHost, sipPort, _ := net.SplitHostPort(g.sipAddr())
	httpAddr := g.httpLis.Addr().String()
	bucket := d.Account.Recording.Bucket.File.Dir
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, bucket); err == nil && !strings.HasPrefix(rel, "..") {
			bucket = rel
		}
	}
	today := time.Now().UTC().Format("2006-01-02")
	fmt.Fprintf(g.out, `
voicegw gateway — demo account created. Its secrets are shown this once.

  SIP realm      %s  (requests to the gateway's address go to it too)
  SIP user       %s
  SIP password   %s
  API key        %s  (X-Vgai-Key, Insights API of this account)
  Admin API key  %s  (Authorization: Bearer, the admin API)
%s
Place a recorded test call (two tones, 5 s) from another terminal:

  go run ./examples/siprec-client -srs "sip:%s:%s;transport=tcp" -user %s -password '%s' -duration 5s

The recording lands in the account's bucket:

  ls -R %s

Query the session through the Insights API:

  curl -s -H 'X-Vgai-Key: %s' 'http://%s/insights/sessions?from_date=%s&to_date=%s'

Manage accounts, SIP users, buckets and keys through the admin API:

  curl -s -H 'Authorization: Bearer %s' http://%s/admin/v1/accounts

`, d.Account.SIPRealm, d.User, d.Password.Reveal(), d.APIKey.Reveal(), d.AdminKey.Reveal(), consoleLines(d, httpAddr),
		sipHost, sipPort, d.User, d.Password.Reveal(), filepath.Join(bucket, string(d.Account.SID)),
		d.APIKey.Reveal(), httpAddr, today, today, d.AdminKey.Reveal(), httpAddr)
	g.demo = nil
}

// consoleLines are the welcome's lines of the console sign-in, when the
// demo's console member was made on this start.
func consoleLines(d *srsstate.Demo, httpAddr string) string {
	if d.ConsoleEmail == "" {
		return ""
	}
	return fmt.Sprintf(`
  Console        http://%s/console/
    email        %s
    password     %s
`, httpAddr, d.ConsoleEmail, d.ConsolePassword.Reveal())
}
