// Command registrar is a small reference SIP registrar built from the sip
// package's Guard: IP allowlist, then digest authentication, then a
// registrar (RFC 3261 §10.3) that keeps bindings in memory.
//
//	REGISTRAR_USERS='alice:secret' go run ./examples/registrar -listen 127.0.0.1:5060 \
//	    -realm example.test [-users FILE] [-allow 127.0.0.1,10.0.0.*] [-algorithm MD5|SHA-256]
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
// # Users
//
// Users come from a file (-users FILE) and from the environment variable
// REGISTRAR_USERS, never from the command line, which every local user
// can read in /proc/PID/cmdline (the -user flag of earlier versions is
// refused with a message saying so). Both hold one "name:password" per
// line; blank lines and lines starting with # are skipped; a password may
// contain colons. A file readable by other users than its owner gets a
// warning (chmod 600 it). The program removes REGISTRAR_USERS from its
// environment once read, so processes it starts do not inherit it.
//
// # At the edge
//
// The registrar is meant to face the internet (see the sip package's
// documentation for each defence):
//
//   - it raises its open-file limit to the hard limit at start and caps
//     its TCP connections below it (-max-conns, default the limit less 64,
//     at most 4096), in total and per source (-max-conns-per-source,
//     default 128); accept errors such as "too many open files" are
//     survived; one source opens at most -new-conn-rate connections a
//     second (default 10) after a burst of -new-conn-burst (default 20),
//     the others closed at accept (phones behind one NAT share a source:
//     raise both, as -max-conns-per-source, for a registrar that serves
//     many);
//   - -allow is applied before sipgo parses anything: a refused source's
//     TCP connection is closed at accept and its UDP datagrams are dropped
//     unanswered;
//   - a TCP connection must deliver a complete message within
//     -message-timeout (default 30 s) and is closed after -idle-timeout
//     (default 2 h) without a message or keep-alive;
//   - messages over -max-message-size (default 65,535 bytes) are answered
//     513 over either transport, and UDP datagrams up to that size are
//     read whole (sipgo's 32 KiB read buffer is raised);
//   - qop=auth is required; -allow-rfc2069 accepts the qop-less answers
//     of old clients, each once;
//   - every answer goes out once, statelessly, never retransmitted: the
//     Guard's challenges and refusals (over UDP never more than 1.5 times
//     the size of the request) and the registrar's own, the 200 included,
//     so no transaction state is kept; a client that missed a 200 and
//     sends its REGISTER again gets it again, and the retransmission is
//     not applied twice (the Guard marks it Identity.Retransmission);
//   - what sipgo logs is filtered: no digest material, bounded excerpts,
//     repeated lines rate-limited.
//
// The registrar serves one realm and accepts any Request-URI host, so it
// can be reached by IP address (as sipp does). -algorithm takes one
// algorithm or a comma-separated list, offered in that order; the default
// is SHA-512-256,SHA-256,MD5. sipp answers only MD5 and only the first
// challenge: use -algorithm MD5 for it. Logs go to stderr with log/slog.
// -pprof ADDR serves Go's profiles (net/http/pprof) on ADDR, for the load
// harness (examples/registrar/loadtest -pprof DIR).
//
// # Performance
//
// Over UDP the registrar answers from the sip.PacketConn's reading
// goroutine, the way Kamailio's UDP workers do: the Guard's fast path
// sends the 401 to a REGISTER without credentials before sipgo parses it,
// and REGISTER and OPTIONS are handled statelessly (sip.PacketConnConfig
// Guard and Stateless), so sipgo's transaction layer, its goroutine per
// request and its timers are not used for them. -udp-readers sets the
// reading goroutines (default 1, the least CPU per registration measured);
// -gc-percent (default 400) the Go collector's target. BENCHMARKS.md has
// the figures against Kamailio (examples/registrar/loadtest).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/emiago/sipgo"
	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/internal/buildinfo"
	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/sip"
	"github.com/voicegw/voicegw/sip/fdlimit"
)

