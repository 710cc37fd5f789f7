// Command registrar is a small reference SIP registrar built from the sip
// package's Guard: IP allowlist, then digest authentication, then a
// registrar (RFC 3261 §10.3) that keeps bindings in memory.
//
//	go run ./examples/registrar -listen 127.0.0.1:5060 -realm example.test \
//	    -user alice:secret [-user bob:pw ...] [-allow 127.0.0.1,10.0.0.*] \
//	    [-algorithm MD5|SHA-256]
//
// It listens on UDP and TCP at the -listen address (port 0 picks one free
// port for both). Every request passes the Guard first: a source outside
// -allow gets 403; then
//
//   - REGISTER is challenged (401) and, authenticated, stores the bindings
//     of its Contact headers, honouring Expires (header or contact
//     parameter; 0 removes; between 60 s and 7200 s, default 3600) and
//     "Contact: *" with Expires: 0 (remove all). Users may register only
//     their own address-of-record (To user = digest user), else 403;
//   - OPTIONS answers 200 without a challenge (keepalives);
//   - every other request is challenged (407) and, authenticated, answered
//     501 Not Implemented (CANCEL: 481, ACK: nothing).
//
// The registrar serves one realm and accepts any Request-URI host, so it
// can be reached by IP address (as sipp does). -algorithm takes one
// algorithm or a comma-separated list, offered in that order; the default
// is SHA-512-256,SHA-256,MD5. sipp answers only MD5 and only the first
// challenge: use -algorithm MD5 for it. Logs go to stderr with log/slog.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/emiago/sipgo"
	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/sip"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// sipgo logs some connection bookkeeping through its package default
	// logger; give it the same format as ours. (A program may set globals,
	// a library may not; run does not, so tests can start several.)
	sipgosip.SetDefaultLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("component", "sipgo"))
	err := run(ctx, os.Args[1:], os.Stderr, nil)
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "registrar:", err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "registrar:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

// config is the parsed command line.
type config struct {
	listen     string
	realm      string
	users      sip.Users
	allow      sip.Allowlist
	algorithms []sip.Algorithm
}

// userFlag collects repeated -user name:password values.
type userFlag struct {
	users sip.Users
	n     int
	err   error // kept here: the flag package would quote the value, password and all
}

func (u *userFlag) String() string { return "" }

func (u *userFlag) Set(v string) error {
	u.n++
	name, pw, ok := strings.Cut(v, ":")
	var err error
	switch {
	case !ok:
		err = fmt.Errorf("-user #%d: want name:password (value not shown)", u.n)
	case name == "":
		err = fmt.Errorf("-user #%d: empty user name", u.n)
	case pw == "":
		err = fmt.Errorf("-user #%d (%q): empty password", u.n, name)
	default:
		if _, dup := u.users[name]; dup {
			err = fmt.Errorf("-user #%d: user %q given twice", u.n, name)
		}
	}
	if err != nil {
		u.err = errors.Join(u.err, err)
		return nil
	}
	u.users[name] = sip.Secret(pw)
	return nil
}

func parseFlags(args []string, out io.Writer) (config, error) {
	fs := flag.NewFlagSet("registrar", flag.ContinueOnError)
	fs.SetOutput(out)
	listen := fs.String("listen", "127.0.0.1:5060", "UDP and TCP address to listen on (port 0: any free port)")
	realm := fs.String("realm", "", "digest realm (required), for example example.test")
	users := &userFlag{users: sip.Users{}}
	fs.Var(users, "user", "user `name:password`; repeat for more users")
	allow := fs.String("allow", "", "comma-separated allowlist: 203.0.113.7, 10.0.0.*, 192.0.2.0/24, 10.1.1.1-10.1.1.9, IPv6 address or prefix (default: every address)")
	algs := fs.String("algorithm", "", "digest algorithm(s) to offer, in order: MD5, SHA-256, SHA-512-256, or a comma-separated list (default SHA-512-256,SHA-256,MD5)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return config{}, err
		}
		return config{}, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if users.err != nil {
		return config{}, fmt.Errorf("%w: %v", errUsage, users.err)
	}
	c := config{listen: *listen, realm: *realm, users: users.users}
	if c.realm == "" {
		return config{}, fmt.Errorf("%w: -realm is required", errUsage)
	}
	if _, _, err := net.SplitHostPort(c.listen); err != nil {
		return config{}, fmt.Errorf("%w: -listen %q: %v", errUsage, c.listen, err)
	}
	var err error
	if c.allow, err = sip.ParseAllowlist(*allow); err != nil {
		return config{}, fmt.Errorf("%w: -allow: %v", errUsage, err)
	}
	if *algs != "" {
		for _, a := range strings.Split(*algs, ",") {
			alg, err := sip.ParseAlgorithm(strings.TrimSpace(a))
			if err != nil {
				return config{}, fmt.Errorf("%w: -algorithm: %v", errUsage, err)
			}
			c.algorithms = append(c.algorithms, alg)
		}
	}
	return c, nil
}

