package sip

import (
	"net/netip"
	"testing"
	"time"
)

func TestLockout(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	a := netip.MustParseAddr("203.0.113.7")
	b := netip.MustParseAddr("203.0.113.8")
	l := newLockout(LockoutConfig{MaxFailures: 3, Window: time.Minute, Block: 5 * time.Minute})

	t.Run("failures spread beyond the window do not block", func(t *testing.T) {
		l.fail(a, now)
		l.fail(a, now.Add(30*time.Second))
		if l.fail(a, now.Add(61*time.Second)) || l.blocked(a, now.Add(61*time.Second)) {
			t.Fatal("blocked although the window restarted")
		}
	})
	t.Run("max failures in the window block that source only", func(t *testing.T) {
		at := now.Add(2 * time.Minute)
		started := []bool{l.fail(b, at), l.fail(b, at), l.fail(b, at)}
		if started[0] || started[1] || !started[2] {
			t.Fatalf("block started at %v, want on the third failure", started)
		}
		if !l.blocked(b, at) || l.blocked(a, at) {
			t.Fatal("wrong source blocked")
		}
		if l.fail(b, at.Add(time.Second)) {
			t.Fatal("a failure while blocked restarted the block")
		}
		if !l.blocked(b, at.Add(5*time.Minute-time.Second)) || l.blocked(b, at.Add(5*time.Minute)) {
			t.Fatal("block does not last exactly Block")
		}
	})
	t.Run("IPv6 counts per /64", func(t *testing.T) {
		at := now.Add(time.Hour)
		for _, s := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3"} {
			l.fail(netip.MustParseAddr(s), at)
		}
		if !l.blocked(netip.MustParseAddr("2001:db8:1:2::99"), at) || l.blocked(netip.MustParseAddr("2001:db8:1:3::1"), at) {
			t.Fatal("IPv6 /64 not blocked as one source")
		}
	})
	t.Run("IPv4-mapped counts as IPv4", func(t *testing.T) {
		at := now.Add(2 * time.Hour)
		for range 3 {
			l.fail(netip.MustParseAddr("::ffff:198.51.100.1"), at)
		}
		if !l.blocked(netip.MustParseAddr("198.51.100.1"), at) {
			t.Fatal("mapped address not blocked as IPv4")
		}
	})
}

func TestLockoutDisabled(t *testing.T) {
	l := newLockout(LockoutConfig{MaxFailures: -1})
	now := time.Now()
	a := netip.MustParseAddr("203.0.113.7")
	for range 100 {
		l.fail(a, now)
	}
	if l.blocked(a, now) {
		t.Fatal("blocked with MaxFailures < 0")
	}
}

func TestLockoutBoundedMemory(t *testing.T) {
	l := newLockout(LockoutConfig{MaxFailures: 2, MaxSources: 10, Window: time.Minute})
	now := time.Unix(1_700_000_000, 0)
	blocked := netip.MustParseAddr("10.0.0.1")
	l.fail(blocked, now)
	l.fail(blocked, now)
	for i := range 1000 {
		l.fail(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), now)
	}
	if len(l.sources) > 10 {
		t.Fatalf("%d sources tracked, bound 10", len(l.sources))
	}
	if !l.blocked(blocked, now) {
		t.Fatal("a blocked source was evicted to make room")
	}
	// once the window has passed, old entries are swept for new ones
	later := now.Add(2 * time.Minute)
	l.fail(netip.MustParseAddr("10.2.0.1"), later)
	if _, ok := l.sources[netip.MustParseAddr("10.2.0.1")]; !ok {
		t.Fatal("new source not tracked after the sweep")
	}
}
