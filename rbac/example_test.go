package rbac_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/voicegw/voicegw/rbac"
	"github.com/voicegw/voicegw/rbac/memstore"
	"github.com/voicegw/voicegw/rbac/secret"
)

func ExamplePolicy_Decide() {
	var viewer rbac.Privileges
	viewer.Grant(rbac.EntityInteraction, rbac.ActionRead)
	p := &rbac.Principal{Subject: "ann@example.com", Scope: rbac.ScopeAccount, Account: "acct-a", Privileges: viewer}

	var az rbac.Authorizer = rbac.Policy{}
	read := rbac.Request{Target: rbac.Target{Account: "acct-a"}, Entity: rbac.EntityInteraction, Action: rbac.ActionRead}
	fmt.Println(az.Decide(p, read))
	del := read
	del.Action = rbac.ActionDelete
	fmt.Println(az.Decide(p, del))
	other := read
	other.Account = "acct-b"
	fmt.Println(az.Decide(p, other))
	fmt.Println(rbac.Authorize(az, p, other))
	// Output:
	// allow
	// deny: privilege not granted
	// deny: out of scope
	// rbac: ann@example.com may not read interaction of account "acct-b" (service provider ""): deny: out of scope
}

func ExampleCheckFields() {
	sp := &rbac.Principal{Subject: "sp@example.com", Scope: rbac.ScopeServiceProvider, ServiceProvider: "sp-1"}
	// The fields an update changes (tenancy.ChangedFields gives them).
	err := rbac.CheckFields(sp, rbac.AccountFieldRules(), []string{"name", "licensed_sessions", "sip_realm", "unit"})
	for _, fe := range rbac.FieldErrors(err) {
		fmt.Println(fe.Field, errors.Is(fe, rbac.ErrForbidden))
	}
	// Output:
	// licensed_sessions true
	// unit true
}

func ExampleKeyStore() {
	ctx := context.Background()
	keys := memstore.NewKeyStore(nil)
	defer keys.Close()

	// Ann's role lets her read interactions, usage and their metrics: what
	// an "insights" key grants, and no more.
	var analyst rbac.Privileges
	analyst.Grant(rbac.EntityInteraction, rbac.ActionRead).Grant(rbac.EntityUsage, rbac.ActionRead)
	analyst.Advanced = rbac.ReadInteractionMetrics
	creator := &rbac.Principal{Subject: "ann@example.com", Scope: rbac.ScopeAccount, Account: "acct-a", Privileges: analyst}
	ck, err := keys.Create(ctx, rbac.NewAPIKey{Name: "CRM sync", ServiceType: "insights", Account: "acct-a"}, creator)
	if err != nil {
		fmt.Println(err)
		return
	}
	// An "api" key would do more than Ann may: refused.
	_, err = keys.Create(ctx, rbac.NewAPIKey{Name: "everything", ServiceType: "api", Account: "acct-a"}, creator)
	fmt.Println(errors.Is(err, rbac.ErrForbidden))
	// ck.Secret.Reveal() is shown to the operator once; the store keeps a
	// hash. A client presents it; VerifyKey gives the key's principal.
	p, err := keys.VerifyKey(ctx, ck.Secret)
	fmt.Println(p.Subject == "key:"+ck.ID, p.Account, p.Scope, err)

	_ = keys.Delete(ctx, ck.ID)
	_, err = keys.VerifyKey(ctx, ck.Secret)
	fmt.Println(errors.Is(err, rbac.ErrInvalidKey))
	// Output:
	// true
	// true acct-a account <nil>
	// true
}

