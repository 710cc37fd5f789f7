// Command loadtest measures examples/registrar against Kamailio, the
// anchor, in the same run: both get the same sipp command at the same
// rates, in alternating steps, and it prints for each the throughput with
// no retransmission, the CPU per registration, and their ratio.
//
// Run from the module root:
//
//	go run ./examples/registrar/loadtest [-rates 4000,8000,12000,16000,20000,24000] [-step 8s]
//	    [-servers kamailio,registrar] [-transport udp|tcp] [-pprof DIR]
//
// It builds examples/registrar and starts it as its own process (-realm
// example.test -allow 127.0.0.1 -algorithm MD5, user alice:secret in
// REGISTRAR_USERS), starts Kamailio from the Debian package with
// testdata/kamailio-registrar.cfg (the same realm, user and algorithm;
// stateless: no tm module), and drives each with sipp's register_auth.xml:
// REGISTER → 401 → REGISTER with Authorization → 200, so one challenge and
// one digest verification per registration. Without Kamailio (apt-get
// install -y kamailio) it says so and measures the registrar alone.
//
// Every step is one sipp run at a fixed call rate for -step, with
// -buff_size 4194304 (sipp's socket buffers: with the default ones sipp
// loses datagrams long before a server is busy), one UDP socket (-t u1;
// -sipp-mode un gives each call its own socket and source port, bounded
// by -max_socket), no -rate_increase (a step holds one rate: the ramp is
// the list of rates). For each step it prints:
//
//   - sipp's calls: successful, failed, and retransmissions (its
//     Retransmissions(C) counter: a server that keeps up over UDP causes
//     none);
//   - the achieved rate (successful calls / sipp's run time);
//   - the server's CPU over the step: utime + stime from /proc/PID/stat of
//     the registrar, or of Kamailio's main process and every worker it
//     forked, summed; per registration in µs;
//   - sipp's own CPU (its rusage), flagged when it used 90% of a core or
//     more (sipp is single-threaded: it, not the server, may then be the
//     limit, and the step says so).
//
// A step is clean when every call succeeded with no retransmission and the
// achieved rate is at least 95% of the offered one. A server that fails
// two steps in a row is not tried at higher rates. The summary gives, per
// server, the highest clean rate (the throughput at zero retransmissions)
// and the registrar's ratio to Kamailio's; then the ratio of their CPU
// per registration at every rate both ran (saying where a step was not
// clean: retransmitted requests are answered again, which inflates it).
//
// -baseline DIR measures an older registrar too, in the same run (built
// from another checkout of the module, with its own defaults), so the
// before and after figures share their conditions:
//
//	mkdir /tmp/base && git archive b14ac3e | tar -x -C /tmp/base
//	go run ./examples/registrar/loadtest -baseline /tmp/base
//
// The machine is shared: run the final figures when it is quiet (the
// header prints the load average before and after).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/voicegw/voicegw/internal/sipptest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

// The user, realm and algorithm both servers are configured with.
const (
	realm    = "example.test"
	user     = "alice"
	password = "secret"
)

// server is one system under test.
type server struct {
	name string
	addr string
	pids func() []int
	// profile, when not nil, writes a CPU profile of d to path.
	profile func(ctx context.Context, d time.Duration, path string) error
	stop    func()
}

// step is one sipp run against one server.
type step struct {
	server    string
	rate      int
	calls     int
	ok        int
	failed    int
	retrans   int
	elapsed   time.Duration
	serverCPU time.Duration
	sippCPU   time.Duration
	why       string // why the step is not clean; "" when it is
}

func (s step) achieved() float64 { return float64(s.ok) / s.elapsed.Seconds() }
func (s step) clean() bool       { return s.why == "" }

// perReg is the server's CPU per successful registration.
func (s step) perReg() time.Duration {
	if s.ok <= 0 {
		return 0
	}
	return s.serverCPU / time.Duration(s.ok)
}

