// Command siprec-load is a SIPREC load generator built on the siprec
// package's recording client: it keeps N concurrent recording sessions
// open against a recording server, each with two 20 ms G.711 μ-law streams,
// and reports the sessions started and failed, the RTP packets sent and its
// own CPU use. It is the harness for a recording server's capacity figure.
//
//	go run ./examples/siprec-load -srs "sip:127.0.0.1:5060;transport=tcp" \
//	    -calls 1000 -rate 100/s -duration 60s [-user src -password secret] \
//	    [-tls-ca FILE] [-srtp auto|off] [-tones 400,1000]
//
// A sips: recorder is reached over TLS (trusting the system's roots or the
// PEM certificates of -tls-ca) and its streams go as SRTP keyed by SDES
// (siprec.ClientSRTPConfig), unless -srtp off.
//
// Sessions are started at -rate (per second) until -calls are up, and a
// session that fails to start or that the recorder hangs up is replaced at
// the same rate, so N stay up for -duration (counted from the start of the
// run); then every session is stopped (BYE). A progress line goes to stdout
// every second and a summary at the end; the exit status is 1 when no
// session could be started.
//
// It is built to scale on a small machine: one shard per core (GOMAXPROCS),
// each with one Client (one SIP socket), one UDP socket that every stream of
// its sessions is sent from (ClientConfig.RTPConn, through a
// media.BatchWriter: each tick's packets leave with sendmmsg, up to 1,024 a
// system call), and one sender goroutine ticking every 20 ms that writes
// every stream's frame from one pre-encoded buffer through Forks that do
// not allocate; no goroutine or timer per stream, and no socket shared
// between cores. A sender that falls more than 60 ms behind skips the
// frames it cannot send (Fork.Skip keeps the RTP timestamps true) and
// reports them as "late": the machine is then over capacity. CPU is the
// process's user and system time (getrusage), as a share of one core.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"

	"github.com/voicegw/voicegw/internal/buildinfo"
	"github.com/voicegw/voicegw/media"
	"github.com/voicegw/voicegw/rbac/secret"
	"github.com/voicegw/voicegw/siprec"
	"github.com/voicegw/voicegw/siprec/metadata"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// sipgo logs connection bookkeeping through its package default logger:
	// a program may set it (run does not, so tests can run several).
	sipgosip.SetDefaultLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type config struct {
	srs            siprec.URIList
	calls          int
	rate           float64
	duration       time.Duration
	user, password string
	report         time.Duration
	tlsCA, srtp    string
	tones          []int // Hz, per stream of a session; the last repeats
}

// rateFlag reads "100" or "100/s".
type rateFlag struct{ v *float64 }

func (r rateFlag) String() string {
	if r.v == nil {
		return ""
	}
	return strconv.FormatFloat(*r.v, 'f', -1, 64) + "/s"
}

func (r rateFlag) Set(s string) error {
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "/s"), 64)
	if err != nil || v <= 0 || math.IsInf(v, 0) {
		return fmt.Errorf("%q is not a positive rate such as 50 or 50/s", s)
	}
	*r.v = v
	return nil
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	c := config{calls: 100, rate: 50, duration: 30 * time.Second, report: time.Second, tones: []int{400}}
	fs := flag.NewFlagSet("siprec-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	// -srs is parsed after the flags, not as a flag.TextVar: the flag
	// package would quote the raw value, password included, in its error.
	var srs string
	fs.StringVar(&srs, "srs", "", "recording server `URI` (or a comma-separated list: every session records to each)")
	fs.IntVar(&c.calls, "calls", c.calls, "concurrent sessions to keep up")
	fs.Var(rateFlag{&c.rate}, "rate", "sessions started per second (`R` or R/s)")
	fs.DurationVar(&c.duration, "duration", c.duration, "how long to run, from the start")
	fs.StringVar(&c.user, "user", "", "digest user name for recorders that challenge")
	fs.StringVar(&c.password, "password", "", "digest password")
	fs.StringVar(&c.tlsCA, "tls-ca", "", "PEM `FILE` of the certificates trusted for sips: recorders (default: the system's roots)")
	fs.StringVar(&c.srtp, "srtp", "auto", "`auto`: SRTP to sips: recorders, RTP to others; off: RTP to every recorder")
	tones := fs.String("tones", "400", "comma-separated tone `frequencies` in Hz, one per stream of a session in order (the last repeats); each a multiple of 50 below 4000, so a 20 ms frame holds whole periods")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.tones = c.tones[:0]
	for _, f := range strings.Split(*tones, ",") {
		hz, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || hz <= 0 || hz >= media.SampleRate/2 || hz%50 != 0 {
			return c, fmt.Errorf("-tones: %q is not a multiple of 50 Hz below 4000", f)
		}
		c.tones = append(c.tones, hz)
	}
	if len(c.tones) > 16 {
		return c, fmt.Errorf("-tones: %d tones, at most 16", len(c.tones))
	}
	if *showVersion {
		fmt.Fprintln(fs.Output(), "siprec-load", buildinfo.Read(version, commit))
		return c, flag.ErrHelp
	}
	if strings.TrimSpace(srs) != "" {
		list, err := siprec.ParseURIList(srs) // its errors mask a password
		if err != nil {
			return c, fmt.Errorf("-srs: %w", err)
		}
		c.srs = list
	}
	switch {
	case fs.NArg() > 0:
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	case len(c.srs) == 0:
		return c, fmt.Errorf("-srs is required: %w", siprec.ErrNoRecorderURL)
	case c.srtp != "auto" && c.srtp != "off":
		return c, fmt.Errorf("-srtp %q: want auto or off", c.srtp)
	case c.calls < 1:
		return c, fmt.Errorf("-calls %d must be at least 1", c.calls)
	case c.duration <= 0:
		return c, fmt.Errorf("-duration %v must be positive", c.duration)
	}
	return c, nil
}

