package srs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/voicegw/voicegw/sip"
	"github.com/voicegw/voicegw/storage/bucketconfig"
	"github.com/voicegw/voicegw/tenancy"
	"github.com/voicegw/voicegw/tenancy/memstore"
)

// countingDriver counts the reads of accounts that reach the store.
type countingDriver struct {
	tenancy.Driver
	mu    sync.Mutex
	reads int
}

func (d *countingDriver) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.reads
}

func (d *countingDriver) add() {
	d.mu.Lock()
	d.reads++
	d.mu.Unlock()
}

func (d *countingDriver) GetAccount(ctx context.Context, sid tenancy.SID) (*tenancy.Account, error) {
	d.add()
	return d.Driver.GetAccount(ctx, sid)
}

func (d *countingDriver) FindAccount(ctx context.Context, field, value string) (*tenancy.Account, error) {
	d.add()
	return d.Driver.FindAccount(ctx, field, value)
}

// clock is a settable clock for the cache.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newStore(t *testing.T) (*tenancy.Store, *countingDriver) {
	t.Helper()
	d := &countingDriver{Driver: memstore.NewDriver()}
	st := tenancy.NewStore(d, nil)
	t.Cleanup(func() { _ = st.Close() })
	return st, d
}

func createAccount(t *testing.T, st *tenancy.Store, a *tenancy.Account) *tenancy.Account {
	t.Helper()
	got, err := st.CreateAccount(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestTenantCache: a realm is read from the store once per TTL; a change
// to the account is seen at once after Invalidate (not only when the TTL
// runs out); unknown realms go to the default account, or are refused.
func TestTenantCache(t *testing.T) {
	ctx := context.Background()
	st, drv := newStore(t)
	acme := createAccount(t, st, &tenancy.Account{Name: "acme", SIPRealm: "acme.test",
		SIP: tenancy.SIPAccess{Users: []tenancy.SIPUser{{Username: "sbc", Password: "correct-horse-battery"}}, Allowlist: []string{"10.0.0.0/8"}}})
	clk := &clock{t: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)}
	c := NewTenantCache(st, &TenantCacheOptions{TTL: 5 * time.Second, Now: clk.now})

	tn, err := c.LookupTenant(ctx, "acme.test")
	if err != nil || tn.ID != string(acme.SID) || tn.Realm != "acme.test" || !tn.Allowlist.Allows(netip.MustParseAddr("10.1.2.3")) ||
		tn.Allowlist.Allows(netip.MustParseAddr("192.0.2.1")) {
		t.Fatalf("LookupTenant = %+v, %v", tn, err)
	}
	if _, err := tn.Credentials.Credential(ctx, "acme.test", "sbc"); err != nil {
		t.Fatalf("the account's SIP user: %v", err)
	}
	if _, err := tn.Credentials.Credential(ctx, "acme.test", "nobody"); !errors.Is(err, sip.ErrUnknownUser) {
		t.Fatalf("an unknown user: %v", err)
	}
	reads := drv.count()
	for range 3 {
		if _, err := c.LookupTenant(ctx, "acme.test"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Account(ctx, acme.SID); err != nil {
			t.Fatal(err)
		}
	}
	if drv.count() != reads {
		t.Fatalf("%d store reads within the TTL, want 0", drv.count()-reads)
	}

	// the allowlist changes: Invalidate makes it count at once
	upd := acme.Clone()
	upd.SIP.Allowlist = []string{"192.0.2.0/24"}
	if _, err := st.UpdateAccount(ctx, upd); err != nil {
		t.Fatal(err)
	}
	tn, _ = c.LookupTenant(ctx, "acme.test")
	if !tn.Allowlist.Allows(netip.MustParseAddr("10.1.2.3")) {
		t.Fatal("the cache should still hold the old allowlist before Invalidate (the test proves nothing)")
	}
	c.Invalidate(acme.SID)
	tn, _ = c.LookupTenant(ctx, "acme.test")
	if tn.Allowlist.Allows(netip.MustParseAddr("10.1.2.3")) || !tn.Allowlist.Allows(netip.MustParseAddr("192.0.2.1")) {
		t.Fatal("after Invalidate the old allowlist still applies")
	}
	a, _ := c.Account(ctx, acme.SID)
	if len(a.SIP.Allowlist) != 1 || a.SIP.Allowlist[0] != "192.0.2.0/24" {
		t.Fatalf("Account after Invalidate: %v", a.SIP.Allowlist)
	}

	// and without Invalidate, once the TTL ran out
	upd = a.Clone()
	upd.LicensedSessions = 7
	if _, err := st.UpdateAccount(ctx, upd); err != nil {
		t.Fatal(err)
	}
	clk.add(6 * time.Second)
	if a, _ := c.Account(ctx, acme.SID); a.LicensedSessions != 7 {
		t.Fatalf("after the TTL: licensed sessions %d", a.LicensedSessions)
	}

	// unknown realm: refused, then served by the default account
	if _, err := c.LookupTenant(ctx, "192.0.2.10"); !errors.Is(err, sip.ErrUnknownTenant) {
		t.Fatalf("unknown realm: %v", err)
	}
	c.SetDefault(acme.SID)
	if tn, err := c.LookupTenant(ctx, "192.0.2.10"); err != nil || tn.ID != string(acme.SID) {
		t.Fatalf("unknown realm with a default account: %+v, %v", tn, err)
	}

	// a store failure is returned, and not cached
	_ = st.Close()
	c.InvalidateAll()
	if _, err := c.LookupTenant(ctx, "acme.test"); err == nil || errors.Is(err, sip.ErrUnknownTenant) {
		t.Fatalf("closed store: %v, want the store's error", err)
	}
}

// TestTenantOfBrokenAllowlist checks that an account whose stored allowlist
// does not parse refuses every source address, and that a good one (or none)
// is applied as written.
func TestTenantOfBrokenAllowlist(t *testing.T) {
	c := NewTenantCache(nil, &TenantCacheOptions{Logger: slog.New(slog.DiscardHandler)})
	probes := []string{"127.0.0.1", "0.0.0.0", "10.0.0.1", "::1", "2001:db8::1"}
	for _, tc := range []struct {
		name  string
		list  []string
		allow map[string]bool
	}{
		{"broken", []string{"10.0.0.1", "not-an-address"}, map[string]bool{}},
		{"none", nil, map[string]bool{"127.0.0.1": true, "0.0.0.0": true, "10.0.0.1": true, "::1": true, "2001:db8::1": true}},
		{"good", []string{"10.0.0.1"}, map[string]bool{"10.0.0.1": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tn := c.tenantOf(&tenancy.Account{Name: "acme", SIP: tenancy.SIPAccess{Allowlist: tc.list}})
			for _, p := range probes {
				if got := tn.Allowlist.Allows(netip.MustParseAddr(p)); got != tc.allow[p] {
					t.Errorf("Allows(%s) = %v, want %v", p, got, tc.allow[p])
				}
			}
		})
	}
}

// TestAccountBuckets: the bucket of an account is opened once and reused
// while the account's revision stays; a changed bucket configuration is
// used at the next Resolve; an account without a bucket says so.
func TestAccountBuckets(t *testing.T) {
	ctx := context.Background()
	st, _ := newStore(t)
	d1, d2 := t.TempDir(), t.TempDir()
	acme := createAccount(t, st, &tenancy.Account{Name: "acme", Recording: tenancy.RecordingConfig{Enabled: true,
		Bucket: bucketconfig.Config{Vendor: bucketconfig.VendorFile, File: &bucketconfig.File{Dir: d1}}}})
	bare := createAccount(t, st, &tenancy.Account{Name: "bare"})
	b := NewAccountBuckets(st, nil)
	t.Cleanup(func() { _ = b.Close() })

	k1, err := b.Resolve(ctx, string(acme.SID))
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := b.Resolve(ctx, string(acme.SID)); again != k1 {
		t.Fatal("the same revision opened the bucket again")
	}
	if err := k1.Blob().WriteAll(ctx, "probe", []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(d1, "probe")); err != nil {
		t.Fatalf("the first bucket is not the account's directory: %v", err)
	}

	upd := acme.Clone()
	upd.Recording.Bucket.File.Dir = d2
	if _, err := st.UpdateAccount(ctx, upd); err != nil {
		t.Fatal(err)
	}
	k2, err := b.Resolve(ctx, string(acme.SID))
	if err != nil || k2 == k1 {
		t.Fatalf("after the change: %v, %v (same bucket: %v)", k2, err, k2 == k1)
	}
	if err := k2.Blob().WriteAll(ctx, "probe2", []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(d2, "probe2")); err != nil {
		t.Fatalf("the new bucket is not the new directory: %v", err)
	}
	b.Invalidate(acme.SID)
	if k3, _ := b.Resolve(ctx, string(acme.SID)); k3 == k2 {
		t.Fatal("Invalidate did not reopen the bucket")
	}
	if _, err := b.Resolve(ctx, string(bare.SID)); !errors.Is(err, ErrNoBucket) {
		t.Fatalf("an account without a bucket: %v", err)
	}
	if _, err := b.Resolve(ctx, "AC-nobody"); !errors.Is(err, tenancy.ErrNotFound) {
		t.Fatalf("an unknown account: %v", err)
	}
}

// TestProbeAccountBuckets: a working bucket, an account that does not
// record and a local directory not made yet pass (the last is not made by
// the probe); a "directory" that is a file fails, at its account's index.
func TestProbeAccountBuckets(t *testing.T) {
	file := func(dir string) tenancy.RecordingConfig {
		return tenancy.RecordingConfig{Enabled: true, Bucket: bucketconfig.Config{Vendor: bucketconfig.VendorFile, File: &bucketconfig.File{Dir: dir}}}
	}
	notYet := filepath.Join(t.TempDir(), "not", "yet")
	notDir := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(notDir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := t.TempDir()
	// under a plain file: Stat fails with "not a directory", which is no
	// directory to make at start but a broken bucket
	underFile := filepath.Join(notDir, "recordings")
	accounts := []*tenancy.Account{{Recording: file(ok)}, {}, {Recording: file(notYet)}, {Recording: file(notDir)}, {Recording: file(underFile)}}
	errs := ProbeAccountBuckets(t.Context(), accounts, nil, 0)
	if len(errs) != 5 || errs[0] != nil || errs[1] != nil || errs[2] != nil || errs[3] == nil || errs[4] == nil {
		t.Fatalf("errors %v, want the fourth and fifth only", errs)
	}
	if _, err := os.Stat(notYet); !os.IsNotExist(err) {
		t.Fatalf("the probe made the missing directory: %v", err)
	}
	written := 0 // the probe's object, written and deleted (its empty directory stays)
	_ = filepath.WalkDir(ok, func(p string, d os.DirEntry, _ error) error {
		if d != nil && !d.IsDir() {
			t.Errorf("the probe left %s in the working bucket", p)
		}
		written++
		return nil
	})
	if written < 2 {
		t.Fatal("nothing was written to the working bucket")
	}
}

// TestTenantCacheRandomRealms: a peer that names realm after random realm
// (more than the cache holds) before it authenticates never evicts an
// account's realm: the account's next calls read no store, and a realm
// seen again within the TTL is refused without a read.
func TestTenantCacheRandomRealms(t *testing.T) {
	ctx := context.Background()
	st, drv := newStore(t)
	createAccount(t, st, &tenancy.Account{Name: "acme", SIPRealm: "acme.test"})
	clk := &clock{t: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)}
	// no budget (LookupRate: TestTenantCacheLookupBudget): every probe reads
	c := NewTenantCache(st, &TenantCacheOptions{TTL: time.Minute, Now: clk.now, LookupRate: -1})
	if _, err := c.LookupTenant(ctx, "acme.test"); err != nil {
		t.Fatal(err)
	}
	for i := range maxCachedRealms + 10 {
		if _, err := c.LookupTenant(ctx, fmt.Sprintf("probe-%d.test", i)); !errors.Is(err, sip.ErrUnknownTenant) {
			t.Fatalf("a random realm: %v", err)
		}
	}
	reads := drv.count()
	if _, err := c.LookupTenant(ctx, "acme.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.LookupTenant(ctx, fmt.Sprintf("probe-%d.test", maxCachedRealms+5)); !errors.Is(err, sip.ErrUnknownTenant) {
		t.Fatalf("a realm probed again: %v", err)
	}
	if n := drv.count() - reads; n != 0 {
		t.Fatalf("%d store reads after the probes for the account's realm and a recent probe, want 0", n)
	}
}

// TestTenantCacheLookupBudget: realms not held cost store reads within
// LookupRate only: past it the cache declines (sip.ErrTenantBusy) without
// reading, while an account's realm read before is refreshed after its TTL
// and after an invalidation without spending the budget; a default
// account's stand-ins for unknown realms do not evict the accounts'
// realms; the budget refills with time.
func TestTenantCacheLookupBudget(t *testing.T) {
	ctx := context.Background()
	st, drv := newStore(t)
	createAccount(t, st, &tenancy.Account{Name: "acme", SIPRealm: "acme.test"})
	createAccount(t, st, &tenancy.Account{Name: "later", SIPRealm: "later.test"})
	clk := &clock{t: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)}
	c := NewTenantCache(st, &TenantCacheOptions{TTL: time.Second, Now: clk.now, LookupRate: 3})
	if _, err := c.LookupTenant(ctx, "acme.test"); err != nil { // spends 1 of 3
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := c.LookupTenant(ctx, fmt.Sprintf("probe-%d.test", i)); !errors.Is(err, sip.ErrUnknownTenant) {
			t.Fatalf("probe %d within the budget: %v", i, err)
		}
	}
	reads := drv.count()
	for i := range 50 {
		if _, err := c.LookupTenant(ctx, fmt.Sprintf("flood-%d.test", i)); !errors.Is(err, sip.ErrTenantBusy) {
			t.Fatalf("probe %d past the budget: %v, want sip.ErrTenantBusy", i, err)
		}
	}
	if n := drv.count() - reads; n != 0 {
		t.Fatalf("%d store reads for probes past the budget, want 0", n)
	}
	if n := c.LookupsDeclined(); n != 50 {
		t.Fatalf("LookupsDeclined = %d, want 50", n)
	}
	// a new account's realm waits for the budget too
	if _, err := c.LookupTenant(ctx, "later.test"); !errors.Is(err, sip.ErrTenantBusy) {
		t.Fatalf("a realm not seen before, budget spent: %v", err)
	}
	// a realm of no account read before keeps its answer, past its TTL too,
	// without a read
	clk.add(1100 * time.Millisecond)
	c.mu.Lock()
	c.tokens, c.filled = 0, clk.now()
	c.mu.Unlock()
	reads = drv.count()
	if _, err := c.LookupTenant(ctx, "probe-0.test"); !errors.Is(err, sip.ErrUnknownTenant) {
		t.Fatalf("a stale probe, budget spent: %v, want sip.ErrUnknownTenant as before", err)
	}
	if n := drv.count() - reads; n != 0 {
		t.Fatalf("%d store reads for a stale probe with the budget spent, want 0", n)
	}
	// the account's realm, past its TTL and after an invalidation, is read
	// again although the budget is spent (the clock moved less than what
	// refills one read)
	clk.add(1100 * time.Millisecond)
	c.mu.Lock()
	c.tokens, c.filled = 0, clk.now()
	c.mu.Unlock()
	reads = drv.count()
	if tn, err := c.LookupTenant(ctx, "acme.test"); err != nil || tn.Realm != "acme.test" {
		t.Fatalf("the account's realm past its TTL: %+v, %v", tn, err)
	}
	c.InvalidateAll()
	if _, err := c.LookupTenant(ctx, "acme.test"); err != nil {
		t.Fatalf("the account's realm after InvalidateAll: %v", err)
	}
	if n := drv.count() - reads; n == 0 {
		t.Fatal("no store read for the stale realm: it was served from the cache, not refreshed")
	}
	// the budget refills: a second later, three new realms are read
	clk.add(time.Second)
	if _, err := c.LookupTenant(ctx, "later.test"); err != nil {
		t.Fatalf("a new account's realm after the refill: %v", err)
	}
}

// TestTenantCacheDefaultDoesNotEvict: with a default account, realms of no
// account are served by it but kept with the misses, so naming many of
// them does not evict the accounts' realms.
func TestTenantCacheDefaultDoesNotEvict(t *testing.T) {
	ctx := context.Background()
	st, drv := newStore(t)
	acme := createAccount(t, st, &tenancy.Account{Name: "acme", SIPRealm: "acme.test"})
	def := createAccount(t, st, &tenancy.Account{Name: "default"})
	clk := &clock{t: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)}
	c := NewTenantCache(st, &TenantCacheOptions{TTL: time.Minute, Now: clk.now, LookupRate: -1, Default: def.SID})
	if tn, err := c.LookupTenant(ctx, "acme.test"); err != nil || tn.ID != string(acme.SID) {
		t.Fatalf("acme: %+v, %v", tn, err)
	}
	for i := range maxCachedRealms + 10 {
		if tn, err := c.LookupTenant(ctx, fmt.Sprintf("10.0.%d.%d", i/250, i%250)); err != nil || tn.ID != string(def.SID) {
			t.Fatalf("an address as realm: %+v, %v; want the default account", tn, err)
		}
	}
	reads := drv.count()
	if _, err := c.LookupTenant(ctx, "acme.test"); err != nil {
		t.Fatal(err)
	}
	if n := drv.count() - reads; n != 0 {
		t.Fatalf("%d store reads for the account's realm after the default's realms, want 0 (evicted)", n)
	}
}

