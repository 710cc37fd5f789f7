package sip

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/icholy/digest"
	"github.com/voicegw/voicegw/rbac/secret"
)

// fakeClock is a settable clock for nonce expiry tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// answer builds a client's answer to ch with icholy/digest (the client
// library sipgo uses), an implementation independent of ours.
func answer(t testing.TB, ch Challenge, method, uri, user, pass string, nc int, qop bool) Authorization {
	t.Helper()
	dc, err := digest.ParseChallenge(ch.String())
	if err != nil {
		t.Fatal(err)
	}
	if !qop {
		dc.QOP = nil
	}
	cred, err := digest.Digest(dc, digest.Options{Method: method, URI: uri, Username: user, Password: pass, Count: nc})
	if err != nil {
		t.Fatal(err)
	}
	a, err := ParseAuthorization(cred.String())
	if err != nil {
		t.Fatalf("parse %q: %v", cred.String(), err)
	}
	return a
}

func TestDigestRFCVectors(t *testing.T) {
	tests := []struct {
		name string
		alg  Algorithm
		auth Authorization
		pass string
	}{
		{"RFC 2617 §3.5 MD5 qop=auth", MD5, Authorization{Username: "Mufasa", Realm: "testrealm@host.com", Nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093", URI: "/dir/index.html", QOP: "auth", NC: 1, CNonce: "0a4f113b", Response: "6629fae49393a05397450978507c4ef1"}, "Circle Of Life"},
		// RFC 2069 §2.4 with its erratum (the printed response is wrong)
		{"RFC 2069 MD5 no qop", MD5, Authorization{Username: "Mufasa", Realm: "testrealm@host.com", Nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093", URI: "/dir/index.html", Response: "1949323746fe6a43ef61f9606e7febea"}, "CircleOfLife"},
		{"RFC 7616 §3.9.1 MD5", MD5, Authorization{Username: "Mufasa", Realm: "http-auth@example.org", Nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", URI: "/dir/index.html", QOP: "auth", NC: 1, CNonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", Response: "8ca523f5e9506fed4657c9700eebdbec"}, "Circle of Life"},
		{"RFC 7616 §3.9.1 SHA-256", SHA256, Authorization{Username: "Mufasa", Realm: "http-auth@example.org", Nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", URI: "/dir/index.html", QOP: "auth", NC: 1, CNonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", Response: "753927FA0E85D155564E2E272A28D1802CA10DAF4496794697CF8DB5856CB6C1"}, "Circle of Life"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ans := DigestAnswer{Method: "GET", Algorithm: tt.alg, Auth: tt.auth}
			for name, src := range map[string]CredentialSource{
				"password": Users{"Mufasa": secret.String(tt.pass)},
				"HA1": CredentialFunc(func(_ context.Context, realm, user string) (Credential, error) {
					return Credential{HA1: map[Algorithm]secret.String{tt.alg: secret.String(strings.ToUpper(tt.alg.HA1(user, realm, secret.String(tt.pass)).Reveal()))}}, nil
				}),
			} {
				if err := CheckCredentials(src).CheckResponse(context.Background(), ans); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
			if err := CheckCredentials(Users{"Mufasa": "wrong"}).CheckResponse(context.Background(), ans); !errors.Is(err, ErrBadCredentials) {
				t.Errorf("wrong password: %v", err)
			}
		})
	}
}

func newTestDigest(t testing.TB, cfg DigestConfig) *DigestServer {
	t.Helper()
	d, err := NewDigestServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

var alice = Users{"alice": "secret"}

func TestDigestVerifyEveryAlgorithm(t *testing.T) {
	ctx := context.Background()
	d := newTestDigest(t, DigestConfig{AllowRFC2069: true})
	chs := d.Challenges("example.test", false)
	if len(chs) != 3 || chs[0].Algorithm != "SHA-512-256" || chs[1].Algorithm != "SHA-256" || chs[2].Algorithm != "MD5" {
		t.Fatalf("default offer not strongest first: %+v", chs)
	}
	for i := range chs {
		for _, qop := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/qop=%v", chs[i].Algorithm, qop), func(t *testing.T) {
				// the challenges share one nonce: take a fresh one per case
				ch := d.Challenges("example.test", false)[i]
				a := answer(t, ch, "INVITE", "sip:bob@example.test", "alice", "secret", 1, qop)
				if err := d.Verify(ctx, "INVITE", "example.test", a, CheckCredentials(alice)); err != nil {
					t.Fatalf("right answer refused: %v", err)
				}
				if err := d.Verify(ctx, "BYE", "example.test", a, CheckCredentials(alice)); !errors.Is(err, ErrBadCredentials) {
					t.Fatalf("answer for another method: %v", err)
				}
				wrong := answer(t, ch, "INVITE", "sip:bob@example.test", "alice", "guess", 2, qop)
				if err := d.Verify(ctx, "INVITE", "example.test", wrong, CheckCredentials(alice)); !errors.Is(err, ErrBadCredentials) {
					t.Fatalf("wrong password: %v", err)
				}
			})
		}
	}
}

func TestDigestUnknownUserLooksLikeWrongPassword(t *testing.T) {
	ctx := context.Background()
	d := newTestDigest(t, DigestConfig{Algorithms: []Algorithm{MD5}})
	ch := d.Challenges("example.test", false)[0]
	wrong := d.Verify(ctx, "REGISTER", "example.test", answer(t, ch, "REGISTER", "sip:example.test", "alice", "guess", 1, true), CheckCredentials(alice))
	unknown := d.Verify(ctx, "REGISTER", "example.test", answer(t, ch, "REGISTER", "sip:example.test", "mallory", "secret", 2, true), CheckCredentials(alice))
	if wrong == nil || wrong != unknown {
		t.Fatalf("wrong password gives %v, unknown user %v: they must be the same error", wrong, unknown)
	}
}

func TestDigestStaleNonce(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	d := newTestDigest(t, DigestConfig{NonceLifetime: time.Minute, Now: clock.Now})
	ch := d.Challenges("example.test", false)[1]
	right := answer(t, ch, "REGISTER", "sip:example.test", "alice", "secret", 1, true)
	wrong := answer(t, ch, "REGISTER", "sip:example.test", "alice", "guess", 1, true)
	clock.Advance(time.Minute + time.Second)
	if err := d.Verify(ctx, "REGISTER", "example.test", right, CheckCredentials(alice)); !errors.Is(err, ErrStaleNonce) {
		t.Fatalf("expired nonce, right credentials: %v, want ErrStaleNonce", err)
	}
	if err := d.Verify(ctx, "REGISTER", "example.test", wrong, CheckCredentials(alice)); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("expired nonce, wrong credentials: %v, want ErrBadCredentials (no stale=true)", err)
	}
	stale := d.Challenges("example.test", true)
	if !stale[0].Stale || !strings.Contains(stale[0].String(), "stale=true") {
		t.Fatalf("stale challenge: %v", stale[0])
	}
	fresh := answer(t, stale[1], "REGISTER", "sip:example.test", "alice", "secret", 1, true)
	if err := d.Verify(ctx, "REGISTER", "example.test", fresh, CheckCredentials(alice)); err != nil {
		t.Fatalf("answer to the fresh nonce: %v", err)
	}
}

func TestDigestNonceCountReplay(t *testing.T) {
	ctx := context.Background()
	d := newTestDigest(t, DigestConfig{})
	ch := d.Challenges("example.test", false)[0]
	ok := CheckCredentials(alice)
	steps := []struct {
		nc   int
		want error
	}{{1, nil}, {1, ErrReplay}, {2, nil}, {5, nil}, {3, ErrReplay}, {5, ErrReplay}, {6, nil}}
	for i, s := range steps {
		a := answer(t, ch, "INVITE", "sip:bob@example.test", "alice", "secret", s.nc, true)
		if err := d.Verify(ctx, "INVITE", "example.test", a, ok); !errors.Is(err, s.want) || (s.want == nil && err != nil) {
			t.Fatalf("step %d nc=%d: err = %v, want %v", i, s.nc, err, s.want)
		}
	}
	// a second nonce has its own count
	ch2 := d.Challenges("example.test", false)[0]
	if err := d.Verify(ctx, "INVITE", "example.test", answer(t, ch2, "INVITE", "sip:bob@example.test", "alice", "secret", 1, true), ok); err != nil {
		t.Fatal(err)
	}
}

func TestDigestRejects(t *testing.T) {
	ctx := context.Background()
	d := newTestDigest(t, DigestConfig{Algorithms: []Algorithm{SHA256, MD5}})
	ch := d.Challenges("example.test", false)[0]
	good := answer(t, ch, "INVITE", "sip:bob@example.test", "alice", "secret", 1, true)
	other := newTestDigest(t, DigestConfig{})
	foreign := other.Challenges("example.test", false)[0]
	tamper := []byte(good.Nonce)
	tamper[3] ^= 1
	tests := []struct {
		name   string
		modify func(a *Authorization)
		realm  string
		want   error
	}{
		{"missing username", func(a *Authorization) { a.Username = "" }, "", ErrMissingParam},
		{"missing response", func(a *Authorization) { a.Response = "" }, "", ErrMissingParam},
		{"missing uri", func(a *Authorization) { a.URI = "" }, "", ErrMissingParam},
		{"qop without cnonce", func(a *Authorization) { a.CNonce = "" }, "", ErrMissingParam},
		{"qop without nc", func(a *Authorization) { a.NC = 0 }, "", ErrMissingParam},
		{"qop auth-int", func(a *Authorization) { a.QOP = "auth-int" }, "", ErrUnsupported},
		{"algorithm not offered", func(a *Authorization) { a.Algorithm = "SHA-512-256" }, "", ErrUnsupported},
		{"algorithm unknown", func(a *Authorization) { a.Algorithm = "MD5-sess" }, "", ErrUnsupported},
		{"userhash", func(a *Authorization) { a.Params = append(a.Params, Param{"userhash", "true", false}) }, "", ErrUnsupported},
		{"other realm", func(a *Authorization) {}, "other.test", ErrRealmMismatch},
		{"tampered nonce", func(a *Authorization) { a.Nonce = string(tamper) }, "", ErrBadNonce},
		{"garbage nonce", func(a *Authorization) { a.Nonce = "abc" }, "", ErrBadNonce},
		{"nonce of another key", func(a *Authorization) { a.Nonce = foreign.Nonce }, "", ErrBadNonce},
		{"response not hex", func(a *Authorization) { a.Response = strings.Repeat("z", 64) }, "", ErrBadCredentials},
		{"response too short", func(a *Authorization) { a.Response = a.Response[:32] }, "", ErrBadCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := good
			a.Params = append([]Param(nil), good.Params...)
			tt.modify(&a)
			realm := "example.test"
			if tt.realm != "" {
				realm = tt.realm
				a.Realm = "example.test"
			}
			if err := d.Verify(ctx, "INVITE", realm, a, CheckCredentials(alice)); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	// a nonce made for another realm does not pass in this one
	chB := d.Challenges("b.test", false)[0]
	a := answer(t, chB, "INVITE", "sip:bob@example.test", "alice", "secret", 1, true)
	a.Realm = "example.test"
	if err := d.Verify(ctx, "INVITE", "example.test", a, CheckCredentials(alice)); !errors.Is(err, ErrBadNonce) {
		t.Fatalf("nonce of realm b.test: %v", err)
	}
}

// TestDigestRFC2069 is the replay of issue 14 item 5: the same qop-less
// answer sent again. By default such answers are refused; allowed, each is
// accepted once.
func TestDigestRFC2069(t *testing.T) {
	ctx := context.Background()
	t.Run("refused by default", func(t *testing.T) {
		d := newTestDigest(t, DigestConfig{})
		ch := d.Challenges("example.test", false)[0]
		if len(ch.QOP) != 1 || ch.QOP[0] != "auth" {
			t.Fatalf("challenge %v does not offer qop=auth", ch)
		}
		a := answer(t, ch, "INVITE", "sip:bob@example.test", "alice", "secret", 1, false)
		if err := d.Verify(ctx, "INVITE", "example.test", a, CheckCredentials(alice)); !errors.Is(err, ErrUnsupported) {
			t.Fatalf("RFC 2069 answer: %v, want ErrUnsupported", err)
		}
		// qop=auth answers pass
		if err := d.Verify(ctx, "INVITE", "example.test", answer(t, ch, "INVITE", "sip:bob@example.test", "alice", "secret", 1, true), CheckCredentials(alice)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("allowed: each answer once", func(t *testing.T) {
		d := newTestDigest(t, DigestConfig{AllowRFC2069: true, Algorithms: []Algorithm{MD5}})
		ch := d.Challenges("example.test", false)[0]
		a := answer(t, ch, "INVITE", "sip:bob@example.test", "alice", "secret", 1, false)
		if err := d.Verify(ctx, "INVITE", "example.test", a, CheckCredentials(alice)); err != nil {
			t.Fatalf("first use: %v", err)
		}
		for i := range 5 {
			if err := d.Verify(ctx, "INVITE", "example.test", a, CheckCredentials(alice)); !errors.Is(err, ErrReplay) {
				t.Fatalf("replay %d: %v, want ErrReplay", i+1, err)
			}
		}
		upper := a
		upper.Response = strings.ToUpper(a.Response)
		if err := d.Verify(ctx, "INVITE", "example.test", upper, CheckCredentials(alice)); !errors.Is(err, ErrReplay) {
			t.Fatalf("replay in upper case: %v, want ErrReplay", err)
		}
		// the same nonce for another request is another answer
		b := answer(t, ch, "BYE", "sip:bob@example.test", "alice", "secret", 1, false)
		if err := d.Verify(ctx, "BYE", "example.test", b, CheckCredentials(alice)); err != nil {
			t.Fatalf("another request with the same nonce: %v", err)
		}
		// a wrong answer is not remembered, and a replay is checked after the password
		wrong := answer(t, ch, "INVITE", "sip:carol@example.test", "alice", "guess", 1, false)
		for range 2 {
			if err := d.Verify(ctx, "INVITE", "example.test", wrong, CheckCredentials(alice)); !errors.Is(err, ErrBadCredentials) {
				t.Fatalf("wrong password: %v", err)
			}
		}
	})
	t.Run("bounded memory", func(t *testing.T) {
		clock := newFakeClock()
		d := newTestDigest(t, DigestConfig{AllowRFC2069: true, Algorithms: []Algorithm{MD5}, MaxTrackedNonces: 4, Now: clock.Now})
		var first Authorization
		for i := range 6 {
			clock.Advance(time.Millisecond)
			ch := d.Challenges("example.test", false)[0]
			a := answer(t, ch, "INVITE", "sip:bob@example.test", "alice", "secret", 1, false)
			if i == 0 {
				first = a
			}
			if err := d.Verify(ctx, "INVITE", "example.test", a, CheckCredentials(alice)); err != nil {
				t.Fatalf("answer %d: %v", i, err)
			}
		}
		if n := len(d.rfc2069.cur) + len(d.rfc2069.prev); n > 4 {
			t.Fatalf("%d answers remembered, bound 4", n)
		}
		// the first answer was forgotten to bound memory: it is stale, not accepted
		if err := d.Verify(ctx, "INVITE", "example.test", first, CheckCredentials(alice)); !errors.Is(err, ErrStaleNonce) && !errors.Is(err, ErrReplay) {
			t.Fatalf("forgotten answer replayed: %v", err)
		}
	})
}

func TestDigestHA1OnlyForOtherAlgorithm(t *testing.T) {
	d := newTestDigest(t, DigestConfig{})
	src := CredentialFunc(func(_ context.Context, realm, user string) (Credential, error) {
		return Credential{HA1: map[Algorithm]secret.String{MD5: MD5.HA1(user, realm, "secret")}}, nil
	})
	chs := d.Challenges("example.test", false)
	if err := d.Verify(context.Background(), "INVITE", "example.test", answer(t, chs[2], "INVITE", "sip:x@example.test", "alice", "secret", 1, true), CheckCredentials(src)); err != nil {
		t.Fatalf("MD5 answer with stored MD5 HA1: %v", err)
	}
	if err := d.Verify(context.Background(), "INVITE", "example.test", answer(t, chs[1], "INVITE", "sip:x@example.test", "alice", "secret", 1, true), CheckCredentials(src)); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("SHA-256 answer with only an MD5 HA1: %v", err)
	}
}

func TestDigestStoreFailureIsNotBadCredentials(t *testing.T) {
	d := newTestDigest(t, DigestConfig{})
	boom := errors.New("database is down")
	src := CredentialFunc(func(context.Context, string, string) (Credential, error) { return Credential{}, boom })
	a := answer(t, d.Challenges("example.test", false)[0], "INVITE", "sip:x@example.test", "alice", "secret", 1, true)
	err := d.Verify(context.Background(), "INVITE", "example.test", a, CheckCredentials(src))
	if !errors.Is(err, boom) || errors.Is(err, ErrBadCredentials) {
		t.Fatalf("err = %v", err)
	}
}

func TestNewDigestServerErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		algs  []Algorithm
		also  error
		names string
	}{
		{"unknown", []Algorithm{SHA256, "MD4"}, ErrUnknownAlgorithm, `"MD4"`},
		{"twice", []Algorithm{MD5, SHA256, MD5}, ErrInvalidConfig, `"MD5" twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewDigestServer(DigestConfig{Algorithms: tc.algs})
			if !errors.Is(err, ErrInvalidConfig) || !errors.Is(err, tc.also) || !strings.Contains(err.Error(), tc.names) {
				t.Fatalf("algorithms %v: err = %v, want ErrInvalidConfig naming %s", tc.algs, err, tc.names)
			}
		})
	}
	if _, err := ParseAlgorithm("sha-512-256"); err != nil {
		t.Error(err)
	}
}

// TestNonceCountMemoryIsBounded: entries are forgotten after two lifetimes,
// and a full table forgets early but never lets a replay through.
func TestNonceCountMemoryIsBounded(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	d := newTestDigest(t, DigestConfig{NonceLifetime: time.Minute, MaxTrackedNonces: 8, Now: clock.Now})
	var used []Authorization
	for i := range 10 {
		ch := d.Challenges("example.test", false)[0]
		a := answer(t, ch, "INVITE", "sip:x@example.test", "alice", "secret", 1, true)
		if err := d.Verify(ctx, "INVITE", "example.test", a, CheckCredentials(alice)); err != nil {
			t.Fatalf("nonce %d: %v", i, err)
		}
		used = append(used, a)
		clock.Advance(time.Millisecond)
	}
	if n := len(d.nc.cur) + len(d.nc.prev); n > 8 {
		t.Fatalf("%d entries kept, bound is 8", n)
	}
	for i, a := range used {
		err := d.Verify(ctx, "INVITE", "example.test", a, CheckCredentials(alice))
		if !errors.Is(err, ErrReplay) && !errors.Is(err, ErrStaleNonce) {
			t.Fatalf("replay of nonce %d accepted: %v", i, err)
		}
	}
	clock.Advance(2*time.Minute + time.Second)
	ch := d.Challenges("example.test", false)[0]
	if err := d.Verify(ctx, "INVITE", "example.test", answer(t, ch, "INVITE", "sip:x@example.test", "alice", "secret", 1, true), CheckCredentials(alice)); err != nil {
		t.Fatal(err)
	}
	if len(d.nc.prev) != 0 || len(d.nc.cur) != 1 {
		t.Fatalf("old generations kept: cur %d prev %d", len(d.nc.cur), len(d.nc.prev))
	}
}

func BenchmarkDigestVerify(b *testing.B) {
	ctx := context.Background()
	for _, alg := range []Algorithm{MD5, SHA256, SHA512256} {
		b.Run(string(alg), func(b *testing.B) {
			d := newTestDigest(b, DigestConfig{Algorithms: []Algorithm{alg}})
			ch := d.Challenges("example.test", false)[0]
			check := CheckCredentials(alice)
			// answers prepared outside the loop, one nc each
			const n = 4096
			answers := make([]Authorization, n)
			for i := range answers {
				if i%1024 == 0 {
					ch = d.Challenges("example.test", false)[0]
				}
				answers[i] = answer(b, ch, "REGISTER", "sip:example.test", "alice", "secret", i%1024+1, true)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i > 0 && i%n == 0 {
					b.StopTimer()
					d.nc = ncTable{lifetime: d.lifetime, max: 1 << 20}
					b.StartTimer()
				}
				if err := d.Verify(ctx, "REGISTER", "example.test", answers[i%n], check); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifications/s")
		})
	}
}

func ExampleDigestServer() {
	d, _ := NewDigestServer(DigestConfig{Algorithms: []Algorithm{SHA256, MD5}})
	for _, ch := range d.Challenges("example.test", false) {
		ch.Nonce = "…" // fresh and random each time
		fmt.Println("WWW-Authenticate:", ch)
	}
	// Output:
	// WWW-Authenticate: Digest realm="example.test", nonce="…", algorithm=SHA-256, qop="auth"
	// WWW-Authenticate: Digest realm="example.test", nonce="…", algorithm=MD5, qop="auth"
}

// countingHash records each hash computation (the input written between a
// Reset and a Sum) of the hash it wraps.
type countingHash struct {
	hash.Hash
	alg    Algorithm
	input  []byte
	inputs *[]string
}

func (c *countingHash) Write(p []byte) (int, error) {
	c.input = append(c.input, p...)
	return c.Hash.Write(p)
}

func (c *countingHash) Reset() { c.input = c.input[:0]; c.Hash.Reset() }

func (c *countingHash) Sum(b []byte) []byte {
	*c.inputs = append(*c.inputs, string(c.input))
	return c.Hash.Sum(b)
}

// TestCheckCredentialsSameWorkForUnknownUser checks that an unknown user
// costs the same hash computations as a known one with a wrong password
// (plaintext or stored HA1): three, of the answer's algorithm, the first an
// HA1 over username:realm:password, and fails with the same error.
func TestCheckCredentialsSameWorkForUnknownUser(t *testing.T) {
	ha1Store := CredentialFunc(func(_ context.Context, realm, user string) (Credential, error) {
		if user != "alice" {
			return Credential{}, ErrUnknownUser
		}
		return Credential{HA1: map[Algorithm]secret.String{MD5: MD5.HA1(user, realm, "secret"), SHA256: SHA256.HA1(user, realm, "secret"), SHA512256: SHA512256.HA1(user, realm, "secret")}}, nil
	})
	for _, alg := range []Algorithm{MD5, SHA256, SHA512256} {
		for _, c := range []struct {
			name string
			src  CredentialSource
			user string
		}{
			{"known user, wrong password", alice, "alice"},
			{"unknown user", alice, "mallory"},
			{"known user by HA1, wrong password", ha1Store, "alice"},
			{"unknown user, HA1 store", ha1Store, "mallory"},
		} {
			t.Run(string(alg)+"/"+c.name, func(t *testing.T) {
				var inputs []string
				var algs []Algorithm
				check := localChecker{src: c.src, newHash: func(a Algorithm) hash.Hash {
					algs = append(algs, a)
					return &countingHash{Hash: a.newHash(), alg: a, inputs: &inputs}
				}}
				ans := DigestAnswer{Method: "REGISTER", Algorithm: alg, Auth: Authorization{
					Username: c.user, Realm: "example.test", Nonce: "n", URI: "sip:example.test", QOP: "auth", NC: 1, CNonce: "c",
					Response: strings.Repeat("0", 2*alg.size())}}
				if err := check.CheckResponse(context.Background(), ans); err != ErrBadCredentials {
					t.Fatalf("err = %v, want ErrBadCredentials itself", err)
				}
				if len(inputs) != 3 {
					t.Fatalf("%d hash computations %q, want 3 (HA1, HA2, response)", len(inputs), inputs)
				}
				if !slices.Equal(algs, []Algorithm{alg}) {
					t.Fatalf("hashes made for %v, want %v", algs, alg)
				}
				if prefix := c.user + ":example.test:"; !strings.HasPrefix(inputs[0], prefix) || len(inputs[0]) == len(prefix) {
					t.Fatalf("HA1 input %q, want %s<password>", inputs[0], prefix)
				}
				if inputs[1] != "REGISTER:sip:example.test" {
					t.Fatalf("HA2 input %q", inputs[1])
				}
			})
		}
	}
}

// TestDigestNonceBoundToSource checks that a nonce issued to one address is
// accepted only from it (its IPv4-mapped form included), and that a nonce
// bound to no address is accepted only without one.
func TestDigestNonceBoundToSource(t *testing.T) {
	ctx := context.Background()
	d := newTestDigest(t, DigestConfig{Algorithms: []Algorithm{MD5}})
	a4, a6 := netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("2001:db8::7")
	none := netip.Addr{}
	for _, c := range []struct {
		name       string
		issued, at netip.Addr
		want       error
	}{
		{"same IPv4", a4, a4, nil},
		{"IPv4-mapped form", a4, netip.MustParseAddr("::ffff:203.0.113.7"), nil},
		{"same IPv6", a6, a6, nil},
		{"unbound", none, none, nil},
		{"other IPv4", a4, netip.MustParseAddr("203.0.113.8"), ErrBadNonce},
		{"IPv4 nonce from IPv6", a4, a6, ErrBadNonce},
		{"other IPv6", a6, netip.MustParseAddr("2001:db8::8"), ErrBadNonce},
		{"bound nonce without source", a4, none, ErrBadNonce},
		{"unbound nonce from a source", none, a4, ErrBadNonce},
	} {
		t.Run(c.name, func(t *testing.T) {
			ch := d.ChallengesFor("example.test", c.issued, false)[0]
			a := answer(t, ch, "REGISTER", "sip:example.test", "alice", "secret", 1, true)
			err := d.VerifyFrom(ctx, "REGISTER", "example.test", c.at, a, CheckCredentials(alice))
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if c.want != nil {
				// a wrong password with such a nonce is the same nonce error,
				// never a credential failure
				wrong := answer(t, ch, "REGISTER", "sip:example.test", "alice", "guess", 2, true)
				if err := d.VerifyFrom(ctx, "REGISTER", "example.test", c.at, wrong, CheckCredentials(alice)); !errors.Is(err, ErrBadNonce) {
					t.Fatalf("wrong password: %v, want ErrBadNonce", err)
				}
			}
		})
	}
}