// A gateway's configuration file lists API keys with their secrets:
// Bootstrap, at every start, makes the keys of the origin "config" exactly
// those, so that a key removed from the file stops working.
func ExampleKeyStore_Bootstrap() {
	ctx := context.Background()
	keys := memstore.NewKeyStore(nil)
	defer keys.Close()
	fromFile := func(secrets ...string) []rbac.BootstrapKey {
		var out []rbac.BootstrapKey
		for i, s := range secrets {
			out = append(out, rbac.BootstrapKey{
				NewAPIKey: rbac.NewAPIKey{Name: fmt.Sprint("reporting-", i), ServiceType: "insights", Account: "acct-a", CreatorEmail: "config@gateway.example.com"},
				Secret:    secret.String(s),
			})
		}
		return out
	}
	res, err := keys.Bootstrap(ctx, "config", fromFile("Rep0rting-key-one-0123456789", "Rep0rting-key-two-0123456789"))
	fmt.Println(len(res.Created), err)

	// The next start: the second key left the file.
	res, err = keys.Bootstrap(ctx, "config", fromFile("Rep0rting-key-one-0123456789"))
	fmt.Println(len(res.Kept), len(res.Deleted), err)
	_, err = keys.VerifyKey(ctx, "Rep0rting-key-two-0123456789")
	fmt.Println(errors.Is(err, rbac.ErrUnknownKey))

	// A weak secret is refused, naming the key; nothing changes.
	_, err = keys.Bootstrap(ctx, "config", fromFile("Rep0rting-key-one-0123456789", "password-password-password"))
	for _, ke := range rbac.BootstrapKeyErrors(err) {
		fmt.Println(ke.Index, errors.Is(ke, rbac.ErrWeakSecret))
	}
	// Output:
	// 2 <nil>
	// 1 1 <nil>
	// true
	// 1 true
}

func ExampleCheckSecretStrength() {
	for _, s := range []string{"change-me", "aaaaaaaaaaaaaaaaaaaaaaaa", "0123456789012345678901", "kR7-vq2p_Lx9#mB4wZ1t"} {
		fmt.Println(rbac.CheckSecretStrength(s))
	}
	// Output:
	// rbac: api_key field secret: must have 20 to 256 characters
	// rbac: api_key field secret: has 1 distinct characters, fewer than 10
	// rbac: api_key field secret: too weak (about 73 bits, at least 96 wanted): make it longer or mix letters, digits and punctuation
	// <nil>
}

// An API that checks credentials throttles each source address's failures:
// ten in a row, then one a second (the defaults); a valid credential gives
// its reservation back.
func ExampleFailureLimiter() {
	failures := rbac.NewFailureLimiter(rbac.FailureLimiterConfig{Burst: 2})
	src := netip.MustParseAddr("203.0.113.9")
	check := func(valid bool) string {
		ok, wait := failures.Reserve(src)
		if !ok {
			return fmt.Sprintf("429, retry after %v", wait.Round(time.Second))
		}
		if valid {
			failures.Refund(src)
			return "200"
		}
		return "401"
	}
	fmt.Println(check(true), check(false), check(false), check(false), check(true))
	// Output:
	// 200 401 401 429, retry after 1s 429, retry after 1s
}

func ExampleMemberStore_VerifyPassword() {
	ctx := context.Background()
	members := memstore.NewMemberStore(nil)
	defer members.Close()
	ann, _ := members.CreateMember(ctx, &rbac.Member{Email: "ann@example.com", Scope: rbac.ScopeAccount, Account: "acct-a"})

	// Only an Argon2id hash of the password is stored.
	fmt.Println(members.SetPassword(ctx, ann.ID, "too short"))
	fmt.Println(members.SetPassword(ctx, ann.ID, "correct horse battery"))

	m, err := members.VerifyPassword(ctx, "Ann@Example.com", "correct horse battery")
	fmt.Println(m.ID == ann.ID, err)
	// A wrong password and an unknown email get the same answer.
	_, wrong := members.VerifyPassword(ctx, "ann@example.com", "correct horse")
	_, unknown := members.VerifyPassword(ctx, "bob@example.com", "correct horse battery")
	fmt.Println(wrong, errors.Is(unknown, rbac.ErrWrongPassword))
	// Output:
	// rbac: member field password: 9 characters, want at least 12
	// <nil>
	// true <nil>
	// rbac: wrong email or password true
}

func ExamplePepperFile() {
	dir, _ := os.MkdirTemp("", "pepper")
	defer os.RemoveAll(dir)
	// made on the first start, read on every later one
	pepper, err := rbac.PepperFile(filepath.Join(dir, "secrets", "api-key-pepper"))
	if err != nil {
		fmt.Println(err)
		return
	}
	keys := rbac.NewKeyStore(memstore.NewDriver(), &rbac.KeyStoreOptions{Pepper: pepper})
	defer keys.Close()
	again, _ := rbac.PepperFile(filepath.Join(dir, "secrets", "api-key-pepper"))
	fmt.Println(len(pepper.Reveal()), again.Equal(pepper))
	// Output: 43 true
}
