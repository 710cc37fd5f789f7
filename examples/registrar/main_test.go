package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/internal/sipptest"
	"github.com/voicegw/voicegw/internal/siptest"
	"github.com/voicegw/voicegw/sip"
)

func TestParseFlagsErrors(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		args []string
		env  string
		want string
	}{
		{[]string{}, "", "-realm is required"},
		{[]string{"-realm", "x", "-user", "bob:hunter2"}, "", "-user was removed: a password on the command line is visible"},
		{[]string{"-realm", "x", "-users", file("u1", "bob=hunter2\n")}, "", "line 1: want name:password (line not shown)"},
		{[]string{"-realm", "x", "-users", file("u2", "# users\n\na:1\n:hunter2\n")}, "", "line 4: empty user name"},
		{[]string{"-realm", "x"}, "a:1\na:hunter2", usersEnv + ` line 2: user "a" given twice`},
		{[]string{"-realm", "x", "-users", file("u3", "a:hunter2\n")}, "a:1", usersEnv + ` line 1: user "a" given twice`},
		{[]string{"-realm", "x", "-users", filepath.Join(dir, "missing")}, "", "no such file"},
		{[]string{"-realm", "x", "-allow", "10.0.0.1, 10.*.1.*, nope"}, "", `entry 2 " 10.*.1.*": wildcard octets must come last (10.1.*.*); entry 3 " nope": not an IP address`},
		{[]string{"-realm", "x", "-algorithm", "SHA-1"}, "", `unknown digest algorithm "SHA-1"`},
		{[]string{"-realm", "x", "-listen", "nowhere"}, "", `-listen "nowhere"`},
		{[]string{"-realm", "x", "-max-message-size", "0"}, "", `-max-message-size 0`},
		{[]string{"-realm", "x", "-gc-percent", "0"}, "", `-gc-percent 0`},
		{[]string{"-realm", "x", "-new-conn-rate", "0"}, "", `-new-conn-rate 0: want more than 0`},
		{[]string{"-realm", "x", "-new-conn-rate", "NaN"}, "", `-new-conn-rate NaN`},
		{[]string{"-realm", "x", "-new-conn-burst", "0"}, "", `-new-conn-burst 0: want 1 to 1048576`},
		{[]string{"-realm", "x", "-pprof", "nope"}, "", `-pprof "nope"`},
		{[]string{"-realm", "x", "extra"}, "", `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			_, err := parseFlags(tt.args, envWith(tt.env), &out)
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want usage error containing %q", err, tt.want)
			}
			if strings.Contains(err.Error()+out.String(), "hunter2") {
				t.Fatal("a password was printed")
			}
		})
	}
	c, err := parseFlags([]string{"-realm", "example.test", "-users", file("ok", "# team\nalice:a:b\n\n  bob : pw \n"), "-algorithm", "MD5, sha-256"}, envWith("carol:c"), &bytes.Buffer{})
	if err != nil || c.users["alice"].Reveal() != "a:b" || c.users["bob"].Reveal() != " pw" || c.users["carol"].Reveal() != "c" || len(c.algorithms) != 2 || c.algorithms[1] != "SHA-256" {
		t.Fatalf("%+v %v", c, err)
	}
	// a users file others can read: a warning, not a refusal
	loose := file("loose", "alice:pw\n")
	if err := os.Chmod(loose, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err = parseFlags([]string{"-realm", "x", "-users", loose}, envWith(""), &bytes.Buffer{})
	if err != nil || len(c.warnings) != 1 || !strings.Contains(c.warnings[0], "chmod 600") {
		t.Fatalf("%+v %v", c.warnings, err)
	}
}

// envWith is an environment holding REGISTRAR_USERS=users (when not empty).
func envWith(users string) func(string) string {
	return func(k string) string {
		if k == usersEnv {
			return users
		}
		return ""
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startRegistrar runs the registrar in-process on a free port, with users
// (name:password lines) in REGISTRAR_USERS.
func startRegistrar(t *testing.T, users string, args ...string) (addr string, logs *syncBuffer) {
	t.Helper()
	logs = &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-listen", "127.0.0.1:0"}, args...), envWith(users), logs, func(a string) { ready <- a })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("registrar: %v", err)
		}
	})
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("registrar did not start: %v\n%s", err, logs.String())
	case <-time.After(10 * time.Second):
		t.Fatal("registrar did not start")
	}
	return addr, logs
}

func TestRegistrarWithSipp(t *testing.T) {
	sipptest.Path(t)
	addr, logs := startRegistrar(t, "alice:s3cr3t-Pw", "-realm", "example.test", "-allow", "127.0.0.1", "-algorithm", "MD5")
	for _, tr := range []sipptest.Transport{sipptest.UDP, sipptest.TCP} {
		t.Run(string(tr), func(t *testing.T) {
			res, err := sipptest.Run(t, sipptest.Options{
				Scenario: "testdata/register_auth.xml", Remote: addr, Transport: tr, Calls: 3,
				Args: []string{"-s", "alice", "-au", "alice", "-ap", "s3cr3t-Pw"},
			})
			if err != nil {
				t.Fatalf("%v\n--- registrar log ---\n%s", err, logs.String())
			}
			if res.Successful != 3 {
				t.Fatalf("%d successful registrations", res.Successful)
			}
		})
	}
	if !strings.Contains(logs.String(), "binding added") || strings.Contains(logs.String(), "s3cr3t-Pw") {
		t.Fatalf("registrar log:\n%s", logs.String())
	}
}

type client struct {
	t    *testing.T
	c    *sipgo.Client
	addr string
	port int
}

func newClient(t *testing.T, addr string) *client {
	c, _ := siptest.NewClient(t, siptest.Config{})
	_, p, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(p)
	return &client{t: t, c: c, addr: addr, port: port}
}

func (c *client) register(user, pass string, contacts []string, expires string) *sipgosip.Response {
	c.t.Helper()
	req := sipgosip.NewRequest(sipgosip.REGISTER, sipgosip.Uri{Scheme: "sip", Host: "example.test", Port: c.port})
	req.SetDestination(c.addr)
	from := &sipgosip.FromHeader{Address: sipgosip.Uri{Scheme: "sip", User: user, Host: "example.test"}}
	from.Params.Add("tag", sipgosip.GenerateTagN(8))
	req.AppendHeader(from)
	req.AppendHeader(&sipgosip.ToHeader{Address: sipgosip.Uri{Scheme: "sip", User: user, Host: "example.test"}})
	for _, ct := range contacts {
		req.AppendHeader(sipgosip.NewHeader("Contact", ct))
	}
	if expires != "" {
		req.AppendHeader(sipgosip.NewHeader("Expires", expires))
	}
	return c.authDo(req, "alice", pass)
}

func (c *client) authDo(req *sipgosip.Request, user, pass string) *sipgosip.Response {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := c.c.Do(ctx, req)
	if err != nil {
		c.t.Fatal(err)
	}
	if res.StatusCode != 401 && res.StatusCode != 407 {
		return res
	}
	res, err = c.c.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: user, Password: pass})
	if err != nil {
		c.t.Fatal(err)
	}
	return res
}

func contactsOf(res *sipgosip.Response) []string {
	var out []string
	for _, h := range res.GetHeaders("Contact") {
		out = append(out, h.Value())
	}
	return out
}

// TestRegistrarBindings: the Contact lines go out as raw header text, so
// the registrar sees them through sipgo's parser as a peer would send them.
func TestRegistrarBindings(t *testing.T) {
	addr, logs := startRegistrar(t, "alice:pw-Alice\nbob:pw-Bob", "-realm", "example.test")
	c := newClient(t, addr)

	res := c.register("alice", "pw-Alice", []string{"<sip:alice@192.0.2.1:5060>", "<sip:alice@192.0.2.2:5060>;expires=120"}, "600")
	if res.StatusCode != 200 {
		t.Fatalf("REGISTER: %s", res.StartLine())
	}
	got := contactsOf(res)
	if len(got) != 2 || got[0] != "<sip:alice@192.0.2.1:5060>;expires=600" || got[1] != "<sip:alice@192.0.2.2:5060>;expires=120" {
		t.Fatalf("bindings %q", got)
	}
	if res.GetHeader("Date") == nil {
		t.Fatal("no Date")
	}

	// a query (no Contact) lists the bindings
	if got := contactsOf(c.register("alice", "pw-Alice", nil, "")); len(got) != 2 {
		t.Fatalf("query: %q", got)
	}
	// Expires 0 on one contact removes it
	if got := contactsOf(c.register("alice", "pw-Alice", []string{"<sip:alice@192.0.2.2:5060>"}, "0")); len(got) != 1 || !strings.HasPrefix(got[0], "<sip:alice@192.0.2.1:5060>") {
		t.Fatalf("after removing one: %q", got)
	}
	// too brief
	if res := c.register("alice", "pw-Alice", []string{"<sip:alice@192.0.2.3:5060>"}, "30"); res.StatusCode != 423 || res.GetHeader("Min-Expires").Value() != "60" {
		t.Fatalf("Expires 30: %s", res.StartLine())
	}
	// capped
	if got := contactsOf(c.register("alice", "pw-Alice", []string{"<sip:alice@192.0.2.4:5060>"}, "99999")); len(got) != 2 || !strings.HasSuffix(got[1], "expires=7200") {
		t.Fatalf("capped: %q", got)
	}
	// * needs Expires: 0
	if res := c.register("alice", "pw-Alice", []string{"*"}, "60"); res.StatusCode != 400 {
		t.Fatalf("* with Expires 60: %s", res.StartLine())
	}
	res = c.register("alice", "pw-Alice", []string{"*"}, "0")
	if res.StatusCode != 200 || len(contactsOf(res)) != 0 {
		t.Fatalf("* removal: %s %q", res.StartLine(), contactsOf(res))
	}
	if !strings.Contains(logs.String(), "removed all bindings") {
		t.Fatalf("log:\n%s", logs.String())
	}
}

func TestRegistrarOtherRequests(t *testing.T) {
	addr, logs := startRegistrar(t, "alice:pw-Alice\nbob:pw-Bob", "-realm", "example.test")
	c := newClient(t, addr)
	ctx := context.Background()

	// alice may not register bob's address-of-record
	req := sipgosip.NewRequest(sipgosip.REGISTER, sipgosip.Uri{Scheme: "sip", Host: "example.test", Port: c.port})
	req.SetDestination(c.addr)
	req.AppendHeader(&sipgosip.ToHeader{Address: sipgosip.Uri{Scheme: "sip", User: "bob", Host: "example.test"}})
	if res := c.authDo(req, "alice", "pw-Alice"); res.StatusCode != 403 {
		t.Fatalf("alice registering bob: %s", res.StartLine())
	}

	// OPTIONS: 200 without a challenge
	opt := sipgosip.NewRequest(sipgosip.OPTIONS, sipgosip.Uri{Scheme: "sip", Host: "example.test", Port: c.port})
	opt.SetDestination(c.addr)
	if res, err := c.c.Do(ctx, opt); err != nil || res.StatusCode != 200 {
		t.Fatalf("OPTIONS: %v %v", res, err)
	}

	// other methods: challenged with 407, then 501
	for _, m := range []sipgosip.RequestMethod{sipgosip.INVITE, sipgosip.MESSAGE, sipgosip.SUBSCRIBE} {
		r := sipgosip.NewRequest(m, sipgosip.Uri{Scheme: "sip", User: "bob", Host: "example.test", Port: c.port})
		r.SetDestination(c.addr)
		first, err := c.c.Do(ctx, r)
		if err != nil || first.StatusCode != 407 {
			t.Fatalf("%s: %v %v", m, first, err)
		}
		res, err := c.c.DoDigestAuth(ctx, r, first, sipgo.DigestAuth{Username: "bob", Password: "pw-Bob"})
		if err != nil || res.StatusCode != 501 {
			t.Fatalf("%s authenticated: %v %v", m, res, err)
		}
	}
	if strings.Contains(logs.String(), "pw-Bob") || strings.Contains(logs.String(), "pw-Alice") {
		t.Fatal("password logged")
	}
}

// TestRegistrarAllowlist: a source outside -allow reaches nothing: its
// datagrams are dropped before sipgo parses them (no answer at all), its
// TCP connections are closed at accept.
func TestRegistrarAllowlist(t *testing.T) {
	addr, _ := startRegistrar(t, "alice:pw", "-realm", "example.test", "-allow", "10.0.0.*, 2001:db8::/32")
	c := newClient(t, addr)
	opt := sipgosip.NewRequest(sipgosip.OPTIONS, sipgosip.Uri{Scheme: "sip", Host: "example.test", Port: c.port})
	opt.SetDestination(c.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if res, err := c.c.Do(ctx, opt); err == nil {
		t.Fatalf("OPTIONS from a refused source answered: %s", res.StartLine())
	}
	tc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	_ = tc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := tc.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("TCP connection from a refused source not closed: %v", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// FuzzParseUsers: whatever the input, parseUsers never puts a password in
// an error; and users written back as name:password lines parse to the
// same users (the round trip).
func FuzzParseUsers(f *testing.F) {
	f.Add("alice:secret\n# comment\n\nbob:a:b\n")
	f.Add("x=y\n:z\n")
	f.Add("dup:1\ndup:2\n")
	f.Fuzz(func(t *testing.T, text string) {
		users := sip.Users{}
		err := parseUsers(strings.NewReader(text), "input", users)
		if err != nil {
			for _, line := range strings.Split(text, "\n") {
				if _, pw, ok := strings.Cut(line, ":"); ok && len(strings.TrimSpace(pw)) > 6 && strings.Contains(err.Error(), strings.TrimSpace(pw)) && !strings.Contains(line[:strings.Index(line, ":")], strings.TrimSpace(pw)) {
					t.Fatalf("a password is in the error %q", err)
				}
			}
			return
		}
		var b strings.Builder
		for name, pw := range users {
			b.WriteString(name + ":" + pw.Reveal() + "\n")
		}
		again := sip.Users{}
		if err := parseUsers(strings.NewReader(b.String()), "again", again); err != nil {
			t.Fatalf("users written back do not parse: %v\n%q", err, b.String())
		}
		if len(again) != len(users) {
			t.Fatalf("%d users, %d after the round trip", len(users), len(again))
		}
		for name, pw := range users {
			if again[name].Reveal() != pw.Reveal() {
				t.Fatalf("user %q changed in the round trip", name)
			}
		}
	})
}
