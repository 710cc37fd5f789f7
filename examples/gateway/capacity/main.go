// Command capacity measures how many concurrent recorded SIPREC calls the
// reference gateway handles on this machine, and what each costs.
//
//	go run ./examples/gateway/capacity [-calls 500,1000,2000] [-duration 60s] [-rate 100]
//
// For each number of calls N it builds examples/gateway and
// examples/siprec-load, starts the gateway (one account recording stereo
// WAV to a local-directory bucket, digest over TCP, RTP on 127.0.0.1),
// and runs siprec-load with N concurrent sessions of two 20 ms G.711 μ-law
// streams each. While all N sessions are up it samples the gateway's CPU time
// (utime + stime from /proc/PID/stat) and wall time, so the figure is the
// steady state, not the call set-up. After the load generator stopped every
// session it checks that
//
//   - no session failed to start and the gateway hung none up;
//   - no RTP packet was lost or arrived too late (the gateway's
//     voicegw_rtp_packets_lost_total and _late_total), and the gateway
//     received every packet siprec-load sent;
//   - siprec-load's own sender kept up: it skipped at most 1% of its frames
//     (it skips frames when it falls 60 ms behind; more means the offered
//     load was not what it should be);
//   - the recorders dropped no audio (voicegw_recording_late_samples_total);
//   - every session has a recording in the bucket: a valid stereo WAV that
//     runs from its session's start to the moment siprec-load stopped
//     sending (the same for every session), within 0.3 s.
//
// A level passes when every check holds. The report gives, per level, the
// gateway's CPU in % of one core, its CPU seconds per call-second (calls per
// core = 1 / that), and siprec-load's CPU; and the largest level that passed.
// The gateway and the load generator share the machine's cores.
//
// -pprof DIR writes a 20 s CPU profile of the gateway during the steady state
// of each level (go tool pprof DIR/gateway-N.pprof). -poller=false runs the
// gateway with rtp.poller off (a goroutine per stream), for comparison.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/recording"
)

func main() {
	ctx, stop := signalContext()
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "capacity:", err)
		os.Exit(1)
	}
}

type options struct {
	levels     []int
	duration   time.Duration
	rate       float64
	pprof      string
	keep       bool
	rtpPorts   string
	gomaxprocs int
	format     string
	poller     bool
}

func run(ctx context.Context, args []string, out io.Writer) error {
	var o options
	fs := flag.NewFlagSet("capacity", flag.ContinueOnError)
	levels := fs.String("calls", "250,500,1000,1500,2000,2500,3000", "comma-separated numbers of concurrent calls to try, in order")
	fs.DurationVar(&o.duration, "duration", 60*time.Second, "length of each run (siprec-load -duration); the steady state is what remains after the ramp-up")
	fs.Float64Var(&o.rate, "rate", 100, "sessions started per second")
	fs.StringVar(&o.pprof, "pprof", "", "directory for a CPU profile of the gateway at each level")
	fs.BoolVar(&o.keep, "keep", false, "keep each level's data directory (printed)")
	fs.StringVar(&o.rtpPorts, "rtp-ports", "20000-59999", "the gateway's RTP port range")
	fs.IntVar(&o.gomaxprocs, "gateway-gomaxprocs", 0, "GOMAXPROCS of the gateway (default: every core)")
	fs.StringVar(&o.format, "format", "wav", "recording format: wav or mp3")
	fs.BoolVar(&o.poller, "poller", true, "receive RTP on the gateway's media.Poller (rtp.poller); false: a goroutine per stream")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.format != "wav" && o.format != "mp3" {
		return fmt.Errorf("-format %q: want wav or mp3", o.format)
	}
	for _, f := range strings.Split(*levels, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("-calls: %q is not a positive number", f)
		}
		o.levels = append(o.levels, n)
	}

	bin, err := os.MkdirTemp("", "capacity-bin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(bin)
	root, err := repoRoot()
	if err != nil {
		return err
	}
	for _, p := range []string{"gateway", "siprec-load"} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(bin, p), "./examples/"+p)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./examples/%s: %v\n%s", p, err, b)
		}
	}
	fmt.Fprintf(out, "machine: %d cores (GOMAXPROCS of both programs), %s/%s; each call: 2 streams of 20 ms PCMU, stereo %s, digest over TCP; RTP poller %v\n",
		runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, strings.ToUpper(o.format), o.poller)
	fmt.Fprintf(out, "%-7s %-7s %-6s %-9s %-6s %-7s %-10s %-12s %-13s %-10s %-8s %-9s %s\n",
		"calls", "started", "failed", "rtp lost", "late", "ld late", "recordings", "gateway CPU", "CPU s/call·s", "calls/core", "RSS MiB", "load CPU", "result")
	best := 0
	for _, n := range o.levels {
		r, err := trial(ctx, bin, n, o)
		if err != nil {
			return fmt.Errorf("%d calls: %w", n, err)
		}
		perCallSecond := r.gatewayCPU / r.callSeconds
		fmt.Fprintf(out, "%-7d %-7d %-6d %-9d %-6d %-7d %-10s %-12s %-13.2e %-10.0f %-8.0f %-9s %s\n",
			n, r.started, r.failed, r.lost, r.late, r.loadLate, fmt.Sprintf("%d/%d", r.complete, r.started),
			fmt.Sprintf("%.0f%%", 100*r.gatewayCPU/r.steady.Seconds()), perCallSecond, 1/perCallSecond, r.rssMiB,
			fmt.Sprintf("%.0f%%", r.loadCPU), r.verdict())
		for _, p := range r.problems {
			fmt.Fprintln(out, "        ", p)
		}
		for _, p := range r.notes {
			fmt.Fprintln(out, "         note:", p)
		}
		if !r.ok() {
			break
		}
		best = n
	}
	fmt.Fprintf(out, "largest level with no lost packet and every recording complete: %d concurrent calls\n", best)
	return nil
}