// load is one run's state.
type load struct {
	cfg    config
	out    io.Writer
	shards []*shard

	mu       sync.Mutex
	starting int
	next     int // shard of the next session (starter goroutine only)

	started, failed, hungUp atomic.Int64
	frames                  atomic.Int64 // frames written to forks (one per stream per 20 ms)
	late                    atomic.Int64 // frames skipped because a sender fell behind
	endedPackets            atomic.Int64 // RTP packets sent to recorders that hung up
	sendErrors              atomic.Int64 // batches whose Flush reported a datagram not sent
	lastSendErr             atomic.Pointer[string]
	lastErr                 atomic.Pointer[string]
}

// shard is the sessions one sender goroutine feeds, with their Client and
// RTP socket (through a BatchWriter: each tick's packets leave in a few
// sendmmsg calls).
type shard struct {
	client *siprec.Client
	rtp    *media.BatchWriter
	mu     sync.Mutex
	live   []*siprec.Manager
}

// maxBehind is how many 20 ms frames a sender may catch up at once; beyond
// that it skips (the media is real time: a burst of old audio helps nobody).
const maxBehind = 3

// paceGroups is how many bursts a sender spreads each frame over, within
// the first paceSpan of its 20 ms (every millisecond a tenth of the
// streams): a recorder then sees the packets of many calls arrive spread
// out, as from real call legs, not every stream's packet in the same
// instant. The rest of the frame is slack for the sends themselves: with
// the bursts spread over the whole 20 ms, the last one started at 18 ms
// and a sender busy for more than 2 ms of it finished late, and fell
// behind, at about two thirds of its core.
const (
	paceGroups = 10
	paceSpan   = 10 * time.Millisecond
)

// live returns the number of sessions up.
func (l *load) live() int {
	n := 0
	for _, sh := range l.shards {
		sh.mu.Lock()
		n += len(sh.live)
		sh.mu.Unlock()
	}
	return n
}

