package tenancy

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Errors of the limits; match them with errors.Is.
var (
	// ErrLimitReached: the account has as many sessions in progress as it
	// may. A SIP server answers 486 Busy Here (see SIPStatus).
	ErrLimitReached = errors.New("tenancy: licensed sessions limit reached")
	// ErrQuotaExhausted: an account billed by minutes used up its minutes.
	// A SIP server answers 486 Busy Here.
	ErrQuotaExhausted = errors.New("tenancy: minutes quota exhausted")
	// ErrLimiterUnavailable: the shared limiter or counter could not be
	// reached (database error, timeout). A SIP server answers 503 Service
	// Unavailable, so the caller may retry elsewhere or later.
	ErrLimiterUnavailable = errors.New("tenancy: limiter unavailable")
)

// LimitError is the refusal of SessionLimiter.Acquire past the limit. It
// wraps ErrLimitReached.
type LimitError struct {
	Account SID
	Limit   int
	InUse   int
}

// Error implements error.
func (e *LimitError) Error() string {
	return fmt.Sprintf("tenancy: account %s has %d of %d licensed sessions in progress: %v", e.Account, e.InUse, e.Limit, ErrLimitReached)
}

// Unwrap returns ErrLimitReached.
func (e *LimitError) Unwrap() error { return ErrLimitReached }

// SIP response codes for a refused call (RFC 3261 §21.4.24, §21.5.4).
const (
	StatusBusyHere           = 486
	StatusServiceUnavailable = 503
)

// SIPStatus maps an error of a limiter or usage counter to the SIP response
// a server sends to refuse the call: 486 Busy Here when the account is at its
// licensed sessions or out of minutes (a definite answer about this tenant:
// another gateway sharing the limiter would refuse too), 503 Service
// Unavailable for anything else (the limiter could not decide; the caller
// may retry). It returns 0, "" for a nil error.
func SIPStatus(err error) (code int, reason string) {
	switch {
	case err == nil:
		return 0, ""
	case errors.Is(err, ErrLimitReached), errors.Is(err, ErrQuotaExhausted):
		return StatusBusyHere, "Busy Here"
	default:
		return StatusServiceUnavailable, "Service Unavailable"
	}
}

// SessionLimiter counts the sessions in progress per account against the
// account's licensed sessions. The SIPREC server acquires when a recorded call
// starts and releases when it ends; a recorded call counts as one session
// whatever number of SIPREC dialogs and RTP streams it has, because sessions
// are keyed by session ID.
//
// Contract, for implementations (the same for the in-process LocalLimiter,
// the SQLite lease limiter of tenancy/sqlitestore, or a Redis or SQL server
// one that several gateway hosts share):
//
//   - Acquire is atomic: the count, the comparison with limit and the
//     insertion happen as one step, so concurrent callers (in any number of
//     processes sharing the backend) never exceed limit.
//   - Acquire is idempotent per (account, session): acquiring a session
//     already held succeeds and does not count it twice (a duplicate SIPREC
//     start, a second recorder of the same call).
//   - limit <= 0 means no limit; the session is still counted.
//   - Past the limit Acquire returns an error wrapping ErrLimitReached (a
//     *LimitError); when the backend cannot decide it returns an error
//     wrapping ErrLimiterUnavailable. SIPStatus maps both.
//   - Release is idempotent: releasing a session not held is not an error.
//   - A backend shared by several gateway instances must not leak capacity
//     when an instance dies without releasing: hold sessions as leases that
//     expire unless renewed (see sqlitestore.Limiter).
type SessionLimiter interface {
	Acquire(ctx context.Context, account SID, session string, limit int) error
	Release(ctx context.Context, account SID, session string) error
	// InUse returns the sessions in progress for account.
	InUse(ctx context.Context, account SID) (int, error)
}

// LocalLimiter is the in-process SessionLimiter, for one gateway instance.
// The zero value is ready to use; it is safe for concurrent use.
type LocalLimiter struct {
	mu       sync.Mutex
	sessions map[SID]map[string]struct{}
}

var _ SessionLimiter = (*LocalLimiter)(nil)