// TestTenantCacheRealmSpellings: spellings of an account's realm (case,
// spaces and tabs, a trailing dot) are one cache entry, so naming them one
// after another neither spends the budget once each nor grows the realms
// kept, and cannot evict the accounts' realms.
func TestTenantCacheRealmSpellings(t *testing.T) {
	ctx := context.Background()
	st, drv := newStore(t)
	acme := createAccount(t, st, &tenancy.Account{Name: "acme", SIPRealm: "acme.test"})
	clk := &clock{t: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)}
	c := NewTenantCache(st, &TenantCacheOptions{TTL: time.Minute, Now: clk.now, LookupRate: 3})
	reads := drv.count()
	for i := range 200 {
		realm := strings.Repeat("\t", i%7) + strings.Repeat(" ", i/7%5) + "ACME.test" + strings.Repeat(".", i%2) + strings.Repeat("\t", i%3)
		tn, err := c.LookupTenant(ctx, realm)
		if err != nil || tn.ID != string(acme.SID) {
			t.Fatalf("spelling %q: %+v, %v", realm, tn, err)
		}
	}
	if n := drv.count() - reads; n != 1 {
		t.Fatalf("%d store reads for 200 spellings of one realm, want 1", n)
	}
	c.mu.Lock()
	kept := len(c.realms) + len(c.misses)
	c.mu.Unlock()
	if kept != 1 || c.LookupsDeclined() != 0 {
		t.Fatalf("%d realms kept, %d declined; want 1 and 0", kept, c.LookupsDeclined())
	}
}