// usersEnv is the environment variable that may hold users.
const usersEnv = "REGISTRAR_USERS"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// A program may set sipgo's package variables, a library may not; run
	// does not, so tests can start several.
	//
	// sipgo logs some connection bookkeeping through its package default
	// logger: filter it like the rest of what sipgo logs.
	stderr := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	sipgosip.SetDefaultLogger(sip.FilterLogger(stderr.With("component", "sipgo"), sip.LogFilterConfig{}))
	// read UDP datagrams whole up to the largest payload (sipgo reads 32
	// KiB by default and hands on the rest cut); sip.PacketConn answers
	// 513 above -max-message-size.
	sipgosip.TransportBufferReadSize = 65535

	users := os.Getenv(usersEnv)
	_ = os.Unsetenv(usersEnv) // not for the processes this one might start
	err := run(ctx, os.Args[1:], func(k string) string {
		switch k {
		case usersEnv:
			return users
		case "GOGC":
			return os.Getenv(k)
		}
		return ""
	}, os.Stderr, nil)
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
	listen       string
	realm        string
	users        sip.Users
	usersFile    string // empty: none
	allow        sip.Allowlist
	algorithms   []sip.Algorithm
	allow2069    bool
	maxConns     int // 0: from the open-file limit
	perSource    int
	connRate     float64
	connBurst    int
	msgTimeout   time.Duration
	idleTimeout  time.Duration
	maxMessage   int
	pprof        string // empty: no profiling endpoint
	udpReaders   int    // 0: the PacketConn's default
	gcPercent    int
	warnings     []string // said once logging is up
	usersSources []string
}

// userFlag refuses -user: passwords on the command line are visible to
// every local user in /proc/PID/cmdline.
type userFlag struct{ err error }

func (u *userFlag) String() string { return "" }

func (u *userFlag) Set(string) error {
	// the value is not quoted: it holds a password
	u.err = fmt.Errorf("-user was removed: a password on the command line is visible to every local user (/proc/PID/cmdline); put name:password lines in -users FILE (chmod 600) or in %s", usersEnv)
	return nil
}

