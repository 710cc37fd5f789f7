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
//   - every session has a recording in the bucket: a valid stereo WAV (or
//     MP3) that runs from its session's start to the moment siprec-load
//     stopped sending (it prints that moment: the same for every session),
//     within 0.3 s, and holds siprec-load's 400 Hz tone in both channels
//     (its RMS over one second in the middle of the call).
//
// -format mp3 records MP3 in one channel, the parties mixed (the gateway's
// recording.mp3_mono, its default; -mp3-mono=false: stereo), and
// -mp3-bitrate sets recording.mp3_bitrate (default: the gateway's, 32 kbit/s
// mono, 48 stereo). A mono recording cannot hold a tone per
// channel, and the same tone twice would not tell a lost party (two 400 Hz
// tones a few samples apart cancel out as much as they add up), so with
// -mp3-mono siprec-load sends each party its own tone (-tones 400,1000) and
// a complete mono recording holds both in its one channel: the amplitude of
// each frequency over one second in the middle of the call, at least the
// level asked of each channel in stereo. The other checks are the same.
//
// A level passes when every check holds; a counter the gateway does not
// expose fails it. The report gives, per level, the gateway's CPU in % of
// one core, its CPU seconds per call-second (calls per core = 1 / that),
// and siprec-load's CPU; and the largest level that passed. The gateway
// and the load generator share the machine's cores, unless -pin gives the
// gateway core 0 of its own (taskset, GOMAXPROCS=1) and siprec-load the
// others: the largest level is then what one core records.
//
// -core-share F (with -pin) holds the gateway to the fraction F of its core
// by a cgroup CPU quota (F × 10 ms of every 10 ms; the cgroup v1 cpu
// controller or cgroup v2's, as root), for a machine where the load
// generator cannot offer a whole core's worth of calls: on two cores its
// sends, and the kernel delivering them on loopback (charged to the
// sender), fill the other core first. A level that passes within F of a
// core is then what F of a core records with the generator below its
// limit, and the report gives the level / F per core. The quota's
// throttling is noted per level. Caveat: the streams of N calls fit the
// processor's caches better than those of N / F.
//
// -pprof DIR writes a 20 s CPU profile of the gateway during the steady state
// of each level (go tool pprof DIR/gateway-N.pprof), and one of the ramp-up
// (DIR/gateway-N-ramp.pprof: up to 20 s from the first session set up, while
// the sessions are being set up at -rate). -poller=false runs the
// gateway with rtp.poller off (a goroutine per stream), for comparison.
// -srtp records encrypted calls: SIPREC over TLS (the gateway's development
// certificate, trusted by siprec-load) with every stream as SRTP keyed by
// SDES (AES_CM_128_HMAC_SHA1_80, a key per stream), decrypted by the
// gateway before recording; its figures compare with a run without.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
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

	"github.com/go-audio/wav"

	"github.com/voicegw/voicegw/insights"
	"github.com/voicegw/voicegw/internal/buildinfo"
	"github.com/voicegw/voicegw/rbac/secret"
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
	pin        bool
	share      float64 // -core-share: the fraction of core 0 the gateway may use (1: all of it)
	srtp       bool
	mp3Mono    bool // recording.mp3_mono: one channel, the parties mixed
	mp3Bitrate int  // recording.mp3_bitrate; 0: the gateway's default
}