// Acquire implements SessionLimiter.
func (l *LocalLimiter) Acquire(ctx context.Context, account SID, session string, limit int) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrLimiterUnavailable, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sessions == nil {
		l.sessions = map[SID]map[string]struct{}{}
	}
	held := l.sessions[account]
	if _, ok := held[session]; ok {
		return nil
	}
	if limit > 0 && len(held) >= limit {
		return &LimitError{Account: account, Limit: limit, InUse: len(held)}
	}
	if held == nil {
		held = map[string]struct{}{}
		l.sessions[account] = held
	}
	held[session] = struct{}{}
	return nil
}

// Release implements SessionLimiter.
func (l *LocalLimiter) Release(_ context.Context, account SID, session string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	held := l.sessions[account]
	delete(held, session)
	if len(held) == 0 {
		delete(l.sessions, account)
	}
	return nil
}

// InUse implements SessionLimiter.
func (l *LocalLimiter) InUse(_ context.Context, account SID) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.sessions[account]), nil
}

// Usage is what an account used in the current billing period.
type Usage struct {
	// Sessions is the number of sessions counted.
	Sessions int64
	// Seconds is their total duration, in whole seconds (rounded up per
	// session).
	Seconds int64
	// Minutes is the billed minutes: each session rounded up to a whole
	// minute, then summed (a 61-second call bills 2 minutes).
	Minutes int64
}

// BilledMinutes returns the minutes a session of duration d bills: d rounded
// up to a whole minute; 0 for d <= 0.
func BilledMinutes(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Minute - 1) / time.Minute)
}

func billedSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// UsageCounter counts the minutes (and sessions) of accounts billed by
// minutes. Contract, as for SessionLimiter: AddSession is atomic and
// idempotent per (account, session), so a recorded call counts once even when
// several recorders report it; errors of the backend wrap
// ErrLimiterUnavailable.
type UsageCounter interface {
	// AddSession counts a finished session of duration d.
	AddSession(ctx context.Context, account SID, session string, d time.Duration) error
	// Usage returns the account's usage since the last Reset.
	Usage(ctx context.Context, account SID) (Usage, error)
	// Reset starts a new billing period for account.
	Reset(ctx context.Context, account SID) error
}

// CheckQuota returns an error wrapping ErrQuotaExhausted when acct is billed
// by minutes, has a maximum, and u has reached it; nil otherwise. Call it
// before accepting a call; SIPStatus maps the error to 486.
func CheckQuota(acct *Account, u Usage) error {
	if acct.EffectiveUnit() != UnitMinutes || acct.MaxUnits <= 0 || u.Minutes < int64(acct.MaxUnits) {
		return nil
	}
	return fmt.Errorf("%w: account %s used %d of %d minutes", ErrQuotaExhausted, acct.SID, u.Minutes, acct.MaxUnits)
}

// LocalUsage is the in-process UsageCounter. It remembers the session IDs
// counted in the current period (to count each once) until Reset. The zero
// value is ready to use; it is safe for concurrent use.
type LocalUsage struct {
	mu       sync.Mutex
	accounts map[SID]*localUsage
}

type localUsage struct {
	Usage
	seen map[string]struct{}
}

var _ UsageCounter = (*LocalUsage)(nil)

// AddSession implements UsageCounter.
func (c *LocalUsage) AddSession(ctx context.Context, account SID, session string, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrLimiterUnavailable, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.accounts == nil {
		c.accounts = map[SID]*localUsage{}
	}
	u := c.accounts[account]
	if u == nil {
		u = &localUsage{seen: map[string]struct{}{}}
		c.accounts[account] = u
	}
	if _, dup := u.seen[session]; dup {
		return nil
	}
	u.seen[session] = struct{}{}
	u.Sessions++
	u.Seconds += billedSeconds(d)
	u.Minutes += BilledMinutes(d)
	return nil
}

// Usage implements UsageCounter.
func (c *LocalUsage) Usage(_ context.Context, account SID) (Usage, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if u := c.accounts[account]; u != nil {
		return u.Usage, nil
	}
	return Usage{}, nil
}

// Reset implements UsageCounter.
func (c *LocalUsage) Reset(_ context.Context, account SID) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.accounts, account)
	return nil
}