func (s step) sippShare() float64 { return s.sippCPU.Seconds() / s.elapsed.Seconds() }

type options struct {
	transport sipptest.Transport
	sippMode  string
	maxSocket int
	rates     []int
	stepDur   time.Duration
	settle    time.Duration
	servers   []string
	scenario  string
	kamailio  string
	children  int
	pprofDir  string
	regFlags  []string
	baseline  string // module directory of a registrar to measure too, as "baseline"
}

func parseOptions(args []string, out io.Writer) (options, error) {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(out)
	transport := fs.String("transport", "udp", "udp or tcp")
	sippMode := fs.String("sipp-mode", "1", "sipp's sockets: 1 (-t u1/t1: one socket) or n (-t un/tn: one per call, each a new source port)")
	maxSocket := fs.Int("max-socket", 1024, "sipp's -max_socket with -sipp-mode n")
	rates := fs.String("rates", "4000,8000,12000,16000,20000,24000,28000", "offered registration rates, one step each, in order")
	stepDur := fs.Duration("step", 8*time.Second, "how long each rate is held")
	settle := fs.Duration("settle", 3*time.Second, "pause between steps")
	servers := fs.String("servers", "kamailio,registrar", "servers to measure, in the order each rate runs them (alternating from one rate to the next)")
	scenario := fs.String("scenario", "examples/registrar/testdata/register_auth.xml", "sipp scenario")
	kam := fs.String("kamailio", "kamailio", "Kamailio binary")
	children := fs.Int("kamailio-children", 2, "Kamailio worker processes per listen socket (children=, tcp_children=)")
	pprofDir := fs.String("pprof", "", "write a CPU profile of the registrar for each of its steps into this directory")
	regFlags := fs.String("registrar-flags", "", "more flags for the registrar, space-separated (-udp-readers 1…)")
	baseline := fs.String("baseline", "", "also measure, as \"baseline\", examples/registrar built from this module `directory` (an older checkout: git archive REV | tar -x -C DIR), with its defaults")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	o := options{
		maxSocket: *maxSocket, stepDur: *stepDur, settle: *settle, scenario: *scenario,
		kamailio: *kam, children: *children, pprofDir: *pprofDir, regFlags: strings.Fields(*regFlags),
		baseline: *baseline,
	}
	switch *transport + *sippMode {
	case "udp1":
		o.transport = sipptest.UDP
	case "tcp1":
		o.transport = sipptest.TCP
	case "udpn":
		o.transport = "un"
	case "tcpn":
		o.transport = "tn"
	default:
		return o, fmt.Errorf("-transport %q -sipp-mode %q: want udp or tcp, and 1 or n", *transport, *sippMode)
	}
	o.sippMode = *sippMode
	for _, r := range strings.Split(*rates, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(r))
		if err != nil || n <= 0 {
			return o, fmt.Errorf("-rates: %q is not a positive number", r)
		}
		o.rates = append(o.rates, n)
	}
	for _, s := range strings.Split(*servers, ",") {
		switch s = strings.TrimSpace(s); s {
		case "kamailio", "registrar":
			o.servers = append(o.servers, s)
		default:
			return o, fmt.Errorf("-servers: %q is neither kamailio nor registrar", s)
		}
	}
	if o.baseline != "" {
		o.servers = append(o.servers, "baseline")
	}
	if o.stepDur < time.Second {
		return o, fmt.Errorf("-step %s: at least 1s", o.stepDur)
	}
	return o, nil
}

