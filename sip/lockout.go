package sip

import (
	"github.com/voicegw/voicegw/sip/connlimit"
	"net/netip"
	"sync"
	"time"
)

// lockout counts authentication failures per source and blocks a source
// that fails too often. IPv6 sources are counted per /64, the block a
// single host usually controls, so rotating addresses inside it does not
// escape the count.
type lockout struct {
	max        int
	window     time.Duration
	block      time.Duration
	maxSources int

	mu        sync.Mutex
	sources   map[netip.Addr]*failures
	nextSweep time.Time
}

type failures struct {
	count        int
	first        time.Time
	blockedUntil time.Time
}

func newLockout(cfg LockoutConfig) *lockout {
	l := &lockout{max: cfg.MaxFailures, window: cfg.Window, block: cfg.Block, maxSources: cfg.MaxSources}
	if l.max == 0 {
		l.max = 5
	}
	if l.window <= 0 {
		l.window = time.Minute
	}
	if l.block <= 0 {
		l.block = 5 * time.Minute
	}
	if l.maxSources <= 0 {
		l.maxSources = 65536
	}
	l.sources = make(map[netip.Addr]*failures)
	return l
}

// lockoutKey is the source a failure counts for: connlimit.Source's
// (an IPv4 address, an IPv6 /64), as the connection caps count.
func lockoutKey(a netip.Addr) netip.Addr { return connlimit.Source(a).Addr() }

// blocked reports whether addr is blocked at now.
func (l *lockout) blocked(addr netip.Addr, now time.Time) bool {
	if l.max < 0 || !addr.IsValid() {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.sources[lockoutKey(addr)]
	return ok && now.Before(f.blockedUntil)
}

// fail records a failure from addr and reports whether it started a block.
func (l *lockout) fail(addr netip.Addr, now time.Time) bool {
	if l.max < 0 || !addr.IsValid() {
		return false
	}
	key := lockoutKey(addr)
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.sources[key]
	if !ok {
		if len(l.sources) >= l.maxSources && !l.makeRoom(now) {
			return false
		}
		f = &failures{first: now}
		l.sources[key] = f
	}
	if now.Before(f.blockedUntil) {
		return false
	}
	if now.Sub(f.first) > l.window {
		f.count, f.first = 0, now
	}
	f.count++
	if f.count >= l.max {
		f.blockedUntil = now.Add(l.block)
		f.count, f.first = 0, now
		return true
	}
	return false
}

// makeRoom drops entries that no longer matter; when none can go, it drops
// one source that is not blocked. It reports whether there is room.
func (l *lockout) makeRoom(now time.Time) bool {
	if !now.Before(l.nextSweep) {
		l.nextSweep = now.Add(time.Second)
		for k, f := range l.sources {
			if !now.Before(f.blockedUntil) && now.Sub(f.first) > l.window {
				delete(l.sources, k)
			}
		}
	}
	if len(l.sources) < l.maxSources {
		return true
	}
	for k, f := range l.sources {
		if !now.Before(f.blockedUntil) {
			delete(l.sources, k)
			return true
		}
	}
	return false
}
