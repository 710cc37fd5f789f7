package rbac

import (
	"math"
	"net/netip"
	"sync"
	"time"
)

// FailureLimiterConfig configures a FailureLimiter. The zero value works.
type FailureLimiterConfig struct {
	// Burst is how many failed credential checks a source may make in a
	// row before it must wait. Default: 10.
	Burst int
	// Every is how long a source waits to regain one failed check (a token
	// bucket refilled at this pace). Default: 1 second, so one source makes
	// at most 3,600 guesses an hour, whatever its number of connections.
	Every time.Duration
	// MaxSources bounds the sources tracked at once. Past it, sources not
	// tracked share one allowance of Burst (so a crowd of addresses is
	// still slowed down, together). Default: 65,536.
	MaxSources int
	// IPv6Prefix is the prefix length by which IPv6 sources are counted
	// (one subscriber is usually given a whole /64, so counting single
	// addresses would let it rotate them). Default: 64.
	IPv6Prefix int
	// Clock returns the current time. Default: time.Now.
	Clock func() time.Time
}

// FailureLimiter throttles failed credential checks (API keys, passwords)
// per source address, so that nobody can test guesses at the speed of the
// server: each source has an allowance of Burst failures refilled by one
// every Every. It is meant to be shared by every API of a process that
// checks credentials (the Insights API, an admin API), so that a source's
// failures count across them. It is safe for concurrent use.
//
// A check goes: Reserve(src) before looking the credential up (when it
// returns false, answer 429 Too Many Requests with a Retry-After of the
// wait, without looking it up); then Refund(src) when the credential was
// valid, or when the check could not be made (a store outage is not the
// source's failure). A failed check keeps its reservation. Reserving before
// the check, rather than counting after it, bounds the guesses of a source
// that sends many in parallel.
type FailureLimiter struct {
	burst      float64
	every      time.Duration
	maxSources int
	v6bits     int
	now        func() time.Time

	mu        sync.Mutex
	sources   map[netip.Prefix]*allowance
	overflow  allowance
	nextSweep time.Time
}

// allowance is a token bucket: tokens as of at.
type allowance struct {
	tokens float64
	at     time.Time
}

// NewFailureLimiter returns a FailureLimiter configured by cfg.
func NewFailureLimiter(cfg FailureLimiterConfig) *FailureLimiter {
	if cfg.Burst <= 0 {
		cfg.Burst = 10
	}
	if cfg.Every <= 0 {
		cfg.Every = time.Second
	}
	if cfg.MaxSources <= 0 {
		cfg.MaxSources = 65536
	}
	if cfg.IPv6Prefix <= 0 || cfg.IPv6Prefix > 128 {
		cfg.IPv6Prefix = 64
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	l := &FailureLimiter{burst: float64(cfg.Burst), every: cfg.Every, maxSources: cfg.MaxSources,
		v6bits: cfg.IPv6Prefix, now: cfg.Clock, sources: map[netip.Prefix]*allowance{}}
	l.overflow.tokens = l.burst
	return l
}

// source returns the key src is counted under: the IPv4 address, or the
// IPv6 prefix. The zero Addr (a source without an IP address) is one key.
func (l *FailureLimiter) source(src netip.Addr) netip.Prefix {
	src = src.Unmap()
	bits := 32
	if src.Is6() {
		bits = l.v6bits
	}
	p, err := src.Prefix(bits)
	if err != nil {
		return netip.Prefix{}
	}
	return p
}

// refill brings a's tokens up to now.
func (l *FailureLimiter) refill(a *allowance, now time.Time) {
	if now.After(a.at) {
		a.tokens = math.Min(l.burst, a.tokens+float64(now.Sub(a.at))/float64(l.every))
		a.at = now
	}
}

// allowanceOf returns src's allowance (creating it full), or the shared
// overflow one when MaxSources are tracked and none can be forgotten.
// l.mu is held.
func (l *FailureLimiter) allowanceOf(src netip.Addr, now time.Time, create bool) *allowance {
	key := l.source(src)
	if a, ok := l.sources[key]; ok {
		return a
	}
	if !create {
		return nil
	}
	if len(l.sources) >= l.maxSources && !now.Before(l.nextSweep) {
		// Forget the sources whose allowance is full again: they are as
		// good as new.
		for k, a := range l.sources {
			if l.refill(a, now); a.tokens >= l.burst {
				delete(l.sources, k)
			}
		}
		l.nextSweep = now.Add(l.every)
	}
	if len(l.sources) >= l.maxSources {
		return &l.overflow
	}
	a := &allowance{tokens: l.burst, at: now}
	l.sources[key] = a
	return a
}

// Reserve takes one check from src's allowance. It returns true when src
// may make the check now; otherwise false and how long src must wait before
// its next check (the Retry-After of a 429). A reservation is given back by
// Refund.
func (l *FailureLimiter) Reserve(src netip.Addr) (ok bool, retryAfter time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.allowanceOf(src, now, true)
	l.refill(a, now)
	if a.tokens >= 1 {
		a.tokens--
		return true, 0
	}
	return false, time.Duration(math.Ceil((1 - a.tokens) * float64(l.every)))
}

// Refund gives back the check Reserve took for src: the credential was
// valid, or the check could not be made.
func (l *FailureLimiter) Refund(src netip.Addr) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.allowanceOf(src, now, false)
	if a == nil {
		a = &l.overflow // src was counted there, or forgotten (then: no harm)
	}
	l.refill(a, now)
	a.tokens = math.Min(l.burst, a.tokens+1)
}
