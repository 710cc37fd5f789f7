package srsstate_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/siprec/srs/srsstate"
	"github.com/voicegw/voicegw/tenancy"
)

// Open the state of a gateway on SQLite in a data directory (with
// DatabaseURL set, the same call opens it on PostgreSQL), and hand its
// stores to the recording server (srs.Config's Tenants, Limiter, Index,
// Journal) and the admin API (admin.Config's Tenants, Keys, Members, Store).
func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "gw")
	defer os.RemoveAll(dir)
	st, err := srsstate.Open(context.Background(), srsstate.Options{
		DataDir:  dir,
		LeaseTTL: time.Minute,
		// DatabaseURL: "postgres://voicegw:PASSWORD@db.internal/voicegw",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	for _, f := range []string{srsstate.StateDB, srsstate.IndexDB, srsstate.PepperFile} {
		_, err := os.Stat(filepath.Join(dir, f))
		fmt.Println(f, err == nil)
	}
	fmt.Println("shared:", st.Shared())
	// Output:
	// state.db true
	// insights.db true
	// secrets/api-key-pepper true
	// shared: false
}

// Apply what a configuration file declares, at every start: an account
// and an Insights key of it, an admin key.
func ExampleState_Apply() {
	dir, _ := os.MkdirTemp("", "gw")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	st, err := srsstate.Open(ctx, srsstate.Options{DataDir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	applied, err := st.Apply(ctx, srsstate.Declaration{
		AdminKeys: []srsstate.DeclaredKey{{Name: "ops", Secret: "ops-key-from-the-vault-0123456789"}},
		Accounts: []srsstate.DeclaredAccount{{
			DeclaredAccount: tenancy.DeclaredAccount{Set: []string{"sip_realm"},
				Account: tenancy.Account{Name: "acme", SIPRealm: "acme.example.com"}},
			APIKeys: []srsstate.DeclaredKey{{Name: "reports", Secret: "reports-key-from-the-vault-0123"}},
		}},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(applied[0].Account.Name, applied[0].Created)
	p, err := st.Keys.VerifyKey(ctx, "reports-key-from-the-vault-0123")
	fmt.Println(p.Account == string(applied[0].Account.SID), err)
	// Output:
	// acme true
	// true <nil>
}

// Check a declaration before applying it: every problem, named by its path.
func ExampleValidate() {
	err := srsstate.Validate(srsstate.Declaration{
		AdminKeys: []srsstate.DeclaredKey{{Name: "ops", Secret: "short"}},
	}, nil)
	for _, fe := range tenancy.FieldErrors(err) {
		fmt.Println(fe.Field)
	}
	// Output:
	// admin.api_keys[0].secret
}

// Make a demo account (SIP user, API keys, console member) on a first
// start, and show its secrets once.
func ExampleState_EnsureDemo() {
	dir, _ := os.MkdirTemp("", "gw")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	st, err := srsstate.Open(ctx, srsstate.Options{DataDir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	d, err := st.EnsureDemo(ctx, srsstate.DemoOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d.Account.SIPRealm, d.User, d.Account.Recording.Format, d.ConsoleEmail)
	again, _ := st.EnsureDemo(ctx, srsstate.DemoOptions{})
	fmt.Println(again == nil)
	// Output:
	// demo.voicegw.test demo wav admin@demo.voicegw.test
	// true
}

// The account serving requests for realms no account has: the one the
// configuration names, or the demo account when the program made it.
func ExampleState_DefaultAccount() {
	dir, _ := os.MkdirTemp("", "gw")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	st, err := srsstate.Open(ctx, srsstate.Options{DataDir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	d, _ := st.EnsureDemo(ctx, srsstate.DemoOptions{})
	sid, _ := st.DefaultAccount(ctx, "", true)
	fmt.Println(sid == d.Account.SID)
	_, err = st.DefaultAccount(ctx, "acme", false)
	fmt.Println(err)
	// Output:
	// true
	// srsstate: no such account: "acme"
}

// Drop what a recording server cached of the accounts other gateways
// change (on SQLite there are none: Watch does nothing).
func ExampleState_Watch() {
	dir, _ := os.MkdirTemp("", "gw")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	st, err := srsstate.Open(ctx, srsstate.Options{DataDir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	err = st.Watch(ctx, func(c srsstate.Change) {
		// with an *srs.Server srv:
		// if c.All { srv.TenantCache().InvalidateAll() }
		// srv.Invalidate(c.Accounts...)
	})
	fmt.Println(err)
	// Output:
	// <nil>
}

// Check a configuration's database URL without connecting; the error never
// holds the password.
func ExampleCheckDatabaseURL() {
	err := srsstate.CheckDatabaseURL("mysql://gw:s3cret@db/voicegw")
	fmt.Println(errors.Is(err, srsstate.ErrBadDatabaseURL))
	fmt.Println(srsstate.CheckDatabaseURL("postgres://gw:s3cret@db.internal/voicegw?sslmode=verify-full"))
	// Output:
	// true
	// <nil>
}

// Report a bad database URL under a configuration's own key: the Reason
// names the URL without its password.
func ExampleDatabaseURLError() {
	var ue *srsstate.DatabaseURLError
	if err := srsstate.CheckDatabaseURL("postgres://gw:s3cret@db.internal/voicegw?sslmode=sometimes"); errors.As(err, &ue) {
		fmt.Println("database:", ue.Reason)
	}
	// Output: database: pgdb: bad connection string: sslmode is invalid (in postgres://db.internal/voicegw?REDACTED)
}

// Test that the database answers (a configuration check): nil, or why not.
func ExamplePingDatabase() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := srsstate.PingDatabase(ctx, secret.String("postgres://gw:s3cret@127.0.0.1:1/voicegw?connect_timeout=5"))
	fmt.Println(err != nil)
	// Output:
	// true
}

// The API key service types of a gateway: rbac's, and "admin" with every
// privilege.
func ExampleServiceTypes() {
	_, ok := srsstate.ServiceTypes()[srsstate.ServiceTypeAdmin]
	fmt.Println(ok)
	// Output:
	// true
}

// Read a configuration file strictly: every problem named by its key's
// path, and the keys each declared account gives (its Set).
func ExampleDecodeYAML() {
	var cfg struct {
		Workers  int `yaml:"workers"`
		Accounts []struct {
			Name string            `yaml:"name"`
			SIP  tenancy.SIPAccess `yaml:"sip"`
		} `yaml:"accounts"`
	}
	_, err := srsstate.DecodeYAML([]byte("workers: many\naccounts: [{name: a, sip: {alowlist: []}}]\n"), &cfg)
	for _, e := range srsstate.YAMLErrors(err) {
		fmt.Println(e)
	}
	doc, err := srsstate.DecodeYAML([]byte("accounts:\n  - name: a\n    sip: {require_tls: true}\n"), &cfg)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(doc.Given("accounts")[0])
	fmt.Println(srsstate.IsSecretPath("accounts[0].sip.users[0].password"))
	// Output:
	// workers: "many" is not a valid whole number (line 1)
	// accounts[0].sip.alowlist: unknown key (line 2)
	// [name sip sip.require_tls]
	// true
}

// Check the state's databases for a readiness endpoint, with the
// recording server's own checks (srs.NewReadiness(srs.ReadinessConfig{
// Checks: append(st.ReadyChecks(), srv.ReadyCheck())})).
func ExampleState_ReadyChecks() {
	dir, _ := os.MkdirTemp("", "gw")
	defer os.RemoveAll(dir)
	st, err := srsstate.Open(context.Background(), srsstate.Options{DataDir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	for _, c := range st.ReadyChecks() {
		fmt.Println(c.Name, c.Check(context.Background()) == nil)
	}
	// Output:
	// state_db true
	// session_index true
}

// Read the accounts of a configuration file and declare them: each
// start then brings the keys the file gives to its values.
func ExampleAccountConfig_Declared() {
	var cfg struct {
		Accounts []srsstate.AccountConfig `yaml:"accounts"`
	}
	doc, err := srsstate.DecodeYAML([]byte("accounts:\n  - name: acme\n    sip_realm: acme.test\n    recording: {enabled: true, format: WAV, bucket: {url: 'mem://'}}\n"), &cfg)
	if err != nil {
		log.Fatal(err)
	}
	d := srsstate.Declaration{}
	for i, given := range doc.Given("accounts") {
		cfg.Accounts[i].Given = given
		d.Accounts = append(d.Accounts, cfg.Accounts[i].Declared(fmt.Sprintf("accounts[%d]", i)))
	}
	fmt.Println(d.Accounts[0].Account.Recording.Format, d.Accounts[0].Applications[0].Name)
	fmt.Println(d.Accounts[0].Set)
	fmt.Println(srsstate.Validate(d, nil))
	// Output:
	// wav siprec
	// [name sip_realm recording recording.enabled recording.format recording.bucket recording.bucket.url]
	// <nil>
}