// TestTenantCachePreload: after Preload every account's realm is held, so
// with the budget spent (LookupRate) an account's first request is served
// without a read, while a realm no account has is declined.
func TestTenantCachePreload(t *testing.T) {
	ctx := context.Background()
	st, drv := newStore(t)
	acme := createAccount(t, st, &tenancy.Account{Name: "acme", SIPRealm: "acme.test"})
	clk := &clock{t: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)}
	c := NewTenantCache(st, &TenantCacheOptions{TTL: time.Minute, Now: clk.now, LookupRate: 1})
	if err := c.Preload(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.LookupTenant(ctx, "probe.test"); !errors.Is(err, sip.ErrUnknownTenant) { // the one read of the budget
		t.Fatal(err)
	}
	if _, err := c.LookupTenant(ctx, "probe2.test"); !errors.Is(err, sip.ErrTenantBusy) {
		t.Fatalf("a second new realm: %v, want sip.ErrTenantBusy", err)
	}
	reads := drv.count()
	if tn, err := c.LookupTenant(ctx, "acme.test"); err != nil || tn.ID != string(acme.SID) {
		t.Fatalf("the account's first request, budget spent: %+v, %v", tn, err)
	}
	if n := drv.count() - reads; n != 0 {
		t.Fatalf("%d store reads for a preloaded realm, want 0", n)
	}
}