func parseFlags(args []string, getenv func(string) string, out io.Writer) (config, error) {
	fs := flag.NewFlagSet("registrar", flag.ContinueOnError)
	fs.SetOutput(out)
	listen := fs.String("listen", "127.0.0.1:5060", "UDP and TCP address to listen on (port 0: any free port)")
	realm := fs.String("realm", "", "digest realm (required), for example example.test")
	usersFile := fs.String("users", "", "`file` of users, one name:password per line (also: the "+usersEnv+" environment variable)")
	user := &userFlag{}
	fs.Var(user, "user", "removed: refused (use -users FILE or "+usersEnv+")")
	allow := fs.String("allow", "", "comma-separated allowlist: 203.0.113.7, 10.0.0.*, 192.0.2.0/24, 10.1.1.1-10.1.1.9, IPv6 address or prefix (default: every address)")
	algs := fs.String("algorithm", "", "digest algorithm(s) to offer, in order: MD5, SHA-256, SHA-512-256, or a comma-separated list (default SHA-512-256,SHA-256,MD5)")
	allow2069 := fs.Bool("allow-rfc2069", false, "accept digest answers without qop (RFC 2069) from old clients, each answer once (default: qop=auth required)")
	maxConns := fs.Int("max-conns", 0, "most TCP connections open at once (default: the open-file limit less 64, at most 4096)")
	perSource := fs.Int("max-conns-per-source", sip.DefaultMaxConnsPerSource, "most TCP connections of one source address (IPv6: /64)")
	connRate := fs.Float64("new-conn-rate", sip.DefaultNewConnRate, "new TCP connections a second of one source address (IPv6: /64), after a burst of -new-conn-burst; faster ones are closed at accept (negative: no limit)")
	connBurst := fs.Int("new-conn-burst", sip.DefaultNewConnBurst, "new TCP connections one source address may open at once")
	msgTimeout := fs.Duration("message-timeout", sip.DefaultMessageTimeout, "time a TCP connection has to deliver a complete message (the first from connecting)")
	idleTimeout := fs.Duration("idle-timeout", sip.DefaultIdleTimeout, "TCP connections without a message or keep-alive for this long are closed (negative: never)")
	maxMessage := fs.Int("max-message-size", sip.DefaultMaxMessageSize, "largest SIP message in bytes; larger ones are answered 513")
	gcPercent := fs.Int("gc-percent", 400, "Go's GC percentage (debug.SetGCPercent; the GOGC environment variable wins when set): the registrar's live heap is a few MB, so the default 100 collects many times a second under load; 400 trades a few MB for fewer collections")
	udpReaders := fs.Int("udp-readers", 0, "goroutines reading the UDP socket (default 1; see sip.PacketConnConfig.Readers)")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof on this `address` (a loopback one: it is unauthenticated), for profiling under load")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return config{}, err
		}
		return config{}, fmt.Errorf("%w: %v", errUsage, err)
	}
	if *showVersion {
		fmt.Fprintln(fs.Output(), "registrar", buildinfo.Read(version, commit))
		return config{}, flag.ErrHelp
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if user.err != nil {
		return config{}, fmt.Errorf("%w: %v", errUsage, user.err)
	}
	c := config{
		listen: *listen, realm: *realm, users: sip.Users{}, usersFile: *usersFile, allow2069: *allow2069,
		maxConns: *maxConns, perSource: *perSource, connRate: *connRate, connBurst: *connBurst, msgTimeout: *msgTimeout, idleTimeout: *idleTimeout, maxMessage: *maxMessage,
		pprof: *pprofAddr, udpReaders: *udpReaders, gcPercent: *gcPercent,
	}
	if c.realm == "" {
		return config{}, fmt.Errorf("%w: -realm is required", errUsage)
	}
	if _, _, err := net.SplitHostPort(c.listen); err != nil {
		return config{}, fmt.Errorf("%w: -listen %q: %v", errUsage, c.listen, err)
	}
	if c.maxMessage <= 0 || c.maxMessage > 1<<24 {
		return config{}, fmt.Errorf("%w: -max-message-size %d: want 1 to 16777216", errUsage, c.maxMessage)
	}
	if c.gcPercent <= 0 {
		return config{}, fmt.Errorf("%w: -gc-percent %d: want a positive percentage", errUsage, c.gcPercent)
	}
	if c.pprof != "" {
		if _, _, err := net.SplitHostPort(c.pprof); err != nil {
			return config{}, fmt.Errorf("%w: -pprof %q: %v", errUsage, c.pprof, err)
		}
	}
	if !(c.connRate < 0 || (c.connRate > 0 && c.connRate <= 1e6)) {
		return config{}, fmt.Errorf("%w: -new-conn-rate %v: want more than 0 and at most 1000000 a second (negative: no limit)", errUsage, c.connRate)
	}
	if c.connBurst < 1 || c.connBurst > 1<<20 {
		return config{}, fmt.Errorf("%w: -new-conn-burst %d: want 1 to 1048576", errUsage, c.connBurst)
	}
	if c.msgTimeout <= 0 {
		return config{}, fmt.Errorf("%w: -message-timeout %s: want a positive duration", errUsage, c.msgTimeout)
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
	if c.usersFile != "" {
		f, err := os.Open(c.usersFile)
		if err != nil {
			return config{}, fmt.Errorf("%w: -users: %v", errUsage, err)
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.Mode().Perm()&0o077 != 0 {
			c.warnings = append(c.warnings, fmt.Sprintf("the users file %s is readable by other users than its owner (mode %04o): chmod 600 it", c.usersFile, st.Mode().Perm()))
		}
		if err := parseUsers(f, c.usersFile, c.users); err != nil {
			return config{}, fmt.Errorf("%w: %v", errUsage, err)
		}
		c.usersSources = append(c.usersSources, c.usersFile)
	}
	if v := getenv(usersEnv); v != "" {
		if err := parseUsers(strings.NewReader(v), usersEnv, c.users); err != nil {
			return config{}, fmt.Errorf("%w: %v", errUsage, err)
		}
		c.usersSources = append(c.usersSources, usersEnv)
	}
	return c, nil
}

// parseUsers reads name:password lines from r into users. Errors name the
// origin and line, never the password.
func parseUsers(r io.Reader, origin string, users sip.Users) error {
	sc := bufio.NewScanner(r)
	var errs []error
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, pw, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		switch _, dup := users[name]; {
		case !ok:
			errs = append(errs, fmt.Errorf("%s line %d: want name:password (line not shown)", origin, n))
		case name == "":
			errs = append(errs, fmt.Errorf("%s line %d: empty user name", origin, n))
		case pw == "":
			errs = append(errs, fmt.Errorf("%s line %d (%q): empty password", origin, n, name))
		case dup:
			errs = append(errs, fmt.Errorf("%s line %d: user %q given twice", origin, n, name))
		default:
			users[name] = secret.String(pw)
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", origin, err))
	}
	return errors.Join(errs...)
}

// run parses args, serves until ctx is done, and returns. getenv reads the
// environment (REGISTRAR_USERS, GOGC). ready, when not nil, is called with the
// bound address once both transports listen.
func run(ctx context.Context, args []string, getenv func(string) string, logOut io.Writer, ready func(addr string)) error {
	cfg, err := parseFlags(args, getenv, logOut)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelInfo}))
	for _, w := range cfg.warnings {
		log.Warn(w)
	}
	if len(cfg.users) == 0 {
		log.Warn("no users (-users FILE or " + usersEnv + "): nobody can register")
	}

	// file descriptors: as many as the system lets this process have, and
	// TCP connections capped below that
	lim, err := fdlimit.Raise()
	if err != nil && !errors.Is(err, fdlimit.ErrUnsupported) {
		log.Warn("could not raise the open-file limit", "error", err)
	}
	maxConns := cfg.maxConns
	if maxConns == 0 {
		maxConns = sip.DefaultMaxConns
		if lim.Soft > 0 {
			maxConns = min(maxConns, fdlimit.ConnBudget(lim, 64))
		}
	}

	if getenv("GOGC") == "" {
		debug.SetGCPercent(cfg.gcPercent)
	}
	if cfg.pprof != "" {
		stopPprof, err := servePprof(cfg.pprof, log)
		if err != nil {
			return err
		}
		defer stopPprof()
	}

	guard, err := sip.NewGuard(sip.GuardConfig{
		Tenants: sip.SingleTenant(sip.Tenant{
			ID:          cfg.realm,
			Realm:       cfg.realm,
			Allowlist:   cfg.allow,
			Credentials: cfg.users,
		}),
		Digest:               sip.DigestConfig{Algorithms: cfg.algorithms, AllowRFC2069: cfg.allow2069},
		AllowlistOnlyMethods: []sipgosip.RequestMethod{sipgosip.OPTIONS},
		Logger:               log.With("component", "guard"),
	})
	if err != nil {
		return err
	}

	sipgoLog := sip.FilterLogger(log.With("component", "sipgo"), sip.LogFilterConfig{})
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent("voicegw-registrar"),
		sipgo.WithUserAgentParser(sip.NewSipgoParser(cfg.maxMessage)),
		sipgo.WithUserAgentTransportLayerOptions(sipgosip.WithTransportLayerLogger(sipgoLog)),
		sipgo.WithUserAgentTransactionLayerOptions(sipgosip.WithTransactionLayerLogger(sipgoLog)),
	)
	if err != nil {
		return err
	}
	defer ua.Close()
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(sipgoLog))
	if err != nil {
		return err
	}

	reg := newRegistrar(cfg.realm, log.With("component", "registrar"))
	register, options := guard.Wrap(reg.handleRegister), guard.Wrap(answer(200, "OK"))
	srv.OnRegister(register.Sipgo(ctx))
	srv.OnOptions(options.Sipgo(ctx))
	srv.OnAck(guard.Wrap(func(context.Context, *sipgosip.Request, sipgosip.ServerTransaction) {}).Sipgo(ctx))
	srv.OnCancel(guard.Wrap(answer(481, "Call/Transaction Does Not Exist")).Sipgo(ctx))
	srv.OnNoRoute(guard.Wrap(answer(501, "Not Implemented")).Sipgo(ctx))

	rawPC, rawL, err := listenBoth(cfg.listen)
	if err != nil {
		return err
	}
	var allow func(netip.Addr) bool
	if !cfg.allow.IsEmpty() {
		allow = cfg.allow.Allows
	}
	transportLog := log.With("component", "transport")
	// over UDP, the Guard's fast path answers challenges and refusals as
	// datagrams arrive, before sipgo parses them, and REGISTER and OPTIONS
	// are handled statelessly on the PacketConn's readers, without sipgo's
	// transaction layer (over TCP, sipgo serves them as above)
	pc := sip.NewPacketConn(rawPC, sip.PacketConnConfig{
		Allow: allow, MaxMessageSize: cfg.maxMessage, Logger: transportLog,
		Guard:     guard,
		Stateless: map[sipgosip.RequestMethod]sip.Handler{sipgosip.REGISTER: register, sipgosip.OPTIONS: options},
		// the handlers only read and write the in-memory bindings: their
		// answers may wait for the end of the reader's batch
		BatchStateless: true,
		Readers:        cfg.udpReaders,
	})
	l := sip.NewListener(rawL, sip.ListenerConfig{
		Allow: allow, MaxConns: maxConns, MaxConnsPerSource: cfg.perSource, NewConnRate: cfg.connRate, NewConnBurst: cfg.connBurst,
		MessageTimeout: cfg.msgTimeout, IdleTimeout: cfg.idleTimeout, MaxMessageSize: cfg.maxMessage,
		Logger: transportLog,
	})
	addr := pc.LocalAddr().String()
	log.Info("listening", "udp", addr, "tcp", l.Addr().String(), "realm", cfg.realm,
		"users", len(cfg.users), "users_from", strings.Join(cfg.usersSources, ","), "allowlist", cfg.allow.String(),
		"algorithms", guard.DigestServer().Algorithms(), "rfc2069", cfg.allow2069,
		"fd_soft", lim.Soft, "fd_hard", lim.Hard, "max_conns", maxConns, "max_conns_per_source", cfg.perSource,
		"new_conn_rate", cfg.connRate, "new_conn_burst", cfg.connBurst,
		"message_timeout", cfg.msgTimeout, "idle_timeout", cfg.idleTimeout, "max_message_size", cfg.maxMessage)

	errc := make(chan error, 2)
	go func() { errc <- srv.ServeUDP(pc) }()
	go func() { errc <- srv.ServeTCP(l) }()
	if ready != nil {
		ready(addr)
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down", "tcp", l.Stats(), "udp", pc.Stats())
		_ = pc.Close()
		_ = l.Close()
		return nil
	case err := <-errc:
		_ = pc.Close()
		_ = l.Close()
		return fmt.Errorf("serve: %w", err)
	}
}

// answer returns a handler that answers every request with code (ACK
// excepted), statelessly: none of these answers creates state.
func answer(code int, reason string) sip.Handler {
	return func(_ context.Context, req *sipgosip.Request, tx sipgosip.ServerTransaction) {
		if req.IsAck() {
			return
		}
		_ = sip.RespondStateless(tx, sipgosip.NewResponseFromRequest(req, code, reason, nil))
	}
}

// servePprof serves net/http/pprof's handlers on addr until the returned
// function is called.
func servePprof(addr string, log *slog.Logger) (stop func(), err error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	log.Info("pprof listening", "addr", l.Addr().String())
	return func() { _ = srv.Close() }, nil
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

// version and commit describe the build, set by the linker
// (-ldflags "-X main.version=v1.2.3 -X main.commit=..."); see -version.
var version, commit string