func run(ctx context.Context, args []string, out io.Writer) error {
	o, err := parseOptions(args, out)
	if err != nil {
		return err
	}
	sipp, err := exec.LookPath("sipp")
	if err != nil {
		return fmt.Errorf("sipp not found (%s): %w", sipptest.Install, err)
	}
	dir, err := os.MkdirTemp("", "registrar-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if o.pprofDir != "" {
		if err := os.MkdirAll(o.pprofDir, 0o755); err != nil {
			return err
		}
	}

	servers := map[string]*server{}
	var order []string
	for _, name := range o.servers {
		var s *server
		switch name {
		case "kamailio":
			path, err := exec.LookPath(o.kamailio)
			if err != nil {
				fmt.Fprintf(out, "Kamailio is not installed (%s): measuring the registrar alone, with no anchor\n", kamailioInstall)
				continue
			}
			if s, err = startKamailioServer(path, dir, o.children); err != nil {
				return err
			}
		case "registrar":
			flags := o.regFlags
			if o.transport == "tn" {
				// sipp opens a connection per call, all from 127.0.0.1:
				// thousands a second, past the per-source rate limit
				flags = append([]string{"-new-conn-rate", "-1"}, flags...)
			}
			if s, err = startRegistrarServer(ctx, dir, ".", "registrar", flags, o.pprofDir != ""); err != nil {
				return err
			}
		case "baseline":
			if s, err = startRegistrarServer(ctx, dir, o.baseline, "baseline", nil, false); err != nil {
				return err
			}
		}
		defer s.stop()
		servers[name] = s
		order = append(order, name)
	}
	if len(order) == 0 {
		return errors.New("no server to measure")
	}

	fmt.Fprintf(out, "sipp %s -t %s -buff_size 4194304, %s steps, %d CPUs, load average %s\n", sipp, o.transport, o.stepDur, runtime.NumCPU(), loadAvg())
	for _, name := range order {
		fmt.Fprintf(out, "  %-9s at %s\n", name, servers[name].addr)
	}
	fmt.Fprintf(out, "\n%-9s %7s %7s %7s %6s %8s %10s %8s %8s %9s  %s\n",
		"server", "offered", "calls", "ok", "failed", "retrans", "achieved/s", "CPU", "µs/reg", "sipp CPU", "verdict")

	var steps []step
	failures := map[string]int{}
	first := true
	for i, rate := range o.rates {
		names := append([]string(nil), order...)
		if i%2 == 1 {
			// alternate which server runs first at each rate
			for l, r := 0, len(names)-1; l < r; l, r = l+1, r-1 {
				names[l], names[r] = names[r], names[l]
			}
		}
		for _, name := range names {
			if failures[name] >= 2 {
				continue
			}
			if !first {
				select {
				case <-time.After(o.settle):
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			first = false
			s, err := runStep(ctx, sipp, o, servers[name], name, rate)
			if err != nil {
				return err
			}
			steps = append(steps, s)
			printStep(out, s)
			if s.clean() {
				failures[name] = 0
			} else {
				failures[name]++
			}
		}
	}
	fmt.Fprintf(out, "\nload average after: %s\n", loadAvg())
	summarize(out, steps, order)
	return nil
}

func printStep(out io.Writer, s step) {
	verdict := "clean"
	if !s.clean() {
		verdict = "NOT CLEAN: " + s.why
	}
	sippNote := ""
	if s.sippShare() >= 0.9 {
		sippNote = " (sipp saturated a core: the limit may be sipp)"
	}
	fmt.Fprintf(out, "%-9s %7d %7d %7d %6d %8d %10.0f %7.0f%% %8.1f %8.0f%%  %s%s\n",
		s.server, s.rate, s.calls, s.ok, s.failed, s.retrans, s.achieved(),
		100*s.serverCPU.Seconds()/s.elapsed.Seconds(), float64(s.perReg())/float64(time.Microsecond),
		100*s.sippShare(), verdict, sippNote)
}

// summarize prints the throughput at zero retransmissions and the CPU per
// registration of each server, and the registrar's ratios to Kamailio.
func summarize(out io.Writer, steps []step, order []string) {
	best := map[string]step{}
	clean := map[string]map[int]step{}
	for _, s := range steps {
		if clean[s.server] == nil {
			clean[s.server] = map[int]step{}
		}
		if !s.clean() {
			continue
		}
		clean[s.server][s.rate] = s
		if b, ok := best[s.server]; !ok || s.rate > b.rate {
			best[s.server] = s
		}
	}
	fmt.Fprintln(out, "\nthroughput at zero retransmissions (highest clean step):")
	for _, name := range order {
		if b, ok := best[name]; ok {
			fmt.Fprintf(out, "  %-9s %6d/s offered, %6.0f/s achieved, %5.1f µs CPU per registration\n", name, b.rate, b.achieved(), float64(b.perReg())/float64(time.Microsecond))
		} else {
			fmt.Fprintf(out, "  %-9s no clean step\n", name)
		}
	}
	k, kok := best["kamailio"]
	if !kok {
		return
	}
	for _, name := range []string{"registrar", "baseline"} {
		if _, ran := clean[name]; !ran {
			continue
		}
		r, rok := best[name]
		if rok {
			fmt.Fprintf(out, "%s / kamailio, throughput at zero retransmissions: %d / %d = %.2f× (goal ≥ 1.0×; achieved %.0f / %.0f)\n",
				name, r.rate, k.rate, float64(r.rate)/float64(k.rate), r.achieved(), k.achieved())
		} else {
			fmt.Fprintf(out, "%s / kamailio, throughput at zero retransmissions: no clean step / %d\n", name, k.rate)
		}
		// CPU per registration compared at the same work: each step of
		// name with the step of Kamailio at the same rate (the n-th of
		// that rate with the n-th)
		for _, p := range pairSteps(steps, "kamailio", name) {
			ks, rs := p[0], p[1]
			if ks.perReg() == 0 {
				continue
			}
			note := "both clean"
			if !ks.clean() || !rs.clean() {
				note = "not both clean: retransmissions or failures inflate it"
			}
			fmt.Fprintf(out, "%s / kamailio, CPU per registration at %d/s: %.1f / %.1f µs = %.2f× (goal ≤ 1.0×; %s)\n",
				name, rs.rate, float64(rs.perReg())/float64(time.Microsecond), float64(ks.perReg())/float64(time.Microsecond),
				float64(rs.perReg())/float64(ks.perReg()), note)
		}
	}
}

// pairSteps pairs the steps of server b with those of server a at the same
// rate, the n-th step of a rate with the n-th, in b's order.
func pairSteps(steps []step, a, b string) [][2]step {
	seen := map[int]int{}
	var out [][2]step
	for _, sb := range steps {
		if sb.server != b {
			continue
		}
		n := seen[sb.rate]
		seen[sb.rate]++
		for _, sa := range steps {
			if sa.server != a || sa.rate != sb.rate {
				continue
			}
			if n == 0 {
				out = append(out, [2]step{sa, sb})
				break
			}
			n--
		}
	}
	return out
}

// runStep runs sipp against s at rate for o.stepDur.
func runStep(ctx context.Context, sipp string, o options, s *server, name string, rate int) (step, error) {
	st := step{server: name, rate: rate, calls: rate * int(o.stepDur/time.Second)}
	args := []string{
		"-s", user, "-au", user, "-ap", password,
		"-r", strconv.Itoa(rate), "-rp", "1000",
		"-recv_timeout", "5000", "-buff_size", "4194304",
	}
	if o.sippMode == "n" {
		args = append(args, "-max_socket", strconv.Itoa(o.maxSocket))
	}
	var profErr chan error
	if o.pprofDir != "" && s.profile != nil {
		profErr = make(chan error, 1)
		path := filepath.Join(o.pprofDir, fmt.Sprintf("%s-%d.pprof", name, rate))
		go func() { profErr <- s.profile(ctx, o.stepDur, path) }()
	}
	pids := s.pids()
	before := cpuOf(pids)
	res, err := sipptest.Exec(ctx, sipp, sipptest.Options{
		Scenario:  o.scenario,
		Remote:    s.addr,
		Transport: o.transport,
		Calls:     st.calls,
		Timeout:   3*o.stepDur + 30*time.Second,
		Args:      args,
	})
	st.serverCPU = cpuOf(pids) - before
	if res != nil {
		defer os.RemoveAll(res.Dir)
		st.ok, st.failed, st.retrans, st.elapsed, st.sippCPU = res.Successful, res.Failed, res.Retransmissions, res.Elapsed, res.CPU
	}
	if profErr != nil {
		if perr := <-profErr; perr != nil {
			fmt.Fprintln(os.Stderr, "loadtest: profile:", perr)
		}
	}
	var re *sipptest.RunError
	switch {
	case ctx.Err() != nil:
		return st, ctx.Err()
	case errors.As(err, &re):
		st.why = fmt.Sprintf("sipp exit %d", re.Result.ExitCode)
	case err != nil:
		return st, err
	case st.failed != 0 || st.ok != st.calls:
		st.why = "not every call succeeded"
	case st.retrans != 0:
		st.why = "retransmissions"
	case st.achieved() < 0.95*float64(rate):
		st.why = "fell behind the rate"
	}
	return st, nil
}

func startKamailioServer(path, dir string, children int) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	kdir := filepath.Join(dir, "kamailio")
	if err := os.MkdirAll(kdir, 0o700); err != nil {
		return nil, err
	}
	k, err := startKamailio(path, kdir, kamailioParams{Addr: addr, Children: children, Realm: realm, User: user, Password: password})
	if err != nil {
		return nil, err
	}
	return &server{name: "kamailio", addr: addr, pids: k.pids, stop: k.stop}, nil
}

var pprofAddr = regexp.MustCompile(`msg="pprof listening" addr=(\S+)`)

// startRegistrarServer builds the registrar, starts it on a free port with
// its profiling endpoint on another, and waits for its "listening" line.
func startRegistrarServer(ctx context.Context, dir, module, name string, flags []string, pprof bool) (*server, error) {
	bin := filepath.Join(dir, name)
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./examples/registrar")
	build.Dir = module
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("building the registrar (run from the module root): %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args := []string{"-listen", addr, "-realm", realm, "-allow", "127.0.0.1", "-algorithm", "MD5"}
	if pprof {
		args = append(args, "-pprof", "127.0.0.1:0")
	}
	cmd := exec.Command(bin, append(args, flags...)...)
	cmd.Env = append(os.Environ(), "REGISTRAR_USERS="+user+":"+password)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}
	lines := bufio.NewScanner(stderr)
	ready := make(chan bool, 1)
	pprofAt := make(chan string, 1)
	go func() {
		sent := false
		for lines.Scan() {
			line := lines.Text()
			if m := pprofAddr.FindStringSubmatch(line); m != nil {
				pprofAt <- m[1]
			}
			if !sent && strings.Contains(line, "msg=listening") {
				ready <- true
				sent = true
			}
			if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
				fmt.Fprintln(os.Stderr, name+":", line)
			}
		}
		if !sent {
			ready <- false
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			stop()
			return nil, errors.New("registrar exited before listening")
		}
	case <-time.After(30 * time.Second):
		stop()
		return nil, errors.New("registrar did not start within 30 s")
	}
	s := &server{name: name, addr: addr, stop: stop, pids: func() []int { return []int{cmd.Process.Pid} }}
	select {
	case pa := <-pprofAt:
		s.profile = func(ctx context.Context, d time.Duration, path string) error {
			return fetchProfile(ctx, pa, d, path)
		}
	default:
	}
	return s, nil
}

// fetchProfile takes a CPU profile of d from the registrar's pprof endpoint.
func fetchProfile(ctx context.Context, addr string, d time.Duration, path string) error {
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(d/time.Second))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, res.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, res.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func freePort() (int, error) {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		p := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", l.Addr().String())
		_ = l.Close()
		if err == nil {
			_ = u.Close()
			return p, nil
		}
	}
	return 0, errors.New("no free port")
}