// result is one level's outcome.
type result struct {
	started, failed, hungUp int
	sent, received          int64
	lost, late, loadLate    int64
	complete                int
	gatewayCPU              float64       // CPU seconds during the steady state
	steady                  time.Duration // its length
	callSeconds             float64       // calls × steady seconds
	loadCPU                 float64       // % of one core, whole run
	rssMiB                  float64       // the gateway's resident memory at the end of the steady state
	problems                []string
	notes                   []string
}

func (r *result) ok() bool { return len(r.problems) == 0 }

func (r *result) verdict() string {
	if r.ok() {
		return "pass"
	}
	return "FAIL"
}

const (
	account  = "load"
	user     = "load"
	password = "load-password-0123"
	apiKey   = "capacity-key-0123456789abc"
)

// trial runs one level.
func trial(ctx context.Context, bin string, n int, o options) (*result, error) {
	data, err := os.MkdirTemp("", fmt.Sprintf("capacity-%d-", n))
	if err != nil {
		return nil, err
	}
	if o.keep {
		fmt.Println("data directory:", data)
	} else {
		defer os.RemoveAll(data)
	}
	bucket := filepath.Join(data, "bucket")
	sipPort, httpPort := freePort(), freePort()
	cfg := fmt.Sprintf(`data_dir: %s
log: {level: warn}
sip: {listen: 127.0.0.1:%d, transports: [tcp, udp], default_account: %s}
http: {listen: 127.0.0.1:%d, pprof: %v}
rtp: {address: 127.0.0.1, ports: %s, poller: %v}
shutdown: {timeout: 120s}
accounts:
  - name: %s
    sip_realm: load.test
    sip: {users: [{username: %s, password: %s}]}
    recording: {enabled: true, format: %s, record_all_calls: true, bucket: {vendor: file, file: {dir: %s}}}
    api_keys: [{name: capacity, secret: %s}]
`, data, sipPort, account, httpPort, o.pprof != "", o.rtpPorts, o.poller, account, user, password, o.format, bucket, apiKey)
	cfgPath := filepath.Join(data, "gateway.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	var gwLog bytes.Buffer
	gw := exec.Command(filepath.Join(bin, "gateway"), "-config", cfgPath)
	gw.Stdout, gw.Stderr = &gwLog, &gwLog
	if o.gomaxprocs > 0 {
		gw.Env = append(os.Environ(), fmt.Sprintf("GOMAXPROCS=%d", o.gomaxprocs))
	}
	if err := gw.Start(); err != nil {
		return nil, err
	}
	gwDone := make(chan error, 1)
	go func() { gwDone <- gw.Wait() }()
	defer func() {
		_ = gw.Process.Signal(syscall.SIGTERM)
		select {
		case <-gwDone:
		case <-time.After(3 * time.Minute):
			_ = gw.Process.Kill()
		}
	}()
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	if err := waitHealthy(ctx, base, gwDone); err != nil {
		return nil, fmt.Errorf("%w\n%s", err, gwLog.String())
	}

	// the load
	load := exec.CommandContext(ctx, filepath.Join(bin, "siprec-load"),
		"-srs", fmt.Sprintf("sip:127.0.0.1:%d;transport=tcp", sipPort),
		"-calls", strconv.Itoa(n), "-rate", strconv.FormatFloat(o.rate, 'f', -1, 64),
		"-duration", o.duration.String(), "-user", user, "-password", password)
	stdout, err := load.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var loadErr bytes.Buffer
	load.Stderr = &loadErr
	if err := load.Start(); err != nil {
		return nil, err
	}
	r := &result{}
	// Steady state: from the first second all n sessions are up at the
	// gateway, to a second before siprec-load stops them (it stops at
	// -duration from its start).
	loadStart := time.Now()
	stopAt := loadStart.Add(o.duration - 2*time.Second)
	var (
		steadyFrom time.Time
		cpuFrom    float64
		summary    string
		profiled   bool
	)
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
loop:
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				break loop
			}
			if strings.HasPrefix(line, "summary:") {
				summary = line
			}
		case <-tick.C:
			now := time.Now()
			if steadyFrom.IsZero() && now.Before(stopAt) {
				if active, _ := metric(base, "voicegw_sessions_active"); int(active) == n {
					steadyFrom, cpuFrom = now, procCPU(gw.Process.Pid)
					if o.pprof != "" && !profiled && stopAt.Sub(now) > 22*time.Second {
						profiled = true
						go profile(base, filepath.Join(o.pprof, fmt.Sprintf("gateway-%d.pprof", n)))
					}
				}
			}
			if !steadyFrom.IsZero() && r.steady == 0 && !now.Before(stopAt) {
				r.steady = now.Sub(steadyFrom)
				r.gatewayCPU = procCPU(gw.Process.Pid) - cpuFrom
				r.callSeconds = float64(n) * r.steady.Seconds()
				r.rssMiB = procRSS(gw.Process.Pid)
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err := load.Wait(); err != nil && summary == "" {
		return nil, fmt.Errorf("siprec-load: %v\n%s", err, loadErr.String())
	}
	if r.steady == 0 {
		r.problems = append(r.problems, fmt.Sprintf("the gateway never had all %d sessions up at once (ramp-up too slow for -duration?)", n))
		r.steady, r.callSeconds, r.gatewayCPU = time.Second, float64(n), 0
	}
	parseSummary(summary, r)

	// the gateway finishes every session and uploads every recording
	deadline := time.Now().Add(3 * time.Minute)
	for {
		active, _ := metric(base, "voicegw_sessions_active")
		spooled, _ := metric(base, "voicegw_recordings_spooled")
		written, _ := metric(base, `voicegw_recordings_written_total{format="`+o.format+`"}`)
		if active == 0 && spooled == 0 && int(written) >= r.started {
			break
		}
		if time.Now().After(deadline) {
			r.problems = append(r.problems, fmt.Sprintf("after 3 min: %v sessions still active, %v recordings spooled, %v written", active, spooled, written))
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	dropped, _ := metric(base, "voicegw_recording_late_samples_total")
	if dropped > 0 {
		r.problems = append(r.problems, fmt.Sprintf("the recorders dropped %v samples that came too late", dropped))
	}
	lost, _ := metric(base, "voicegw_rtp_packets_lost_total")
	late, _ := metric(base, "voicegw_rtp_packets_late_total")
	received, _ := metric(base, "voicegw_rtp_packets_received_total")
	r.lost, r.late, r.received = int64(lost), int64(late), int64(received)
	if r.failed > 0 || r.hungUp > 0 {
		r.problems = append(r.problems, fmt.Sprintf("%d sessions failed to start, %d were hung up by the gateway", r.failed, r.hungUp))
	}
	if r.lost > 0 || r.late > 0 {
		r.problems = append(r.problems, fmt.Sprintf("%d RTP packets lost, %d late", r.lost, r.late))
	}
	if r.sent > 0 && r.received < r.sent {
		r.problems = append(r.problems, fmt.Sprintf("siprec-load sent %d RTP packets, the gateway received %d", r.sent, r.received))
	}
	// siprec-load skips frames when its sender falls 60 ms behind (a CPU
	// hiccup on a shared machine): the streams then carry a timestamp jump,
	// which the gateway records as silence; the offered load is a little
	// lower. Up to 1% of the frames it is noted, beyond it the level fails.
	if r.loadLate > 0 {
		msg := fmt.Sprintf("siprec-load skipped %d late frames (%.2f%% of those sent): its sender fell behind", r.loadLate, 100*float64(r.loadLate)/float64(max(r.sent, 1)))
		if r.loadLate*100 > r.sent {
			r.problems = append(r.problems, msg+"; the load generator ran out of CPU")
		} else {
			r.notes = append(r.notes, msg)
		}
	}
	r.complete, err = checkRecordings(ctx, base, bucket, r)
	if err != nil {
		return nil, err
	}
	if r.complete != r.started {
		r.problems = append(r.problems, fmt.Sprintf("%d of %d recordings complete", r.complete, r.started))
	}
	return r, nil
}

var reSummary = regexp.MustCompile(`sessions started (\d+), failed (\d+), hung up by the recorder (\d+).*packets sent (\d+).*late frames skipped (\d+); CPU ([0-9.]+)%`)

func parseSummary(s string, r *result) {
	m := reSummary.FindStringSubmatch(s)
	if m == nil {
		r.problems = append(r.problems, "no summary from siprec-load: "+s)
		return
	}
	r.started, _ = strconv.Atoi(m[1])
	r.failed, _ = strconv.Atoi(m[2])
	r.hungUp, _ = strconv.Atoi(m[3])
	r.sent, _ = strconv.ParseInt(m[4], 10, 64)
	r.loadLate, _ = strconv.ParseInt(m[5], 10, 64)
	r.loadCPU, _ = strconv.ParseFloat(m[6], 64)
}

// checkRecordings checks every recording in the bucket and returns how many
// are complete. (An MP3 file's length is exact through its LAME tag.) siprec-load stops the RTP of every session at the same
// moment and then sends the BYEs (64 at a time), so a complete recording is a
// valid stereo WAV that runs from its session's start (the session document's
// start time, which is the recording's first sample) to that common moment:
// every recording must end within 0.3 s of the median end. A recording cut
// short, or one whose audio stopped being written, ends early.
func checkRecordings(ctx context.Context, base, bucket string, r *result) (int, error) {
	cl := insights.NewClient(base, insights.Secret(apiKey))
	type rec struct {
		rel string
		end time.Time
	}
	var recs []rec
	bad := 0
	report := func(rel, problem string) {
		if bad++; bad <= 5 {
			r.problems = append(r.problems, rel+": "+problem)
		}
	}
	err := filepath.WalkDir(bucket, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || (filepath.Ext(path) != ".wav" && filepath.Ext(path) != ".mp3") {
			return err
		}
		rel, _ := filepath.Rel(bucket, path)
		id, _, err := recording.ParseKey(filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		info, err := recording.Inspect(path)
		switch {
		case err != nil:
			report(rel, err.Error())
			return nil
		case info.Channels != 2:
			report(rel, fmt.Sprintf("%d channels", info.Channels))
			return nil
		}
		s, err := cl.Find(ctx, id.Session)
		if err != nil {
			report(rel, "session document: "+err.Error())
			return nil
		}
		recs = append(recs, rec{rel, s.SessionStartTime.Time.Add(info.Duration)})
		return nil
	})
	if err != nil || len(recs) == 0 {
		return 0, err
	}
	ends := make([]time.Time, len(recs))
	for i, x := range recs {
		ends[i] = x.end
	}
	slices.SortFunc(ends, func(a, b time.Time) int { return a.Compare(b) })
	median := ends[len(ends)/2]
	complete := 0
	for _, x := range recs {
		if d := x.end.Sub(median); d < -300*time.Millisecond || d > 300*time.Millisecond {
			report(x.rel, fmt.Sprintf("ends %v from the others (the RTP of every session stopped at once)", d.Round(time.Millisecond)))
			continue
		}
		complete++
	}
	return complete, nil
}

// procCPU returns the CPU seconds (user + system) of process pid so far.
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// the command name (field 2) may hold spaces: fields start after ')'
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / clockTicks()
}

// procRSS returns the resident memory of process pid in MiB.
func procRSS(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// clockTicks is sysconf(_SC_CLK_TCK), the unit of /proc/PID/stat times.
func clockTicks() float64 {
	if out, err := exec.Command("getconf", "CLK_TCK").Output(); err == nil {
		if v, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); err == nil && v > 0 {
			return v
		}
	}
	return 100
}

// metric returns one sample of the gateway's /metrics.
func metric(base, sample string) (float64, error) {
	res, err := http.Get(base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, sample+" ") {
			return strconv.ParseFloat(strings.TrimSpace(line[len(sample)+1:]), 64)
		}
	}
	return 0, sc.Err()
}

// profile saves a 20 s CPU profile of the gateway.
func profile(base, path string) {
	res, err := http.Get(base + "/debug/pprof/profile?seconds=20")
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return
	}
	defer res.Body.Close()
	_ = os.MkdirAll(filepath.Dir(path), 0o755)
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return
	}
	defer f.Close()
	_, _ = io.Copy(f, res.Body)
}

func waitHealthy(ctx context.Context, base string, done <-chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			return fmt.Errorf("the gateway exited: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if res, err := http.Get(base + "/healthz"); err == nil {
			var h struct{ Status string }
			_ = json.NewDecoder(res.Body).Decode(&h)
			res.Body.Close()
			if h.Status == "ok" {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("the gateway did not become healthy")
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// freePort returns a port free for UDP and TCP on 127.0.0.1.
func freePort() int {
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			continue
		}
		p := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p))
		l.Close()
		if err == nil {
			u.Close()
			return p
		}
	}
}

// repoRoot finds the module root (the directory holding go.mod).
func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run from inside the voicegw module")
	}
	return filepath.Dir(mod), nil
}