// The tones of the two parties with -mp3-mono (siprec-load -tones): each a
// whole number of periods in a 20 ms frame and in the one second checked,
// so the two are measured apart in the mix. Without -mp3-mono both parties
// send the first.
const (
	toneFirst  = 400
	toneSecond = 1000
)

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
	fs.BoolVar(&o.pin, "pin", false, "give the gateway one core of its own (taskset -c 0, GOMAXPROCS=1) and siprec-load the others: the level found is the calls one core records")
	fs.Float64Var(&o.share, "core-share", 1, "with -pin: hold the gateway to this fraction of its core (a cgroup CPU quota, e.g. 0.5), for when the load generator cannot fill a whole core; calls per core = the level / the share")
	fs.BoolVar(&o.srtp, "srtp", false, "SIPREC over TLS with SRTP media (AES_CM_128_HMAC_SHA1_80) instead of TCP and RTP")
	fs.BoolVar(&o.mp3Mono, "mp3-mono", true, "with -format mp3: record in one channel, the parties mixed (recording.mp3_mono, the gateway's default); each party then sends a tone of its own (400 and 1000 Hz), checked in the mix; -mp3-mono=false: stereo")
	fs.IntVar(&o.mp3Bitrate, "mp3-bitrate", 0, "with -format mp3: recording.mp3_bitrate in kbit/s (default: the gateway's)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *showVersion {
		fmt.Fprintln(out, "capacity", buildinfo.Read(version, commit))
		return nil
	}
	if o.format != "wav" && o.format != "mp3" {
		return fmt.Errorf("-format %q: want wav or mp3", o.format)
	}
	mp3Flag := false
	fs.Visit(func(f *flag.Flag) { mp3Flag = mp3Flag || f.Name == "mp3-mono" || f.Name == "mp3-bitrate" })
	if o.format != "mp3" && mp3Flag {
		return fmt.Errorf("-mp3-mono and -mp3-bitrate need -format mp3")
	}
	o.mp3Mono = o.mp3Mono && o.format == "mp3"
	if o.mp3Bitrate < 0 {
		return fmt.Errorf("-mp3-bitrate %d: want a bitrate in kbit/s", o.mp3Bitrate)
	}
	if _, err := exec.LookPath("lame"); o.format == "mp3" && err != nil {
		return fmt.Errorf("-format mp3 checks the recordings with the lame command: install the Debian package lame")
	}
	if o.share != 1 {
		if !o.pin {
			return fmt.Errorf("-core-share %v needs -pin (a share of the gateway's own core)", o.share)
		}
		if err := checkShare(o.share); err != nil {
			return fmt.Errorf("-core-share %w", err)
		}
		if err := cpuControllerWritable(); err != nil {
			return fmt.Errorf("-core-share: %w", err)
		}
	}
	if o.pin {
		if runtime.NumCPU() < 2 {
			return fmt.Errorf("-pin needs 2 cores or more, this machine has %d", runtime.NumCPU())
		}
		if _, err := exec.LookPath("taskset"); err != nil {
			return fmt.Errorf("-pin needs taskset (apt-get install -y util-linux): %w", err)
		}
		o.gomaxprocs = 1
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
	cores := fmt.Sprintf("%d cores shared by both programs", runtime.NumCPU())
	if o.pin {
		cores = fmt.Sprintf("%d cores: the gateway on core 0 (GOMAXPROCS=1), siprec-load on the others", runtime.NumCPU())
		if o.share != 1 {
			cores = fmt.Sprintf("%d cores: the gateway held to %.0f%% of core 0 (GOMAXPROCS=1; cgroup CPU quota %v per %v), siprec-load on the others",
				runtime.NumCPU(), 100*o.share, time.Duration(o.share*float64(sharePeriod)), sharePeriod)
		}
	}
	signalling := "digest over TCP"
	if o.srtp {
		signalling = "digest over TLS, SRTP AES_CM_128_HMAC_SHA1_80"
	}
	layout := "stereo " + strings.ToUpper(o.format)
	if o.mp3Mono {
		layout = fmt.Sprintf("mono MP3 (parties mixed; tones %d and %d Hz)", toneFirst, toneSecond)
	}
	if o.mp3Bitrate != 0 {
		layout += fmt.Sprintf(" at %d kbit/s", o.mp3Bitrate)
	}
	fmt.Fprintf(out, "machine: %s, %s/%s; each call: 2 streams of 20 ms PCMU, %s, %s; RTP poller %v\n",
		cores, runtime.GOOS, runtime.GOARCH, layout, signalling, o.poller)
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
	fmt.Fprintf(out, "largest level with no lost packet and every recording complete: %d concurrent calls", best)
	if o.share != 1 {
		fmt.Fprintf(out, " in %.0f%% of a core: %.0f per core", 100*o.share, float64(best)/o.share)
	}
	fmt.Fprintln(out)
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
	rtpStopped              time.Time     // when siprec-load sent its last frames
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
	sipPort, httpPort, tlsPort := freePort(), freePort(), freePort()
	transports, srs := "[tcp, udp]", []string{"-srs", fmt.Sprintf("sip:127.0.0.1:%d;transport=tcp", sipPort)}
	if o.srtp { // the development certificate made at start, trusted by siprec-load
		transports = fmt.Sprintf("[tcp, udp, tls], tls: {listen: 127.0.0.1:%d}", tlsPort)
		srs = []string{"-srs", fmt.Sprintf("sips:127.0.0.1:%d", tlsPort), "-tls-ca", filepath.Join(data, "tls", "cert.pem")}
	}
	// siprec-load's shards (one per core) each open a connection from
	// 127.0.0.1: a burst of 1024 keeps the per-source rate of new
	// connections (sip.tcp.new_conn_rate) from refusing some on a machine
	// of many cores
	cfg := fmt.Sprintf(`data_dir: %s
log: {level: warn}
sip: {listen: 127.0.0.1:%d, transports: %s, default_account: %s, tcp: {new_conn_burst: 1024}}
http: {listen: 127.0.0.1:%d, pprof: %v}
rtp: {address: 127.0.0.1, ports: %s, poller: %v, reserve_rtcp: false}
shutdown: {timeout: 120s}
accounts:
  - name: %s
    sip_realm: load.test
    sip: {users: [{username: %s, password: %s}]}
    recording: {enabled: true, format: %s, record_all_calls: true, bucket: {vendor: file, file: {dir: %s}}}
    api_keys: [{name: capacity, secret: %s}]
`, data, sipPort, transports, account, httpPort, o.pprof != "", o.rtpPorts, o.poller, account, user, password, o.format, bucket, apiKey)
	if o.format == "mp3" {
		cfg += fmt.Sprintf("recording: {mp3_mono: %v", o.mp3Mono)
		if o.mp3Bitrate != 0 {
			cfg += fmt.Sprintf(", mp3_bitrate: %d", o.mp3Bitrate)
		}
		cfg += "}\n"
	}
	cfgPath := filepath.Join(data, "gateway.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	var gwLog bytes.Buffer
	gw := pinned(o.pin, "0", filepath.Join(bin, "gateway"), "-config", cfgPath)
	gw.Stdout, gw.Stderr = &gwLog, &gwLog
	if o.gomaxprocs > 0 {
		gw.Env = append(os.Environ(), fmt.Sprintf("GOMAXPROCS=%d", o.gomaxprocs))
	}
	if err := gw.Start(); err != nil {
		return nil, err
	}
	gwDone := make(chan error, 1)
	go func() { gwDone <- gw.Wait() }()
	var group *cpuGroup
	defer func() {
		_ = gw.Process.Signal(syscall.SIGTERM)
		select {
		case <-gwDone:
		case <-time.After(3 * time.Minute):
			_ = gw.Process.Kill()
			<-gwDone
		}
		if group != nil {
			if err := group.remove(); err != nil {
				fmt.Fprintln(os.Stderr, "capacity:", err)
			}
		}
	}()
	if o.share != 1 {
		// taskset execs the gateway in its own process: the PID is the
		// gateway's, and moving it moves every thread it has started
		g, err := newCPUGroup(fmt.Sprintf("voicegw-capacity-%d", gw.Process.Pid), o.share)
		if err != nil {
			return nil, err
		}
		group = g
		if err := group.add(gw.Process.Pid); err != nil {
			return nil, err
		}
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	if err := waitHealthy(ctx, base, gwDone); err != nil {
		return nil, fmt.Errorf("%w\n%s", err, gwLog.String())
	}

	// the load
	loadArgs := append(srs,
		"-calls", strconv.Itoa(n), "-rate", strconv.FormatFloat(o.rate, 'f', -1, 64),
		"-duration", o.duration.String(), "-user", user, "-password", password)
	if o.mp3Mono {
		loadArgs = append(loadArgs, "-tones", fmt.Sprintf("%d,%d", toneFirst, toneSecond))
	}
	load := pinned(o.pin, fmt.Sprintf("1-%d", runtime.NumCPU()-1), filepath.Join(bin, "siprec-load"), loadArgs...)
	if o.pin {
		load.Env = append(os.Environ(), fmt.Sprintf("GOMAXPROCS=%d", runtime.NumCPU()-1))
	}
	stdout, err := load.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var loadErr bytes.Buffer
	load.Stderr = &loadErr
	if err := load.Start(); err != nil {
		return nil, err
	}
	stopLoad := context.AfterFunc(ctx, func() { _ = load.Process.Kill() })
	defer stopLoad()
	if o.pprof != "" {
		// the ramp-up: sessions being set up while the media of those
		// already up is received, the time the 2,000-call runs lost packets
		ramp := min(20, max(1, int(float64(n)/o.rate)))
		go profile(base, filepath.Join(o.pprof, fmt.Sprintf("gateway-%d-ramp.pprof", n)), ramp)
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
			switch {
			case strings.HasPrefix(line, "summary:"):
				summary = line
			case strings.HasPrefix(line, "rtp stopped: "):
				r.rtpStopped, _ = time.Parse(time.RFC3339Nano, strings.TrimPrefix(line, "rtp stopped: "))
			}
		case <-tick.C:
			now := time.Now()
			if steadyFrom.IsZero() && now.Before(stopAt) {
				if active, _ := metric(base, "voicegw_sessions_active"); int(active) == n {
					steadyFrom, cpuFrom = now, procCPU(gw.Process.Pid)
					if o.pprof != "" && !profiled && stopAt.Sub(now) > 22*time.Second {
						profiled = true
						go profile(base, filepath.Join(o.pprof, fmt.Sprintf("gateway-%d.pprof", n)), 20)
					}
				}
			}
			if !steadyFrom.IsZero() && r.steady == 0 && !now.Before(stopAt) {
				r.steady = now.Sub(steadyFrom)
				r.gatewayCPU = procCPU(gw.Process.Pid) - cpuFrom
				r.callSeconds = float64(n) * r.steady.Seconds()
				r.rssMiB = procRSS(gw.Process.Pid)
				if group != nil {
					periods, throttled, d := group.throttled()
					r.notes = append(r.notes, fmt.Sprintf("the CPU quota held the gateway back in %d of %d periods of %v since it started, %v in all",
						throttled, periods, sharePeriod, d.Round(time.Millisecond)))
				}
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
		v, err := metrics(base, "voicegw_sessions_active", "voicegw_recordings_spooled",
			`voicegw_recordings_written_total{format="`+o.format+`"}`)
		if err == nil && v[0] == 0 && v[1] == 0 && int(v[2]) >= r.started {
			break
		}
		if time.Now().After(deadline) {
			if err != nil {
				r.problems = append(r.problems, "after 3 min: the gateway's gauges: "+err.Error())
			} else {
				r.problems = append(r.problems, fmt.Sprintf("after 3 min: %v sessions still active, %v recordings spooled, %v written", v[0], v[1], v[2]))
			}
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	counters, err := metrics(base, "voicegw_recording_late_samples_total", "voicegw_rtp_packets_lost_total",
		"voicegw_rtp_packets_late_total", "voicegw_rtp_packets_received_total")
	if err != nil {
		r.problems = append(r.problems, "the gateway's counters: "+err.Error())
	}
	if dropped := counters[0]; dropped > 0 {
		r.problems = append(r.problems, fmt.Sprintf("the recorders dropped %v samples that came too late", dropped))
	}
	r.lost, r.late, r.received = int64(counters[1]), int64(counters[2]), int64(counters[3])
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
	r.complete, err = checkRecordings(ctx, base, bucket, o.mp3Mono, r)
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
// are complete. siprec-load stops the RTP of every session at the same
// moment (it prints when: "rtp stopped") and then sends the BYEs, 64 at a
// time, so a complete recording is a valid stereo file that runs from its
// session's start (the session document's start time, which is the
// recording's first sample) to that moment, within 0.3 s (an MP3 file's
// length is exact through its LAME tag), and that holds siprec-load's
// 400 Hz tone in both channels (checked over one second in the middle). A
// recording cut short, or one whose audio stopped being written, ends
// early; one that lost a stream is silent in its channel. With mono (MP3
// mixed to one channel) the file has one channel that holds both parties'
// tones (checkAudio).
func checkRecordings(ctx context.Context, base, bucket string, mono bool, r *result) (int, error) {
	if r.rtpStopped.IsZero() {
		r.problems = append(r.problems, "siprec-load did not say when it stopped the RTP")
		return 0, nil
	}
	cl := insights.NewClient(base, secret.String(apiKey))
	bad, complete := 0, 0
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
		case mono && info.Channels != 1:
			report(rel, fmt.Sprintf("%d channels, want 1 (mono)", info.Channels))
			return nil
		case !mono && info.Channels != 2:
			report(rel, fmt.Sprintf("%d channels, want 2", info.Channels))
			return nil
		}
		s, err := cl.Find(ctx, id.Session)
		if err != nil {
			report(rel, "session document: "+err.Error())
			return nil
		}
		end := s.SessionStartTime.Time.Add(info.Duration)
		if d := end.Sub(r.rtpStopped); d < -300*time.Millisecond || d > 300*time.Millisecond {
			report(rel, fmt.Sprintf("ends %v from the moment siprec-load stopped the RTP", d.Round(time.Millisecond)))
			return nil
		}
		problem, err := checkAudio(path, info)
		if err != nil {
			report(rel, "reading the audio: "+err.Error())
			return nil
		}
		if problem != "" {
			report(rel, problem)
			return nil
		}
		complete++
		return nil
	})
	return complete, err
}

// minLevel is the RMS a tone must keep in a complete recording: siprec-load
// sends it at 8000 peak (RMS 5,657); G.711 and MP3 keep it within a few %.
const minLevel = 4000

// checkAudio checks one second in the middle of a recording and returns
// what is wrong with it ("" when nothing). Stereo: each channel's RMS is at
// least minLevel (a channel whose party was lost is silent). Mono: the
// level of each party's tone (toneFirst, toneSecond) in the mix is at least
// minLevel; a lost party's tone is missing whatever the phase between the
// two, and the mix's RMS (both tones) says nothing that these do not.
func checkAudio(path string, info recording.Info) (string, error) {
	ch, err := middleSecond(path, info)
	if err != nil {
		return "", err
	}
	switch len(ch) {
	case 1:
		first, second := toneLevel(ch[0], toneFirst, info.SampleRate), toneLevel(ch[0], toneSecond, info.SampleRate)
		if first < minLevel || second < minLevel {
			return fmt.Sprintf("a party's tone is missing in the middle of the mono mix: %d Hz at RMS %.0f, %d Hz at RMS %.0f (want about 5,657 each)",
				toneFirst, first, toneSecond, second), nil
		}
	case 2:
		rms := [2]float64{level(ch[0]), level(ch[1])}
		if rms[0] < minLevel || rms[1] < minLevel {
			return fmt.Sprintf("the tone is missing in the middle of the call: RMS %.0f left, %.0f right (want about 5,657)", rms[0], rms[1]), nil
		}
	default:
		return fmt.Sprintf("%d channels", len(ch)), nil
	}
	return "", nil
}

// level returns the RMS of x.
func level(x []float64) float64 {
	sum := 0.0
	for _, v := range x {
		sum += v * v
	}
	return math.Sqrt(sum / float64(max(len(x), 1)))
}

// toneLevel returns the RMS of the sine at hz in x (sampled at rate): the
// magnitude of that one DFT bin, which for a whole number of periods in x
// no other such tone leaks into.
func toneLevel(x []float64, hz, rate int) float64 {
	var re, im float64
	for n, v := range x {
		a := 2 * math.Pi * float64(hz) * float64(n) / float64(rate)
		re += v * math.Cos(a)
		im += v * math.Sin(a)
	}
	return math.Sqrt2 * math.Hypot(re, im) / float64(max(len(x), 1))
}

// middleSecond returns one second of each channel of a recording, from its
// middle.
func middleSecond(path string, info recording.Info) ([][]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rate, channels := info.SampleRate, info.Channels
	if channels < 1 || channels > 2 {
		return nil, fmt.Errorf("%d channels", channels)
	}
	var pcm io.Reader // interleaved 16-bit little-endian at rate
	switch info.Format {
	case recording.WAV:
		d := wav.NewDecoder(f)
		if err := d.FwdToPCM(); err != nil {
			return nil, err
		}
		pcm = d.PCMChunk
	case recording.MP3:
		// The lame command decodes it (go-mp3 cannot read the 8 kHz
		// MPEG-2.5 files recording writes by default): raw 16-bit PCM
		// (a mono file stays mono) at the file's rate, the LAME tag's
		// delay and padding removed.
		cmd := exec.Command("lame", "--decode", "-t", "--quiet", path, "-")
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("lame (Debian package lame) decodes the MP3 recordings: %w", err)
		}
		defer func() { _ = cmd.Wait() }()
		defer io.Copy(io.Discard, out)
		pcm = out
	default:
		return nil, fmt.Errorf("format %v", info.Format)
	}
	frames := int64(rate)
	skip := (info.Frames - frames) / 2
	if skip < 0 {
		return nil, fmt.Errorf("%d frames: shorter than a second", info.Frames)
	}
	size := int64(2 * channels)
	if _, err := io.CopyN(io.Discard, pcm, skip*size); err != nil {
		return nil, err
	}
	buf := make([]byte, frames*size)
	if _, err := io.ReadFull(pcm, buf); err != nil {
		return nil, err
	}
	ch := make([][]float64, channels)
	for c := range ch {
		ch[c] = make([]float64, frames)
		for i := range ch[c] {
			ch[c][i] = float64(int16(binary.LittleEndian.Uint16(buf[int64(i)*size+int64(2*c):])))
		}
	}
	return ch, nil
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
	v, err := metrics(base, sample)
	return v[0], err
}

// metrics returns samples of the gateway's /metrics, in order; a sample
// the gateway does not expose is an error (its value reads 0).
func metrics(base string, samples ...string) ([]float64, error) {
	v := make([]float64, len(samples))
	res, err := http.Get(base + "/metrics")
	if err != nil {
		return v, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return v, fmt.Errorf("GET /metrics: %s", res.Status)
	}
	found := make([]bool, len(samples))
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for i, sample := range samples {
			if !found[i] && strings.HasPrefix(line, sample+" ") {
				if v[i], err = strconv.ParseFloat(strings.TrimSpace(line[len(sample)+1:]), 64); err != nil {
					return v, fmt.Errorf("/metrics: %s: %w", sample, err)
				}
				found[i] = true
			}
		}
	}
	if err := sc.Err(); err != nil {
		return v, fmt.Errorf("reading /metrics: %w", err)
	}
	for i, ok := range found {
		if !ok {
			return v, fmt.Errorf("/metrics has no sample %s", samples[i])
		}
	}
	return v, nil
}

// pinned is a command for name and args, run on the given CPUs (taskset
// -c) when pin is set.
func pinned(pin bool, cpus, name string, args ...string) *exec.Cmd {
	if pin {
		return exec.Command("taskset", append([]string{"-c", cpus, name}, args...)...)
	}
	return exec.Command(name, args...)
}

// profile saves a CPU profile of the gateway over the next seconds.
func profile(base, path string, seconds int) {
	res, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, seconds))
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

// version and commit describe the build, set by the linker
// (-ldflags "-X main.version=v1.2.3 -X main.commit=..."); see -version.
var version, commit string
