// Package sipptest runs sipp (the SIP test tool, Debian package
// sip-tester) against the project's servers from Go tests and harnesses.
//
// Tests use Run or Start with a testing.TB: they skip when sipp is missing
// (fail under CI=true, see internal/testenv), pick free loopback ports,
// keep sipp's files in a temporary directory, and kill sipp when the test
// ends. Programs that are not tests (load harnesses) use Exec and Launch
// with a sipp path of their own.
//
// A run returns a Result with sipp's exit status, stdout, stderr, its log
// of unexpected messages and its final call counters. A run that does not
// end with exit status 0 returns a *RunError that quotes all of that, so a
// failing test shows what sipp saw.
//
//	res, err := sipptest.Run(t, sipptest.Options{
//		Scenario: "testdata/register_auth.xml",
//		Remote:   addr,
//		Args:     []string{"-s", "alice", "-au", "alice", "-ap", "secret"},
//	})
package sipptest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voicegw/voicegw/internal/testenv"
)

// Install is the command that installs sipp on Debian and Ubuntu.
const Install = "apt-get install -y sip-tester"

// DefaultTimeout bounds a run when Options.Timeout is zero.
const DefaultTimeout = 60 * time.Second

// Errors of a run; match them with errors.Is.
var (
	// ErrFailed: sipp exited with a status other than 0 (1: at least one
	// call failed; 97/99: exit by command or without calls; 255/254: fatal).
	ErrFailed = errors.New("sipptest: sipp failed")
	// ErrTimeout: sipp was still running at the timeout and was killed.
	ErrTimeout = errors.New("sipptest: sipp timed out")
)

// Transport is sipp's -t mode.
type Transport string

// The transports tests use.
const (
	UDP Transport = "u1" // one UDP socket (sipp's default)
	TCP Transport = "t1" // one TCP connection
)

// Options describe one sipp run.
type Options struct {
	// Scenario is the scenario file (-sf); a relative path is taken from
	// the current directory (the package directory in tests).
	Scenario string
	// Remote is the host:port of the peer under test; empty for a UAS
	// scenario that waits for calls.
	Remote string
	// Transport is UDP by default.
	Transport Transport
	// LocalIP is sipp's address (-i). Default 127.0.0.1.
	LocalIP string
	// LocalPort is sipp's SIP port (-p). Default: a free port.
	LocalPort int
	// Calls stops sipp after this many calls (-m). Default 1; negative
	// leaves -m out.
	Calls int
	// Args are further sipp arguments (-s, -au, -ap, -r, -mp, -key …),
	// appended after the ones above. Values following -ap are masked in
	// errors and Result.Args.
	Args []string
	// Timeout kills sipp after this long. Default DefaultTimeout.
	Timeout time.Duration
	// Dir is sipp's working directory, where it writes its logs. Default:
	// a new temporary directory (removed by the test's cleanup, or left for
	// Exec/Launch callers to remove: see Result.Dir).
	Dir string
}

// Result is what a finished sipp run left behind.
type Result struct {
	// Args is the command line, password masked.
	Args []string
	// ExitCode is sipp's exit status (-1 when killed).
	ExitCode int
	// Stdout and Stderr are sipp's output.
	Stdout, Stderr string
	// ErrorLog is sipp's log of unexpected messages (-trace_err).
	ErrorLog string
	// Successful and Failed are the final call counters from sipp's
	// statistics file (-1 when sipp wrote none).
	Successful, Failed int
	// Retransmissions is sipp's cumulative count of messages it sent again
	// because no answer came in time (the Retransmissions(C) column of its
	// statistics file; -1 when sipp wrote none). Over UDP a server that
	// keeps up causes none.
	Retransmissions int
	// CPU is the user and system CPU time sipp used (its rusage), so a
	// load harness can tell when sipp, not the server, is the limit.
	CPU time.Duration
	// Elapsed is the wall time of the run.
	Elapsed time.Duration
	// Dir is the working directory sipp ran in.
	Dir string
	// LocalPort is the SIP port sipp used.
	LocalPort int
}

// RunError is returned by a run that did not exit with status 0. It quotes
// sipp's output; errors.Is matches ErrFailed or ErrTimeout.
type RunError struct {
	Err    error
	Result *Result
}

// tail bounds each output quoted in an error.
const tail = 4000

// Error describes the failure and quotes sipp's command line, its log of
// unexpected messages, stderr and stdout (the last few KB of each).
func (e *RunError) Error() string {
	r := e.Result
	var b strings.Builder
	fmt.Fprintf(&b, "%v (exit status %d after %s; successful calls %d, failed %d)\ncommand: sipp %s",
		e.Err, r.ExitCode, r.Elapsed.Round(time.Millisecond), r.Successful, r.Failed, strings.Join(r.Args, " "))
	for _, o := range []struct{ name, text string }{{"unexpected messages (-trace_err)", r.ErrorLog}, {"stderr", r.Stderr}, {"stdout", r.Stdout}} {
		if t := strings.TrimSpace(o.text); t != "" {
			if len(t) > tail {
				t = "…" + t[len(t)-tail:]
			}
			fmt.Fprintf(&b, "\n--- %s ---\n%s", o.name, t)
		}
	}
	return b.String()
}

