package sip

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/internal/sipptest"
	"github.com/voicegw/voicegw/internal/testenv"
)

// sippDigest is the offer sipp can answer: it supports MD5 only and
// answers the first challenge.
var sippDigest = DigestConfig{Algorithms: []Algorithm{MD5, SHA256, SHA512256}}

func runSipp(t *testing.T, s *testServer, tr sipptest.Transport, scenario string, args ...string) *sipptest.Result {
	t.Helper()
	return runSippCalls(t, s, tr, 1, scenario, args...)
}

func runSippCalls(t *testing.T, s *testServer, tr sipptest.Transport, calls int, scenario string, args ...string) *sipptest.Result {
	t.Helper()
	res, err := sipptest.Run(t, sipptest.Options{
		Scenario:  "testdata/" + scenario,
		Remote:    s.addr,
		Transport: tr,
		Calls:     calls,
		Args:      args,
		Timeout:   30 * time.Second,
	})
	if err != nil {
		t.Fatalf("%v\n--- server log ---\n%s", err, s.logs.String())
	}
	if res.Failed != 0 || res.Successful != calls {
		t.Fatalf("sipp: %d successful, %d failed calls", res.Successful, res.Failed)
	}
	return res
}

// TestGuardWithSipp runs sipp, a SIP implementation nobody in this project
// wrote, against the Guard over UDP and TCP, one case of the list
// per subtest. Each scenario in testdata says what it expects; sipp fails
// the call (and so the test) on any other answer.
func TestGuardWithSipp(t *testing.T) {
	sipptest.Path(t)
	for _, tr := range []sipptest.Transport{sipptest.UDP, sipptest.TCP} {
		name := map[sipptest.Transport]string{sipptest.UDP: "UDP", sipptest.TCP: "TCP"}[tr]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			t.Run("REGISTER challenged then accepted", func(t *testing.T) {
				s := startServer(t, GuardConfig{Tenants: tenantsFor(t, "127.0.0.1"), Digest: sippDigest})
				runSipp(t, s, tr, "register_auth.xml", "-s", "alice", "-au", "alice", "-ap", testPassword)
				got := s.seen()
				if len(got) != 1 || got[0].id.User != "alice" || got[0].id.Algorithm != MD5 || got[0].id.Tenant != "acme" {
					t.Fatalf("handler saw %+v", got)
				}
				s.checkLogsClean(t)
			})

			t.Run("INVITE challenged with 407 then accepted", func(t *testing.T) {
				s := startServer(t, GuardConfig{Tenants: tenantsFor(t, ""), Digest: sippDigest, PassInDialog: true})
				runSipp(t, s, tr, "invite_auth.xml", "-s", "bob", "-au", "alice", "-ap", testPassword,
					"-mp", strconv.Itoa(testenv.FreeUDPPortPair(t)))
				var methods []string
				for _, x := range s.seen() {
					methods = append(methods, string(x.method)+"/"+x.id.PassedBy.String())
					if x.method == sipgosip.INVITE && x.id.User != "alice" {
						t.Fatalf("INVITE identity %+v", x.id)
					}
				}
				if got := strings.Join(methods, " "); !strings.Contains(got, "INVITE/digest") || !strings.Contains(got, "BYE/in-dialog") || !strings.Contains(got, "ACK/ack-cancel") {
					t.Fatalf("handler saw %s", got)
				}
				if !strings.Contains(s.logs.String(), `msg="challenged: no credentials for the realm" method=INVITE`) {
					t.Fatalf("no 407 challenge logged:\n%s", s.logs.String())
				}
			})

			t.Run("wrong password and unknown user get the same 401", func(t *testing.T) {
				s := startServer(t, GuardConfig{Tenants: tenantsFor(t, ""), Digest: sippDigest})
				runSipp(t, s, tr, "register_rejected.xml", "-s", "alice", "-au", "alice", "-ap", "guess")
				runSipp(t, s, tr, "register_rejected.xml", "-s", "mallory", "-au", "mallory", "-ap", testPassword)
				if len(s.seen()) != 0 || strings.Count(s.logs.String(), "authentication failed") != 2 {
					t.Fatalf("handler reached or failures not logged:\n%s", s.logs.String())
				}
				s.checkLogsClean(t)
			})

			t.Run("replayed nonce count", func(t *testing.T) {
				s := startServer(t, GuardConfig{Tenants: tenantsFor(t, ""), Digest: sippDigest})
				// sipp increments nc itself, so the test computes one answer
				// for a nonce of this server and has sipp send it twice
				ch := Challenge{Realm: "example.test", Nonce: s.guard.DigestServer().NewNonceFor("example.test", netip.MustParseAddr("127.0.0.1")), Algorithm: "MD5", QOP: []string{"auth"}}
				a := answer(t, ch, "REGISTER", "sip:"+s.addr, "alice", testPassword, 1, true)
				runSipp(t, s, tr, "register_replay.xml", "-s", "alice", "-key", "auth", a.String())
				if len(s.seen()) != 1 || !strings.Contains(s.logs.String(), "nonce count replayed") {
					t.Fatalf("replay not refused:\n%s", s.logs.String())
				}
			})

			t.Run("expired nonce gets stale=true and a re-challenge", func(t *testing.T) {
				s := startServer(t, GuardConfig{Tenants: tenantsFor(t, ""), Digest: DigestConfig{Algorithms: sippDigest.Algorithms, NonceLifetime: 2 * time.Second}})
				runSipp(t, s, tr, "register_stale.xml", "-s", "alice", "-au", "alice", "-ap", testPassword)
				if len(s.seen()) != 1 || !strings.Contains(s.logs.String(), "challenged: stale nonce") {
					t.Fatalf("stale path not taken:\n%s", s.logs.String())
				}
			})

			t.Run("refused source gets 403", func(t *testing.T) {
				s := startServer(t, GuardConfig{Tenants: tenantsFor(t, "10.0.0.0/8, 192.168.1.1-192.168.1.9"), Digest: sippDigest})
				runSipp(t, s, tr, "register_forbidden.xml", "-s", "alice")
				if len(s.seen()) != 0 {
					t.Fatal("handler reached")
				}
			})

			t.Run("malformed Authorization headers", func(t *testing.T) {
				s := startServer(t, GuardConfig{Tenants: tenantsFor(t, ""), Digest: sippDigest})
				runSipp(t, s, tr, "register_malformed.xml", "-s", "alice", "-au", "alice", "-ap", testPassword)
				if got := s.seen(); len(got) != 1 || got[0].id.User != "alice" {
					t.Fatalf("handler saw %+v", got)
				}
			})

			t.Run("lockout after repeated failures", func(t *testing.T) {
				s := startServer(t, GuardConfig{Tenants: tenantsFor(t, ""), Digest: sippDigest, Lockout: LockoutConfig{MaxFailures: 3}})
				runSippCalls(t, s, tr, 3, "register_rejected.xml", "-s", "alice", "-au", "alice", "-ap", "guess")
				if !s.guard.Blocked(netip.MustParseAddr("127.0.0.1")) {
					t.Fatal("not blocked after 3 failures")
				}
				// now even the right password gets nowhere
				runSipp(t, s, tr, "register_forbidden.xml", "-s", "alice", "-au", "alice", "-ap", testPassword)
				if len(s.seen()) != 0 {
					t.Fatal("handler reached")
				}
			})
		})
	}
}
