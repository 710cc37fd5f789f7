package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

// Sessions live on the server: the cookie holds only a random 256-bit ID,
// and the store keeps the SHA-256 of it (a copy of the store's memory does
// not hold usable cookies). A session ends when it is idle for
// Config.SessionIdle, SessionMax after sign-in, at sign-out, or when its
// member no longer exists. A new ID is issued at every sign-in, so an ID
// planted before it (session fixation) is worth nothing.

// sessionCookie is the session cookie's name; "__Secure-" is prepended
// when it is Secure (browsers then refuse it from plain HTTP).
const (
	sessionCookie = "voicegw_console"
	signinCookie  = "voicegw_console_signin"
)

type session struct {
	key      [32]byte
	memberID string
	email    string
	csrf     string
	created  time.Time
	seen     time.Time
	// Mutable state, guarded by the store's mutex.
	flash   *flash
	account string // the account a service provider or admin member works on
}

// flash is a message shown once, on the next page the member sees (after a
// form's redirect). Secret, when set, is a secret the API returned to be
// shown this once (a new API key, a webhook secret).
type flash struct {
	OK     bool
	Text   string
	Secret string
}

type sessionStore struct {
	mu    sync.Mutex
	m     map[[32]byte]*session
	idle  time.Duration
	max   time.Duration
	limit int
	now   func() time.Time
}

func newSessionStore(idle, max time.Duration, limit int, now func() time.Time) *sessionStore {
	return &sessionStore{m: map[[32]byte]*session{}, idle: idle, max: max, limit: limit, now: now}
}

// randomToken returns 256 random bits in base64url.
func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (s *sessionStore) expired(x *session, now time.Time) bool {
	return now.Sub(x.seen) >= s.idle || now.Sub(x.created) >= s.max
}

// create starts a session for a member and returns its cookie value.
func (s *sessionStore) create(memberID, email string) (string, *session) {
	id := randomToken()
	now := s.now()
	x := &session{key: sha256.Sum256([]byte(id)), memberID: memberID, email: email, csrf: randomToken(), created: now, seen: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= s.limit {
		var oldest *session
		for k, y := range s.m {
			if s.expired(y, now) {
				delete(s.m, k)
			} else if oldest == nil || y.created.Before(oldest.created) {
				oldest = y
			}
		}
		if len(s.m) >= s.limit && oldest != nil {
			delete(s.m, oldest.key)
		}
	}
	s.m[x.key] = x
	return id, x
}

// get returns the live session of a cookie value and marks it seen.
func (s *sessionStore) get(id string) (*session, bool) {
	if id == "" {
		return nil, false
	}
	k := sha256.Sum256([]byte(id))
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	x, ok := s.m[k]
	if !ok {
		return nil, false
	}
	if s.expired(x, now) {
		delete(s.m, k)
		return nil, false
	}
	x.seen = now
	return x, true
}

// end ends a session.
func (s *sessionStore) end(x *session) {
	s.mu.Lock()
	delete(s.m, x.key)
	s.mu.Unlock()
}

// endMember ends every session of a member (its member was deleted, or
// changed its password).
func (s *sessionStore) endMember(memberID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, x := range s.m {
		if x.memberID == memberID {
			delete(s.m, k)
		}
	}
}

func (s *sessionStore) setFlash(x *session, f *flash) {
	s.mu.Lock()
	x.flash = f
	s.mu.Unlock()
}

// takeFlash returns the session's flash once.
func (s *sessionStore) takeFlash(x *session) *flash {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := x.flash
	x.flash = nil
	return f
}

func (s *sessionStore) setAccount(x *session, account string) {
	s.mu.Lock()
	x.account = account
	s.mu.Unlock()
}

func (s *sessionStore) accountOf(x *session) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return x.account
}

// validCSRF compares a submitted token with the session's in constant time.
func validCSRF(want, got string) bool {
	return want != "" && len(got) == len(want) && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// secure reports whether r's cookies must be Secure.
func (c *Console) secure(r *http.Request) bool { return r.TLS != nil || c.cfg.SecureCookies }

func (c *Console) cookieName(r *http.Request, name string) string {
	if c.secure(r) {
		return "__Secure-" + name
	}
	return name
}

// setCookie sets an HttpOnly, SameSite=Strict cookie scoped to the console's
// path; maxAge < 0 deletes it.
func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: c.cookieName(r, name), Value: value, Path: c.prefix, MaxAge: maxAge,
		HttpOnly: true, Secure: c.secure(r), SameSite: http.SameSiteStrictMode,
	})
}

func (c *Console) cookie(r *http.Request, name string) string {
	ck, err := r.Cookie(c.cookieName(r, name))
	if err != nil {
		return ""
	}
	return ck.Value
}

// lockout counts failed sign-ins per email: LockoutThreshold failures
// within LockoutDuration lock the email for LockoutDuration. It tracks at
// most maxTracked emails; past that, new emails are not counted (the
// per-source limiter still is) rather than forgetting the locked ones.
type lockout struct {
	mu        sync.Mutex
	m         map[string]*lockEntry
	threshold int
	dur       time.Duration
	now       func() time.Time
}

type lockEntry struct {
	fails int
	first time.Time
	until time.Time
}

const maxTracked = 100000

func newLockout(threshold int, dur time.Duration, now func() time.Time) *lockout {
	return &lockout{m: map[string]*lockEntry{}, threshold: threshold, dur: dur, now: now}
}

// locked reports whether email is locked, and for how long still.
func (l *lockout) locked(email string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.m[email]
	if !ok || !now.Before(e.until) {
		return false, 0
	}
	return true, e.until.Sub(now)
}

// fail counts a failed sign-in and reports whether it locked the email.
func (l *lockout) fail(email string) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.m[email]
	if !ok {
		if len(l.m) >= maxTracked {
			for k, x := range l.m {
				if now.Sub(x.first) >= l.dur && !now.Before(x.until) {
					delete(l.m, k)
				}
			}
			if len(l.m) >= maxTracked {
				return false
			}
		}
		e = &lockEntry{first: now}
		l.m[email] = e
	}
	if now.Sub(e.first) >= l.dur && !now.Before(e.until) {
		*e = lockEntry{first: now}
	}
	e.fails++
	if e.fails >= l.threshold {
		e.until = now.Add(l.dur)
		e.fails, e.first = 0, now
		return true
	}
	return false
}

// success forgets the email's failures.
func (l *lockout) success(email string) {
	l.mu.Lock()
	delete(l.m, email)
	l.mu.Unlock()
}