// run parses args, serves until ctx is done, and returns. ready, when not
// nil, is called with the bound address once both transports listen.
func run(ctx context.Context, args []string, logOut io.Writer, ready func(addr string)) error {
	cfg, err := parseFlags(args, logOut)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if len(cfg.users) == 0 {
		log.Warn("no -user given: nobody can register")
	}

	guard, err := sip.NewGuard(sip.GuardConfig{
		Tenants: sip.SingleTenant(sip.Tenant{
			ID:          cfg.realm,
			Realm:       cfg.realm,
			Allowlist:   cfg.allow,
			Credentials: cfg.users,
		}),
		Digest:               sip.DigestConfig{Algorithms: cfg.algorithms},
		AllowlistOnlyMethods: []sipgosip.RequestMethod{sipgosip.OPTIONS},
		Logger:               log.With("component", "guard"),
	})
	if err != nil {
		return err
	}

	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent("voicegw-registrar"),
		sipgo.WithUserAgentTransportLayerOptions(sipgosip.WithTransportLayerLogger(log.With("component", "sipgo"))),
		sipgo.WithUserAgentTransactionLayerOptions(sipgosip.WithTransactionLayerLogger(log.With("component", "sipgo"))),
	)
	if err != nil {
		return err
	}
	defer ua.Close()
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(log.With("component", "sipgo")))
	if err != nil {
		return err
	}

	reg := newRegistrar(cfg.realm, log.With("component", "registrar"))
	srv.OnRegister(guard.Wrap(reg.handleRegister).Sipgo(ctx))
	srv.OnOptions(guard.Wrap(answer(200, "OK")).Sipgo(ctx))
	srv.OnAck(guard.Wrap(func(context.Context, *sipgosip.Request, sipgosip.ServerTransaction) {}).Sipgo(ctx))
	srv.OnCancel(guard.Wrap(answer(481, "Call/Transaction Does Not Exist")).Sipgo(ctx))
	srv.OnNoRoute(guard.Wrap(answer(501, "Not Implemented")).Sipgo(ctx))

	pc, l, err := listenBoth(cfg.listen)
	if err != nil {
		return err
	}
	addr := pc.LocalAddr().String()
	log.Info("listening", "udp", addr, "tcp", l.Addr().String(), "realm", cfg.realm,
		"users", len(cfg.users), "allowlist", cfg.allow.String(), "algorithms", guard.DigestServer().Algorithms())

	errc := make(chan error, 2)
	go func() { errc <- srv.ServeUDP(pc) }()
	go func() { errc <- srv.ServeTCP(l) }()
	if ready != nil {
		ready(addr)
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down")
		_ = pc.Close()
		_ = l.Close()
		return nil
	case err := <-errc:
		_ = pc.Close()
		_ = l.Close()
		return fmt.Errorf("serve: %w", err)
	}
}

// answer returns a handler that answers every request with code (ACK excepted).
func answer(code int, reason string) sip.Handler {
	return func(_ context.Context, req *sipgosip.Request, tx sipgosip.ServerTransaction) {
		if req.IsAck() {
			return
		}
		_ = tx.Respond(sipgosip.NewResponseFromRequest(req, code, reason, nil))
	}
}

// listenBoth listens for UDP and TCP on one address; with port 0 it takes a
// free UDP port and the same TCP port, retrying if that one is taken.
func listenBoth(addr string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, err
	}
	tries := 1
	if port == "0" {
		tries = 20
	}
	for range tries {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("listen udp %s: %w", addr, err)
		}
		_, p, _ := net.SplitHostPort(pc.LocalAddr().String())
		l, err := net.Listen("tcp", net.JoinHostPort(host, p))
		if err == nil {
			if u, ok := pc.(*net.UDPConn); ok {
				// absorb bursts rather than drop them (capped by net.core.rmem_max)
				_ = u.SetReadBuffer(4 << 20)
			}
			return pc, l, nil
		}
		_ = pc.Close()
		if tries == 1 {
			return nil, nil, fmt.Errorf("listen tcp %s: %w", addr, err)
		}
	}
	return nil, nil, fmt.Errorf("no port free for both UDP and TCP on %s", host)
}