// Unwrap returns ErrFailed or ErrTimeout.
func (e *RunError) Unwrap() error { return e.Err }

// Path returns the path of sipp, or skips t (fails it under CI=true) with
// the install command when sipp is missing.
func Path(t testing.TB) string {
	t.Helper()
	return testenv.RequireTool(t, "sipp", Install)
}

// Run runs sipp to completion for a test: it locates sipp (skipping when
// missing), uses a free port and a temporary directory unless given, kills
// sipp at the timeout or when the test ends, and returns the Result with a
// *RunError when sipp did not exit with status 0.
func Run(t testing.TB, o Options) (*Result, error) {
	t.Helper()
	p := Start(t, o)
	return p.Wait()
}

// Start starts sipp in the background for a test (a UAS scenario, or a UAC
// that runs alongside something else) and returns at once; Wait collects
// the Result. sipp is killed when the test ends.
func Start(t testing.TB, o Options) *Process {
	t.Helper()
	path := Path(t)
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	auto := o.LocalPort == 0
	for attempt := 0; ; attempt++ {
		if auto {
			o.LocalPort = testenv.FreePort(t)
		}
		p, err := Launch(context.Background(), path, o)
		if err != nil {
			t.Fatalf("sipptest: %v", err)
		}
		if auto && attempt < portRetries && p.lostPort() {
			// A free port is free when picked; another test's socket can
			// take it before sipp binds it.
			t.Logf("sipptest: port %d was taken before sipp bound it; trying another", o.LocalPort)
			continue
		}
		t.Cleanup(p.Kill)
		return p
	}
}

// portRetries is how many times Start replaces a port it picked that was
// taken before sipp could bind it.
const portRetries = 3

// lostPort reports whether sipp exited at once because its SIP port was
// taken (errno 98, EADDRINUSE, on the main socket).
func (p *Process) lostPort() bool {
	select {
	case <-p.exited:
	case <-time.After(100 * time.Millisecond):
		return false
	}
	r, _ := p.Wait()
	return strings.Contains(r.Stderr+r.ErrorLog, "Unable to bind main socket, errno = 98")
}

// Exec runs sipp at path to completion, like Run but without a test: the
// caller picks the path, and a zero LocalPort or Dir is filled in with a
// free port and a new temporary directory (Result.Dir, the caller's to
// remove). ctx cancellation kills sipp.
func Exec(ctx context.Context, path string, o Options) (*Result, error) {
	p, err := Launch(ctx, path, o)
	if err != nil {
		return nil, err
	}
	return p.Wait()
}

// Process is a running sipp.
type Process struct {
	cmd      *exec.Cmd
	opts     Options
	args     []string
	stdout   bytes.Buffer
	stderr   bytes.Buffer
	start    time.Time
	cancel   context.CancelFunc
	timedOut atomic.Bool // killed because the run's deadline passed
	waitOnce sync.Once
	exited   chan struct{} // closed when sipp has exited and res is set
	res      *Result
	err      error
}

// Launch starts sipp at path and returns at once; see Exec for the defaults.
func Launch(ctx context.Context, path string, o Options) (*Process, error) {
	if o.Scenario == "" {
		return nil, errors.New("sipptest: Options.Scenario is empty")
	}
	scen, err := filepath.Abs(o.Scenario)
	if err != nil {
		return nil, fmt.Errorf("sipptest: scenario %q: %w", o.Scenario, err)
	}
	if _, err := os.Stat(scen); err != nil {
		return nil, fmt.Errorf("sipptest: scenario: %w", err)
	}
	if o.Dir == "" {
		if o.Dir, err = os.MkdirTemp("", "sipptest-"); err != nil {
			return nil, fmt.Errorf("sipptest: %w", err)
		}
	}
	if o.LocalPort == 0 {
		if o.LocalPort, err = freePort(); err != nil {
			return nil, err
		}
	}
	if o.LocalIP == "" {
		o.LocalIP = "127.0.0.1"
	}
	if o.Transport == "" {
		o.Transport = UDP
	}
	if o.Calls == 0 {
		o.Calls = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	args := []string{"-sf", scen}
	if o.Remote != "" {
		args = append(args, o.Remote)
	}
	args = append(args,
		"-i", o.LocalIP, "-p", strconv.Itoa(o.LocalPort), "-t", string(o.Transport),
		"-nostdin",
		"-trace_err", "-error_file", filepath.Join(o.Dir, "errors.log"),
		"-trace_stat", "-stf", filepath.Join(o.Dir, "stat.csv"), "-fd", "1",
	)
	if o.Calls > 0 {
		args = append(args, "-m", strconv.Itoa(o.Calls))
	}
	args = append(args, o.Args...)

	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	p := &Process{opts: o, args: args, cancel: cancel, exited: make(chan struct{})}
	p.cmd = exec.CommandContext(ctx, path, args...)
	p.cmd.Cancel = func() error {
		// Called only while sipp runs: a timeout, or Kill / the caller's
		// cancellation (context.Canceled).
		p.timedOut.Store(errors.Is(ctx.Err(), context.DeadlineExceeded))
		return p.cmd.Process.Kill()
	}
	p.cmd.Dir = o.Dir
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = &p.stderr
	p.cmd.WaitDelay = 2 * time.Second
	p.start = time.Now()
	if err := p.cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("sipptest: start sipp: %w", err)
	}
	go func() {
		_, _ = p.Wait()
		close(p.exited)
	}()
	return p, nil
}

