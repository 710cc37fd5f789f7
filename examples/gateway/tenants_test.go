package main

import (
	"log/slog"
	"net/netip"
	"testing"

	"github.com/voicegw/voicegw/tenancy"
)

// TestTenantOfBrokenAllowlist checks that an account whose stored allowlist
// does not parse refuses every source address, and that a good one (or none)
// is applied as written.
func TestTenantOfBrokenAllowlist(t *testing.T) {
	l := newTenantLookup(nil, "", slog.New(slog.DiscardHandler))
	probes := []string{"127.0.0.1", "0.0.0.0", "10.0.0.1", "::1", "2001:db8::1"}
	for _, c := range []struct {
		name  string
		list  []string
		allow map[string]bool
	}{
		{"broken", []string{"10.0.0.1", "not-an-address"}, map[string]bool{}},
		{"none", nil, map[string]bool{"127.0.0.1": true, "0.0.0.0": true, "10.0.0.1": true, "::1": true, "2001:db8::1": true}},
		{"good", []string{"10.0.0.1"}, map[string]bool{"10.0.0.1": true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tn := l.tenantOf(&tenancy.Account{Name: "acme", SIP: tenancy.SIPAccess{Allowlist: c.list}})
			for _, p := range probes {
				if got := tn.Allowlist.Allows(netip.MustParseAddr(p)); got != c.allow[p] {
					t.Errorf("Allows(%s) = %v, want %v", p, got, c.allow[p])
				}
			}
		})
	}
}
