package tenancy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"time"

	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/storage/egress"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/memstore"
)

func ExampleStore() {
	ctx := context.Background()
	s := memstore.NewStore(nil)
	defer s.Close()

	acct, err := s.CreateAccount(ctx, &tenancy.Account{Name: "Acme", SIPRealm: "SIP.Acme.Example", LicensedSessions: 20})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = s.CreateAccount(ctx, &tenancy.Account{Name: "Other", SIPRealm: "sip.acme.example"})
	fmt.Println(errors.Is(err, tenancy.ErrExists), err)

	// The SIP guard finds the tenant of a request by realm.
	found, _ := s.AccountByRealm(ctx, "sip.acme.example")
	fmt.Println(found.SID == acct.SID, found.SIPRealm, found.SessionLimit())
	// Output:
	// true create account "Other": tenancy: account field sip_realm ("sip.acme.example"): already exists
	// true sip.acme.example 20
}

func ExampleAccount_Validate() {
	a := tenancy.Account{Name: "Acme", SIPRealm: "not a domain", Unit: "hours"}
	for _, fe := range tenancy.FieldErrors(a.Validate()) {
		fmt.Println(fe.Field+":", fe.Reason)
	}
	// Output:
	// unit: must be "sessions" or "minutes"
	// sip_realm: not a domain name (needs at least two labels, like sip.example.com)
}

func ExampleDecide() {
	acct := &tenancy.Account{SID: tenancy.NewSID(), Recording: tenancy.RecordingConfig{Enabled: true, Format: tenancy.FormatMP3}}
	app := &tenancy.Application{Account: acct.SID, RecordAllCalls: true}
	fmt.Printf("%+v\n", tenancy.Decide(acct, app))
	app.RecordAllCalls = false
	fmt.Printf("%+v\n", tenancy.Decide(acct, app))
	acct.Recording.RecordAllCalls = true
	fmt.Printf("%+v\n", tenancy.Decide(acct, app))
	// Output:
	// {Record:true Format:mp3 Reason:application records all calls}
	// {Record:false Format: Reason:application does not record calls}
	// {Record:true Format:mp3 Reason:account records all calls}
}

func ExampleLocalLimiter() {
	ctx := context.Background()
	var l tenancy.LocalLimiter
	acct := &tenancy.Account{SID: tenancy.NewSID(), LicensedSessions: 1}

	fmt.Println(l.Acquire(ctx, acct.SID, "call-1", acct.SessionLimit()))
	fmt.Println(l.Acquire(ctx, acct.SID, "call-1", acct.SessionLimit())) // same call: counted once
	err := l.Acquire(ctx, acct.SID, "call-2", acct.SessionLimit())
	code, reason := tenancy.SIPStatus(err)
	fmt.Println(errors.Is(err, tenancy.ErrLimitReached), code, reason)
	_ = l.Release(ctx, acct.SID, "call-1")
	fmt.Println(l.Acquire(ctx, acct.SID, "call-2", acct.SessionLimit()))
	// Output:
	// <nil>
	// <nil>
	// true 486 Busy Here
	// <nil>
}

func ExampleSignWebhook() {
	at := time.Unix(1700000000, 0)
	body := []byte(`{"event":"session.ended","id":"8ae433e8"}`)
	h := tenancy.SignWebhook(at, body, "whsec_old_0123456789")
	fmt.Println(tenancy.SignatureHeader + ": " + h)
	fmt.Println(tenancy.VerifyWebhook(h, body, at.Add(time.Minute), 0, "whsec_new_0000000000", "whsec_old_0123456789"))
	fmt.Println(tenancy.VerifyWebhook(h, body, at.Add(10*time.Minute), 0, "whsec_old_0123456789") != nil)
	// Output:
	// Voicegw-Signature: t=1700000000,v1=84b8450fc37c04689ef0d6ff0e17804a6f4cd470fa1815184409ea29b3dfd5c5
	// <nil>
	// true
}

func ExampleWebhookVerifier_Middleware() {
	hook := secret.String("whsec_0123456789abcdef")
	v := &tenancy.WebhookVerifier{Secrets: []secret.String{hook}}
	srv := httptest.NewServer(v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "verified")
	})))
	defer srv.Close()

	// The default client refuses loopback (webhook URLs are an account's
	// choice); this receiver is a test server on 127.0.0.1, so allow it.
	allow := &egress.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	s := &tenancy.WebhookSender{Client: allow.Client(10 * time.Second)}
	resp, err := s.Post(context.Background(), srv.URL, "application/json", []byte(`{"ok":true}`), hook)
	fmt.Println(resp.StatusCode, string(resp.Body), err)
	resp, err = s.Post(context.Background(), srv.URL, "application/json", []byte(`{"ok":true}`), "whsec_wrong_secret_000")
	fmt.Println(resp.StatusCode, errors.Is(err, tenancy.ErrWebhookStatus))
	// Output:
	// 200 verified <nil>
	// 401 true
}

func ExampleBuildPayload() {
	fields := []tenancy.CADField{
		{Name: "tenant_field_org_id", Value: "Interaction.organizationId"},
		{Name: "tenant_field_status", Value: "Interaction.status"},
	}
	p, _ := tenancy.BuildPayload(fields, tenancy.Variables{"Interaction.organizationId": "org-42", "Interaction.status": "completed"})
	b, _ := json.Marshal(p)
	fmt.Println(string(b))
	// Output:
	// {"tenant_field_org_id":"org-42","tenant_field_status":"completed"}
}