// LocalPort returns the SIP port sipp listens on.
func (p *Process) LocalPort() int { return p.opts.LocalPort }

// Addr returns sipp's SIP address, host:port.
func (p *Process) Addr() string {
	return net.JoinHostPort(p.opts.LocalIP, strconv.Itoa(p.opts.LocalPort))
}

// Wait waits for sipp to exit and returns its Result, with a *RunError
// when the exit status is not 0. It may be called more than once.
func (p *Process) Wait() (*Result, error) {
	p.waitOnce.Do(func() {
		werr := p.cmd.Wait()
		p.cancel()
		timedOut := p.timedOut.Load()
		r := &Result{
			Args:       maskPassword(p.args),
			ExitCode:   p.cmd.ProcessState.ExitCode(),
			Stdout:     p.stdout.String(),
			Stderr:     p.stderr.String(),
			Elapsed:    time.Since(p.start),
			Dir:        p.opts.Dir,
			LocalPort:  p.opts.LocalPort,
			Successful: -1,
			Failed:     -1,

			Retransmissions: -1,
		}
		if st := p.cmd.ProcessState; st != nil {
			r.CPU = st.UserTime() + st.SystemTime()
		}
		if b, err := os.ReadFile(filepath.Join(p.opts.Dir, "errors.log")); err == nil {
			r.ErrorLog = string(b)
		}
		if b, err := os.ReadFile(filepath.Join(p.opts.Dir, "stat.csv")); err == nil {
			st := parseStats(b)
			r.Successful, r.Failed, r.Retransmissions = st.successful, st.failed, st.retransmissions
		}
		p.res = r
		switch {
		case timedOut:
			p.err = &RunError{Err: fmt.Errorf("%w after %s", ErrTimeout, p.opts.Timeout), Result: r}
		case werr != nil || r.ExitCode != 0:
			p.err = &RunError{Err: ErrFailed, Result: r}
		}
	})
	return p.res, p.err
}

// Kill stops sipp if it is still running and waits for it.
func (p *Process) Kill() {
	p.cancel()
	_, _ = p.Wait()
}

// stats are the cumulative counters of the last line of sipp's
// -trace_stat file; -1 for a counter it did not write.
type stats struct{ successful, failed, retransmissions int }

// parseStats reads the last line of sipp's -trace_stat file (semicolon
// separated, a header line first).
func parseStats(b []byte) stats {
	st := stats{-1, -1, -1}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) < 2 {
		return st
	}
	head := strings.Split(lines[0], ";")
	last := strings.Split(lines[len(lines)-1], ";")
	for i, h := range head {
		if i >= len(last) {
			break
		}
		v := strings.TrimSpace(last[i])
		switch strings.TrimSpace(h) {
		case "SuccessfulCall(C)":
			st.successful, _ = strconv.Atoi(v)
		case "FailedCall(C)":
			st.failed, _ = strconv.Atoi(v)
		case "Retransmissions(C)":
			st.retransmissions, _ = strconv.Atoi(v)
		}
	}
	return st
}

func maskPassword(args []string) []string {
	out := append([]string(nil), args...)
	for i := 0; i+1 < len(out); i++ {
		if out[i] == "-ap" {
			out[i+1] = "XXXX"
		}
	}
	return out
}

// freePort returns a loopback port free for both UDP and TCP.
func freePort() (int, error) {
	for range 50 {
		tl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("sipptest: free port: %w", err)
		}
		port := tl.Addr().(*net.TCPAddr).Port
		ul, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		_ = tl.Close()
		if err != nil {
			continue
		}
		_ = ul.Close()
		return port, nil
	}
	return 0, errors.New("sipptest: no port free for both UDP and TCP")
}
