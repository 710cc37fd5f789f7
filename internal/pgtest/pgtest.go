//go:build unix

// Package pgtest starts a real PostgreSQL server for tests: Debian's
// `postgresql` package, run from a temporary directory on a free loopback
// port, removed afterwards. No Docker, nothing downloaded.
//
// A test calls Start (one server for the test) or, far cheaper when a package
// has many tests, Shared (one server per test binary) and then NewDatabase for
// a database of its own. Without PostgreSQL installed the test is skipped with
// a message naming the package (under CI=true it fails, see internal/testenv).
//
// Running as root (the CI runs so), the server runs as the `postgres` user,
// which Debian's package creates; PostgreSQL refuses to run as root. The
// server is tied to the test process through a pipe: when the process ends,
// however it ends, the server stops and its directory is removed.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/voicegw/voicegw/internal/testenv"
)

// Install is what installs the server on Debian.
const Install = "apt-get install -y postgresql"

// Server is a running PostgreSQL server.
type Server struct {
	// Port is the TCP port on 127.0.0.1.
	Port int
	// Dir is the data directory.
	Dir string

	stop func() // closes the pipe: the wrapper stops the server and removes Dir
}

// CPUTime returns the CPU time (user and system) the server's processes
// have used so far, those that ended included: for benchmarks that report
// the server's share (Linux; 0 elsewhere).
func (s *Server) CPUTime() time.Duration {
	// The postmaster and its children (the backends, which lead sessions
	// of their own); the postmaster's cutime and cstime hold the children
	// that ended.
	b, err := os.ReadFile(filepath.Join(s.Dir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pm, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return 0
	}
	var total time.Duration
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range stats {
		fields := procStat(f)
		if len(fields) < 17 {
			continue
		}
		pid, _ := strconv.Atoi(fields[0])
		if ppid, _ := strconv.Atoi(fields[3]); pid != pm && ppid != pm {
			continue
		}
		total += ticks(fields[13:17]...) // utime, stime, cutime, cstime
	}
	return total
}

// ProcessCPUTime returns the CPU time (user and system) process pid has
// used so far, for example a server backend's (pg_backend_pid()); 0 when it
// cannot be read.
func ProcessCPUTime(pid int) time.Duration {
	fields := procStat(fmt.Sprintf("/proc/%d/stat", pid))
	if len(fields) < 15 {
		return 0
	}
	return ticks(fields[13:15]...)
}

// procStat returns the fields of a /proc/PID/stat file, the command name
// (which may hold spaces) as one.
func procStat(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return nil
	}
	return append([]string{s[:open-1], s[open+1 : end]}, strings.Fields(s[end+1:])...)
}

// ticks sums clock ticks (USER_HZ, 100 on Linux).
func ticks(fields ...string) time.Duration {
	var n int64
	for _, f := range fields {
		v, _ := strconv.ParseInt(f, 10, 64)
		n += v
	}
	return time.Duration(n) * 10 * time.Millisecond
}

// DSN returns the connection string of database db on the server, as the
// superuser `postgres` (trust authentication on loopback).
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, db)
}

// NewDatabase creates a database with a fresh random name and returns its
// DSN. It is dropped when tb ends.
func (s *Server) NewDatabase(tb testing.TB) string {
	tb.Helper()
	name := "t_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		tb.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, s.DSN("postgres"))
		if err != nil {
			return // the server is gone with the process
		}
		defer conn.Close(ctx)
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return s.DSN(name)
}

var shared struct {
	once sync.Once
	srv  *Server
	err  error
	miss string
}

// Shared returns the server shared by every test of the test binary,
// starting it on first use. It stops when the test process exits.
func Shared(tb testing.TB) *Server {
	tb.Helper()
	shared.once.Do(func() {
		bin, err := binDir()
		if err != nil {
			shared.miss = err.Error()
			return
		}
		shared.srv, shared.err = start(bin)
	})
	if shared.miss != "" {
		testenv.Missing(tb, shared.miss, Install)
	}
	if shared.err != nil {
		tb.Fatalf("pgtest: %v", shared.err)
	}
	return shared.srv
}

// Start starts a server of the test's own, stopped when tb ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	bin, err := binDir()
	if err != nil {
		testenv.Missing(tb, err.Error(), Install)
	}
	s, err := start(bin)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// Stop stops the server and removes its directory, waiting for both.
func (s *Server) Stop() {
	if s.stop != nil {
		s.stop()
		s.stop = nil
	}
}

// binDir returns the directory of initdb and postgres: Debian keeps them in
// /usr/lib/postgresql/VERSION/bin (the newest is taken), else PATH.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("the PostgreSQL server (initdb, postgres)")
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// start makes a data directory, runs initdb and starts postgres under a
// shell wrapper that stops it and removes the directory when its stdin
// closes (the test process ended or Stop was called).
func start(bin string) (*Server, error) {
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root needs the postgres user (%s): %w", Install, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	dir, err := os.MkdirTemp("", "voicegw-pg-")
	if err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	for range 20 {
		port, err := freePort()
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		s, err := run(bin, dir, data, port, cred)
		if err == nil {
			return s, nil
		}
		if !strings.Contains(err.Error(), "Address already in use") {
			_ = os.RemoveAll(dir)
			return nil, err
		}
	}
	_ = os.RemoveAll(dir)
	return nil, fmt.Errorf("no free port for postgres")
}

// wrapper runs postgres in the background, waits for its stdin to close,
// then stops postgres (fast shutdown) and removes the directory.
const wrapper = `"$1" -D "$2" -p "$3" -k "$2" -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 -c shared_buffers=128MB >"$4/log" 2>&1 &
pid=$!
cat >/dev/null
kill -INT $pid 2>/dev/null
wait $pid 2>/dev/null
rm -rf "$4"`

func run(bin, dir, data string, port int, cred *syscall.Credential) (*Server, error) {
	cmd := exec.Command("/bin/sh", "-c", wrapper, "sh", filepath.Join(bin, "postgres"), data, strconv.Itoa(port), dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = in.Close()
			select {
			case <-exited:
			case <-time.After(30 * time.Second):
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-exited
				_ = os.RemoveAll(dir)
			}
		})
	}
	s := &Server{Port: port, Dir: data, stop: stop}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return nil, fmt.Errorf("postgres exited at start: %s", readLog(dir))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, s.DSN("postgres"))
		cancel()
		if err == nil {
			_ = conn.Close(context.Background())
			return s, nil
		}
		if strings.Contains(readLog(dir), "Address already in use") {
			stop()
			return nil, fmt.Errorf("port %d: Address already in use", port)
		}
		time.Sleep(50 * time.Millisecond)
	}
	log := readLog(dir)
	stop()
	return nil, fmt.Errorf("postgres did not accept connections within 60 s: %s", log)
}

func readLog(dir string) string {
	f, err := os.Open(filepath.Join(dir, "log"))
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, 4096))
	return strings.TrimSpace(string(b))
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