// all returns every session up, removing them when take is set.
func (l *load) all(take bool) []*siprec.Manager {
	var ms []*siprec.Manager
	for _, sh := range l.shards {
		sh.mu.Lock()
		ms = append(ms, sh.live...)
		if take {
			sh.live = nil
		}
		sh.mu.Unlock()
	}
	return ms
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "siprec-load:", err)
		return 2
	}
	l := &load{cfg: cfg, out: stdout}
	var tlsConfig *tls.Config
	if cfg.tlsCA != "" {
		pem, err := os.ReadFile(cfg.tlsCA)
		roots := x509.NewCertPool()
		if err != nil || !roots.AppendCertsFromPEM(pem) {
			fmt.Fprintf(stderr, "siprec-load: -tls-ca %s: no PEM certificate (%v)\n", cfg.tlsCA, err)
			return 2
		}
		tlsConfig = &tls.Config{RootCAs: roots}
	}
	for range runtime.GOMAXPROCS(0) {
		rtp, err := net.ListenUDP("udp", &net.UDPAddr{})
		if err != nil {
			fmt.Fprintln(stderr, "siprec-load:", err)
			return 1
		}
		defer rtp.Close()
		_ = rtp.SetWriteBuffer(4 << 20)
		bw, err := media.NewBatchWriter(rtp)
		if err != nil {
			fmt.Fprintln(stderr, "siprec-load:", err)
			return 1
		}
		client, err := siprec.NewClient(siprec.ClientConfig{
			Username: cfg.user, Password: secret.String(cfg.password),
			RTPConn:   bw,
			TLSConfig: tlsConfig, SRTP: siprec.ClientSRTPConfig{Disable: cfg.srtp == "off"},
			Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		})
		if err != nil {
			fmt.Fprintln(stderr, "siprec-load:", err)
			return 1
		}
		defer client.Close()
		l.shards = append(l.shards, &shard{client: client, rtp: bw})
	}

	cpu0, wall0 := cpuTime(), time.Now()
	runCtx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	var wg sync.WaitGroup
	for _, sh := range l.shards {
		wg.Go(func() { l.send(runCtx, sh) })
	}
	wg.Go(func() { l.progress(runCtx, cpu0, wall0) })
	l.starter(runCtx)
	wg.Wait()
	rtpStopped := time.Now() // the media goroutines sent their last frames

	// Stop every session (BYE), in parallel, and wait for starts in flight.
	for {
		l.mu.Lock()
		n := l.starting
		l.mu.Unlock()
		if n == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	packets := l.packets()
	live := l.all(true)
	stopBegin := time.Now()
	stopCtx, stopCancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer stopCancel()
	var stopped, stopFailed atomic.Int64
	sem := make(chan struct{}, 64)
	var swg sync.WaitGroup
	for _, m := range live {
		sem <- struct{}{}
		swg.Go(func() {
			defer func() { <-sem }()
			res, err := m.Stop(stopCtx)
			if err == nil && len(res) > 0 && res[0].OK() {
				stopped.Add(1)
			} else {
				stopFailed.Add(1)
			}
		})
	}
	swg.Wait()
	stopTook := time.Since(stopBegin)
	elapsed := time.Since(wall0)
	cpu := cpuTime() - cpu0
	fmt.Fprintf(stdout, "summary: sessions started %d, failed %d, hung up by the recorder %d, stopped %d (stop failed %d, in %v); "+
		"packets sent %d (%.0f/s), late frames skipped %d; CPU %.1f%% of one core (%v) over %v\n",
		l.started.Load(), l.failed.Load(), l.hungUp.Load(), stopped.Load(), stopFailed.Load(), stopTook.Round(time.Millisecond),
		packets, float64(packets)/elapsed.Seconds(), l.late.Load(), 100*cpu.Seconds()/elapsed.Seconds(), cpu.Round(time.Millisecond), elapsed.Round(time.Millisecond))
	fmt.Fprintf(stdout, "rtp stopped: %s\n", rtpStopped.Format(time.RFC3339Nano))
	if e := l.lastErr.Load(); e != nil {
		fmt.Fprintln(stdout, "last start error:", *e)
	}
	if e := l.lastSendErr.Load(); e != nil {
		fmt.Fprintf(stdout, "RTP send errors: %d batches had a datagram not sent (last: %s)\n", l.sendErrors.Load(), *e)
	}
	if l.started.Load() == 0 {
		return 1
	}
	return 0
}

// starter starts sessions at the configured rate while fewer than -calls
// are up or starting, until ctx ends.
func (l *load) starter(ctx context.Context) {
	interval := time.Duration(float64(time.Second) / l.cfg.rate)
	tick := time.NewTicker(max(interval, time.Millisecond))
	defer tick.Stop()
	next := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for !time.Now().Before(next) { // catch up when ticks were late
			next = next.Add(interval)
			live := l.live()
			l.mu.Lock()
			room := live+l.starting < l.cfg.calls
			if room {
				l.starting++
			}
			l.mu.Unlock()
			if !room {
				next = time.Now().Add(interval)
				break
			}
			l.next++
			go l.startOne(ctx, l.shards[l.next%len(l.shards)])
		}
	}
}

func (l *load) startOne(ctx context.Context, sh *shard) {
	defer func() {
		l.mu.Lock()
		l.starting--
		l.mu.Unlock()
	}()
	var m *siprec.Manager
	m, err := sh.client.NewManager(siprec.ManagerConfig{
		Call: metadata.Call{Parties: []metadata.Party{
			{AOR: "sip:caller@load.invalid", Label: "1"},
			{AOR: "sip:callee@load.invalid", Label: "2"},
		}},
		OnRecorderEnded: func(st siprec.RecorderStatus) {
			l.endedPackets.Add(sentPackets(st))
			if !m.Recording() {
				l.hungUp.Add(1)
				l.remove(m)
			}
		},
	})
	if err == nil {
		_, err = m.Start(ctx, siprec.StartRequest{Recorders: l.cfg.srs, RecordingID: "load-" + metadata.NewID()[:8]})
	}
	if err != nil {
		if ctx.Err() == nil {
			l.failed.Add(1)
			s := err.Error()
			l.lastErr.Store(&s)
		}
		return
	}
	l.started.Add(1)
	sh.mu.Lock()
	sh.live = append(sh.live, m)
	sh.mu.Unlock()
}