// TestTenantCacheBudgetLearnsChanges: with the budget spent, an account
// created and invalidated (the admin API, another gateway's notification)
// is served at its first request: the cache reads the accounts it was told
// changed instead of declining; one added behind its back is declined.
func TestTenantCacheBudgetLearnsChanges(t *testing.T) {
	ctx := context.Background()
	st, _ := newStore(t)
	clk := &clock{t: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)}
	c := NewTenantCache(st, &TenantCacheOptions{TTL: time.Minute, Now: clk.now, LookupRate: 1})
	if _, err := c.LookupTenant(ctx, "probe.test"); !errors.Is(err, sip.ErrUnknownTenant) { // the budget's one read
		t.Fatal(err)
	}
	silent := createAccount(t, st, &tenancy.Account{Name: "silent", SIPRealm: "silent.test"})
	if _, err := c.LookupTenant(ctx, "silent.test"); !errors.Is(err, sip.ErrTenantBusy) {
		t.Fatalf("an account added without Invalidate, budget spent: %v, want sip.ErrTenantBusy", err)
	}
	fresh := createAccount(t, st, &tenancy.Account{Name: "fresh", SIPRealm: "fresh.test"})
	c.Invalidate(fresh.SID)
	if tn, err := c.LookupTenant(ctx, "fresh.test"); err != nil || tn.ID != string(fresh.SID) {
		t.Fatalf("an account created and invalidated, budget spent: %+v, %v", tn, err)
	}
	c.InvalidateAll()
	if tn, err := c.LookupTenant(ctx, "silent.test"); err != nil || tn.ID != string(silent.SID) {
		t.Fatalf("after InvalidateAll, budget spent: %+v, %v", tn, err)
	}
	if _, err := c.LookupTenant(ctx, "probe2.test"); !errors.Is(err, sip.ErrTenantBusy) {
		t.Fatalf("a realm no account has, budget spent: %v, want sip.ErrTenantBusy", err)
	}
}
