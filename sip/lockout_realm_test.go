package sip

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	sipgosip "github.com/emiago/sipgo/sip"
)

// TestUnknownRealmsBlockTheSource: a scanner naming a new realm in every
// request costs the tenant lookup (a store read behind a cache miss) only
// MaxFailures times; then its source is blocked before any lookup, while
// another source still reaches the lookup.
func TestUnknownRealmsBlockTheSource(t *testing.T) {
	var lookups atomic.Int64
	g, err := NewGuard(GuardConfig{
		Tenants: TenantFunc(func(ctx context.Context, realm string) (Tenant, error) {
			lookups.Add(1)
			return Tenant{}, fmt.Errorf("realm %q: %w", realm, ErrUnknownTenant)
		}),
		Lockout: LockoutConfig{MaxFailures: 5},
	})
	if err != nil {
		t.Fatal(err)
	}
	invite := func(realm, src string) *sipgosip.Request {
		raw := "INVITE sip:srs@" + realm + " SIP/2.0\r\nVia: SIP/2.0/UDP " + src + ";branch=z9hG4bK" + realm + "\r\n" +
			"From: <sip:a@b>;tag=1\r\nTo: <sip:srs@" + realm + ">\r\nCall-ID: " + realm + "\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
		msg, err := sipgosip.ParseMessage([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		req := msg.(*sipgosip.Request)
		req.SetSource(src)
		req.SetTransport("TCP") // as sipgo's TCP transport marks what it read
		return req
	}
	for i := range 1000 {
		_, res, err := g.Check(context.Background(), invite(fmt.Sprintf("r%d.scan.test", i), "203.0.113.9:5060"))
		if err == nil || res == nil || res.StatusCode != 403 {
			t.Fatalf("request %d: %v %v, want 403", i, res, err)
		}
	}
	if n := lookups.Load(); n != 5 {
		t.Fatalf("1,000 unknown realms from one source made %d tenant lookups, want 5 (then blocked)", n)
	}
	if _, _, err := g.Check(context.Background(), invite("other.test", "198.51.100.4:5060")); errors.Is(err, ErrSourceBlocked) || lookups.Load() != 6 {
		t.Fatalf("another source: %v after %d lookups, want its lookup", err, lookups.Load())
	}
}

// A datagram's source can be forged: unknown realms over UDP never block
// the address they name, or anyone could block a customer's SBC with five
// datagrams; nor do in-dialog requests (an honest peer's dialog whose
// tenant was deleted). The forged source is still served afterwards.
func TestUnknownRealmsOverUDPDoNotBlock(t *testing.T) {
	known := Tenant{ID: "t1", Realm: "known.test"}
	g, err := NewGuard(GuardConfig{
		Tenants: TenantFunc(func(ctx context.Context, realm string) (Tenant, error) {
			if realm == known.Realm {
				return known, nil
			}
			return Tenant{}, fmt.Errorf("realm %q: %w", realm, ErrUnknownTenant)
		}),
		Lockout: LockoutConfig{MaxFailures: 5},
	})
	if err != nil {
		t.Fatal(err)
	}
	request := func(method, realm, transport string) *sipgosip.Request {
		raw := method + " sip:srs@" + realm + " SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK" + realm + "\r\n" +
			"From: <sip:a@" + realm + ">;tag=1\r\nTo: <sip:srs@" + realm + ">\r\nCall-ID: " + realm + "\r\nCSeq: 1 " + method + "\r\nContent-Length: 0\r\n\r\n"
		msg, err := sipgosip.ParseMessage([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		req := msg.(*sipgosip.Request)
		req.SetSource("192.0.2.1:5060")
		req.SetTransport(transport)
		return req
	}
	for i := range 50 {
		_, res, err := g.Check(context.Background(), request("INVITE", fmt.Sprintf("r%d.forged.test", i), "UDP"))
		if res == nil || res.StatusCode != 403 || !errors.Is(err, ErrUnknownTenant) {
			t.Fatalf("datagram %d for an unknown realm: %v %v, want 403 for the realm", i, res, err)
		}
	}
	_, res, err := g.Check(context.Background(), request("REGISTER", known.Realm, "UDP"))
	if errors.Is(err, ErrSourceBlocked) || res == nil || res.StatusCode != 401 {
		t.Fatalf("the forged source's own REGISTER after 50 forged datagrams: %v %v, want a 401 challenge (not blocked)", res, err)
	}
}