func (l *load) remove(m *siprec.Manager) {
	for _, sh := range l.shards {
		sh.mu.Lock()
		for i, x := range sh.live {
			if x == m {
				sh.live = append(sh.live[:i], sh.live[i+1:]...)
				sh.mu.Unlock()
				return
			}
		}
		sh.mu.Unlock()
	}
}

// send is one of the media goroutines: every 20 ms it writes one frame to
// every fork of its shard's sessions, from a pre-encoded buffer per tone
// and a reused snapshot of the session list.
func (l *load) send(ctx context.Context, sh *shard) {
	// One pre-encoded frame per tone: a whole number of periods in 20 ms
	// (400 Hz: 8), so every frame of a stream is the same.
	frames := make([][]byte, len(l.cfg.tones))
	pcm := make([]int16, 160)
	for t, hz := range l.cfg.tones {
		for i := range pcm {
			pcm[i] = int16(8000 * math.Sin(2*math.Pi*float64(hz)*float64(i)/media.SampleRate))
		}
		frames[t] = make([]byte, len(pcm))
		media.EncodePCMU(frames[t], pcm)
	}
	frame := frames[0]
	var forks []*siprec.Fork
	var tone []uint8 // frames index of each fork's stream
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	for done := 0; ; {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		due := int(time.Since(start) / (20 * time.Millisecond))
		forks, tone = forks[:0], tone[:0]
		sh.mu.Lock()
		for _, m := range sh.live {
			for i, f := range m.Forks() {
				forks = append(forks, f)
				tone = append(tone, uint8(min(i, len(frames)-1)))
			}
		}
		sh.mu.Unlock()
		if behind := due - done; behind > maxBehind {
			skip := behind - maxBehind
			for _, f := range forks {
				f.Skip(skip * len(frame))
			}
			l.late.Add(int64(skip * len(forks)))
			done += skip
		}
		for ; done < due; done++ {
			// The frame that is on time is spread over its 20 ms in
			// paceGroups bursts, as independent calls' packets are, not
			// sent as one burst of every stream; frames caught up go at
			// once.
			groups, base := 1, time.Now()
			if done+1 == due {
				groups = paceGroups
			}
			for g := range groups {
				if g > 0 {
					if d := time.Until(base.Add(time.Duration(g) * paceSpan / paceGroups)); d > 0 {
						time.Sleep(d)
					}
				}
				lo, hi := g*len(forks)/groups, (g+1)*len(forks)/groups
				for i, f := range forks[lo:hi] {
					_ = f.WriteEncoded(media.EncodingPCMU, frames[tone[lo+i]])
				}
				if err := sh.rtp.Flush(); err != nil {
					// Counted as sent by the forks: say so, or the recorder
					// would be blamed for packets that never left.
					l.sendErrors.Add(1)
					s := err.Error()
					l.lastSendErr.Store(&s)
				}
			}
			l.frames.Add(int64(len(forks)))
		}
	}
}

// packets sums the RTP packets sent so far: to the recorders of the
// sessions up, and to those that hung up (whose sessions were replaced).
func (l *load) packets() int64 {
	n := l.endedPackets.Load()
	for _, m := range l.all(false) {
		for _, r := range m.Recorders() {
			n += sentPackets(r)
		}
	}
	return n
}

// sentPackets sums the RTP packets sent to one recorder.
func sentPackets(r siprec.RecorderStatus) int64 {
	var n int64
	for _, s := range r.Streams {
		n += int64(s.Packets)
	}
	return n
}

// progress prints a line every second.
func (l *load) progress(ctx context.Context, cpu0 time.Duration, wall0 time.Time) {
	tick := time.NewTicker(l.cfg.report)
	defer tick.Stop()
	lastFrames, lastCPU, last := int64(0), cpu0, wall0
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			frames, cpu := l.frames.Load(), cpuTime()
			dt := now.Sub(last).Seconds()
			fmt.Fprintf(l.out, "t=%-6v live=%d started=%d failed=%d hung-up=%d frames/s=%.0f late=%d cpu=%.1f%%\n",
				now.Sub(wall0).Round(time.Second), l.live(), l.started.Load(), l.failed.Load(), l.hungUp.Load(),
				float64(frames-lastFrames)/dt, l.late.Load(), 100*(cpu-lastCPU).Seconds()/dt)
			lastFrames, lastCPU, last = frames, cpu, now
		}
	}
}

// version and commit describe the build, set by the linker
// (-ldflags "-X main.version=v1.2.3 -X main.commit=..."); see -version.
var version, commit string
