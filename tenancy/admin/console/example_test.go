package console_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/insights/memindex"
	"github.com/voicegw/voicegw/rbac"
	rbacmem "github.com/voicegw/voicegw/rbac/memstore"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/admin"
	"github.com/voicegw/voicegw/tenancy/admin/console"
	adminmem "github.com/voicegw/voicegw/tenancy/admin/memstore"
	tenancymem "github.com/voicegw/voicegw/tenancy/memstore"
)

// A gateway mounts the console beside the APIs, over the same stores, and
// makes sure someone can sign in on the first start.
func Example() {
	ctx := context.Background()
	tenants := tenancymem.NewStore(nil)
	rd := rbacmem.NewDriver()
	keys := rbac.NewKeyStore(rd, nil)
	members := rbac.NewMemberStore(rd, nil)
	demo, _ := tenants.CreateAccount(ctx, &tenancy.Account{Name: "Demo", SIPRealm: "demo.voicegw.test"})

	adminConfig := admin.Config{Tenants: tenants, Keys: keys, Members: members, Store: adminmem.NewStore(nil)}
	insightsConfig := insights.HandlerConfig{Index: memindex.NewIndex(), Keys: keys}
	con, err := console.New(console.Config{Admin: adminConfig, Insights: insightsConfig})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.Handle("/console/", con)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// The first start prints a sign-in; later starts find the member.
	pw, created, err := console.FirstSignIn(ctx, members, console.FirstMember{Email: "admin@demo.voicegw.test", Account: string(demo.SID)})
	fmt.Println(created, len(pw.Reveal()), err)
	_, again, _ := console.FirstSignIn(ctx, members, console.FirstMember{Email: "admin@demo.voicegw.test", Account: string(demo.SID)})
	fmt.Println(again)

	// A browser: sent to sign in, signs in, lands on the dashboard.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, _ := browser.Get(srv.URL + "/console/")
	form, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.Request.URL.Path)
	token := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(form)[1]
	resp, _ = browser.PostForm(srv.URL+"/console/signin", url.Values{
		"csrf": {string(token)}, "email": {"admin@demo.voicegw.test"}, "password": {pw.Reveal()}})
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Request.URL.Path)
	// Output:
	// true 23 <nil>
	// false
	// /console/signin
	// 200 /console/
}
