// Command loadtest finds the highest REGISTER+auth rate examples/registrar
// sustains on this machine with no failed registration, driving it with
// sipp.
//
// Run from the module root:
//
//	go run ./examples/registrar/loadtest [-transport udp|tcp] [-step 10s] [-start 200] [-max 50000] [-settle 5s]
//
// It builds examples/registrar, starts it as its own process
// (-realm example.test -allow 127.0.0.1 -algorithm MD5, user alice:secret
// in REGISTRAR_USERS),
// and runs sipp's register_auth.xml scenario against it: each call is
// REGISTER → 401 → REGISTER with Authorization → 200, so two transactions
// and one digest verification per call. Each step runs sipp at a fixed
// call rate for -step; a step passes when every call succeeded and the
// achieved rate (calls / sipp's run time) is at least 95% of the offered
// one, i.e. the registrar kept up. The
// rate doubles from -start until a step fails, then a binary search between
// the last passing and the first failing rate narrows it to 5%. The figure
// printed last is the highest passing rate, in registrations per second.
//
// sipp runs on the same machine and takes its share of the CPU; the figure
// is what the pair achieves here, which is what BENCHMARKS.md records.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
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
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

type step struct {
	rate      int
	calls     int
	elapsed   time.Duration
	ok        bool
	why       string
	succeeded int
	failed    int
}

func run(ctx context.Context) error {
	transport := flag.String("transport", "udp", "udp or tcp")
	stepDur := flag.Duration("step", 10*time.Second, "how long each rate is held")
	start := flag.Int("start", 200, "first rate, registrations/s")
	maxRate := flag.Int("max", 50000, "highest rate tried")
	settle := flag.Duration("settle", 5*time.Second, "pause between steps")
	scenario := flag.String("scenario", "examples/registrar/testdata/register_auth.xml", "sipp scenario")
	flag.Parse()

	tr := sipptest.UDP
	switch *transport {
	case "udp":
	case "tcp":
		tr = sipptest.TCP
	default:
		return fmt.Errorf("-transport %q: want udp or tcp", *transport)
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

	bin := filepath.Join(dir, "registrar")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./examples/registrar")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building the registrar (run from the module root): %w", err)
	}

	addr, stopRegistrar, err := startRegistrar(ctx, bin)
	if err != nil {
		return err
	}
	defer stopRegistrar()
	fmt.Printf("registrar at %s (%s), sipp %s, %d CPUs, %s per step\n", addr, strings.ToUpper(*transport), sipp, runtime.NumCPU(), *stepDur)

	first := true
	try := func(rate int) (step, error) {
		if !first {
			// let the registrar drain what the previous step left
			select {
			case <-time.After(*settle):
			case <-ctx.Done():
				return step{}, ctx.Err()
			}
		}
		first = false
		s := step{rate: rate, calls: rate * int(stepDur.Seconds())}
		res, err := sipptest.Exec(ctx, sipp, sipptest.Options{
			Scenario:  *scenario,
			Remote:    addr,
			Transport: tr,
			Calls:     s.calls,
			Timeout:   3**stepDur + 30*time.Second,
			Args: []string{
				"-s", "alice", "-au", "alice", "-ap", "secret",
				"-r", strconv.Itoa(rate), "-rp", "1000",
				"-recv_timeout", "5000", "-buff_size", "4194304",
			},
		})
		if res != nil {
			defer os.RemoveAll(res.Dir)
			s.elapsed, s.succeeded, s.failed = res.Elapsed, res.Successful, res.Failed
		}
		var re *sipptest.RunError
		switch {
		case ctx.Err() != nil:
			return s, ctx.Err()
		case errors.As(err, &re):
			s.why = fmt.Sprintf("sipp exit %d", re.Result.ExitCode)
		case err != nil:
			return s, err
		case s.failed != 0 || s.succeeded != s.calls:
			s.why = "not every call succeeded"
		case float64(s.succeeded)/s.elapsed.Seconds() < 0.95*float64(rate):
			s.why = "fell behind the rate"
		default:
			s.ok = true
		}
		verdict := "PASS"
		if !s.ok {
			verdict = "FAIL (" + s.why + ")"
		}
		fmt.Printf("rate %6d/s: %7d calls, %6d ok, %5d failed, %6.1fs, achieved %7.0f/s  %s\n",
			rate, s.calls, s.succeeded, s.failed, s.elapsed.Seconds(), float64(s.succeeded)/s.elapsed.Seconds(), verdict)
		return s, nil
	}

	best, worst := 0, 0
	for rate := *start; rate <= *maxRate; rate *= 2 {
		s, err := try(rate)
		if err != nil {
			return err
		}
		if !s.ok {
			worst = rate
			break
		}
		best = rate
	}
	if best == 0 {
		return fmt.Errorf("even %d registrations/s failed", *start)
	}
	for worst != 0 && float64(worst-best) > 0.05*float64(best) {
		mid := (best + worst) / 2
		s, err := try(mid)
		if err != nil {
			return err
		}
		if s.ok {
			best = mid
		} else {
			worst = mid
		}
	}
	fmt.Printf("highest sustained rate: %d REGISTER+auth/s (%s, no failed registration over %s)\n", best, strings.ToUpper(*transport), *stepDur)
	return nil
}

// startRegistrar starts the registrar binary on a free port and waits for
// its "listening" line.
func startRegistrar(ctx context.Context, bin string) (addr string, stop func(), err error) {
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.CommandContext(ctx, bin, "-listen", addr, "-realm", "example.test",
		"-allow", "127.0.0.1", "-algorithm", "MD5")
	cmd.Env = append(os.Environ(), "REGISTRAR_USERS=alice:secret")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop = func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}
	lines := bufio.NewScanner(stderr)
	ready := make(chan bool, 1)
	go func() {
		sent := false
		for lines.Scan() {
			if !sent && strings.Contains(lines.Text(), "msg=listening") {
				ready <- true
				sent = true
			}
			if strings.Contains(lines.Text(), "level=WARN") || strings.Contains(lines.Text(), "level=ERROR") {
				fmt.Fprintln(os.Stderr, "registrar:", lines.Text())
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
			return "", nil, errors.New("registrar exited before listening")
		}
	case <-time.After(30 * time.Second):
		stop()
		return "", nil, errors.New("registrar did not start within 30 s")
	}
	return addr, stop, nil
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
