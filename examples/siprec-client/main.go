// Command siprec-client places one SIPREC recording session (RFC 7866) with
// the siprec package's recording client: two labelled audio streams of a
// made-up call sent to one or more recording servers in parallel, with an
// optional pause and resume, and the outcome printed per recorder.
//
//	go run ./examples/siprec-client -srs "sip:127.0.0.1:5060;transport=tcp" \
//	    [-user src -password secret] [-duration 5s] [-audio tone|FILE.wav] \
//	    [-recording-id ID] [-pause-at 2s -resume-at 3s] [-resolve HOST=ADDR] \
//	    [-tls-ca FILE] [-srtp auto|off]
//
// -srs is one SIP URI or a comma-separated list (sip: or sips:, as the Call
// Recording Node takes them); each recorder gets its own dialog. -audio tone
// (the default) sends 440 Hz on stream 1 and 880 Hz on stream 2; a WAV file
// (16-bit PCM, any rate, resampled to 8 kHz) is sent on both streams, or
// left channel on stream 1 and right on stream 2 when it is stereo, looped
// for the duration. -pause-at and -resume-at are times from the start of
// the recording. -user and -password answer a recorder's digest challenge.
// -resolve sends requests for HOST to the IP address ADDR instead of looking
// HOST up (as curl's --resolve does): a multi-tenant recorder finds the
// account by the Request-URI's host, its SIP realm, which need not be in the
// DNS while you try it ("-srs sip:acme.example.com:5060;transport=tcp
// -resolve acme.example.com=127.0.0.1").
//
// A sips: recorder (or transport=tls) is reached over TLS, verified against
// the system's roots or the PEM certificates of -tls-ca (a gateway's
// development certificate, data/tls/cert.pem); its streams go as SRTP
// keyed by SDES (RTP/SAVP, a=crypto, a key per stream) unless -srtp off.
//
// It prints one line per recorder for every operation (start, pause,
// resume, stop) and the RTP packets sent per stream, and exits 1 when no
// recorder accepted the start (2 for a usage error).
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
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	sipgosip "github.com/emiago/sipgo/sip"
	"github.com/go-audio/wav"

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

// config is the parsed command line.
type config struct {
	srs               siprec.URIList
	user, password    string
	duration          time.Duration
	audio             string
	recordingID       string
	pauseAt, resumeAt time.Duration
	resolve           hostsResolver
	tlsCA             string
	srtp              string
}

// hostsResolver answers the hosts of -resolve with their addresses, and any
// other name through the system's resolver.
type hostsResolver map[string]netip.Addr

func (h hostsResolver) LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error) {
	if _, ok := h[strings.ToLower(name)]; ok {
		return "", nil, &net.DNSError{Err: "no SRV record (-resolve)", Name: name, IsNotFound: true}
	}
	return net.DefaultResolver.LookupSRV(ctx, service, proto, name)
}

func (h hostsResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if a, ok := h[strings.ToLower(host)]; ok {
		return []netip.Addr{a}, nil
	}
	return net.DefaultResolver.LookupNetIP(ctx, network, host)
}

// Set implements flag.Value for -resolve HOST=ADDR (repeatable).
func (h hostsResolver) Set(v string) error {
	host, addr, ok := strings.Cut(v, "=")
	a, err := netip.ParseAddr(strings.TrimSpace(addr))
	if !ok || strings.TrimSpace(host) == "" || err != nil {
		return fmt.Errorf("want HOST=IP_ADDRESS, like acme.example.com=127.0.0.1")
	}
	h[strings.ToLower(strings.TrimSpace(host))] = a
	return nil
}

func (h hostsResolver) String() string { return "" }

func parseFlags(args []string, stderr io.Writer) (config, error) {
	c := config{resolve: hostsResolver{}}
	var srs string
	fs := flag.NewFlagSet("siprec-client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	// -srs is parsed after the flags, not as a flag.TextVar: the flag
	// package would quote the raw value in its error, and with it a
	// password given in the URI. ParseURIList's error masks it.
	fs.StringVar(&srs, "srs", "", "recording server `URI`, or a comma-separated list of them (sip: or sips:)")
	fs.StringVar(&c.user, "user", "", "digest user name for recorders that challenge")
	fs.StringVar(&c.password, "password", "", "digest password")
	fs.DurationVar(&c.duration, "duration", 5*time.Second, "how long to record")
	fs.StringVar(&c.audio, "audio", "tone", "`tone` (440 Hz and 880 Hz) or a WAV FILE")
	fs.StringVar(&c.recordingID, "recording-id", "", "recording ID forwarded to the recorders")
	fs.DurationVar(&c.pauseAt, "pause-at", 0, "pause the recording at this time (0: no pause)")
	fs.DurationVar(&c.resumeAt, "resume-at", 0, "resume the recording at this time (0: no resume)")
	fs.StringVar(&c.tlsCA, "tls-ca", "", "PEM `FILE` of the certificates trusted for sips: recorders (default: the system's roots)")
	fs.StringVar(&c.srtp, "srtp", "auto", "`auto`: SRTP to sips: recorders, RTP to others; off: RTP to every recorder")
	fs.Var(c.resolve, "resolve", "send requests for `HOST=ADDR`'s host to its IP address instead of looking it up (repeatable)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if strings.TrimSpace(srs) != "" {
		list, err := siprec.ParseURIList(srs)
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
	case c.duration <= 0:
		return c, fmt.Errorf("-duration %v must be positive", c.duration)
	case c.resumeAt > 0 && c.pauseAt == 0:
		return c, errors.New("-resume-at needs -pause-at")
	case c.pauseAt < 0 || c.pauseAt >= c.duration:
		return c, fmt.Errorf("-pause-at %v must be within -duration %v", c.pauseAt, c.duration)
	case c.resumeAt != 0 && (c.resumeAt <= c.pauseAt || c.resumeAt >= c.duration):
		return c, fmt.Errorf("-resume-at %v must be after -pause-at %v and within -duration %v", c.resumeAt, c.pauseAt, c.duration)
	}
	return c, nil
}

// run is the program; it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "siprec-client:", err)
		return 2
	}
	streams, err := loadAudio(cfg.audio)
	if err != nil {
		fmt.Fprintln(stderr, "siprec-client:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	tlsConfig, err := loadTLSCA(cfg.tlsCA)
	if err != nil {
		fmt.Fprintln(stderr, "siprec-client:", err)
		return 2
	}
	client, err := siprec.NewClient(siprec.ClientConfig{Username: cfg.user, Password: secret.String(cfg.password), Resolver: cfg.resolve, Logger: log,
		TLSConfig: tlsConfig, SRTP: siprec.ClientSRTPConfig{Disable: cfg.srtp == "off"}})
	if err != nil {
		fmt.Fprintln(stderr, "siprec-client:", err)
		return 1
	}
	defer client.Close()
	m, err := client.NewManager(siprec.ManagerConfig{
		Call: metadata.Call{
			SIPSessionIDs: []string{strings.ReplaceAll(metadata.NewID()[:22], "/", "x")},
			Parties: []metadata.Party{
				{AOR: "sip:caller@example.invalid", Name: "Caller", Label: "1"},
				{AOR: "sip:callee@example.invalid", Name: "Callee", Label: "2"},
			},
		},
		OnRecorderEnded: func(s siprec.RecorderStatus) {
			fmt.Fprintf(stdout, "ended   %s  the recorder hung up (Call-ID %s)\n", s.URI, s.CallID)
		},
	})
	if err != nil {
		fmt.Fprintln(stderr, "siprec-client:", err)
		return 1
	}

	results, err := m.Start(ctx, siprec.StartRequest{Recorders: cfg.srs, RecordingID: cfg.recordingID})
	report(stdout, "start", results)
	if err != nil {
		fmt.Fprintln(stderr, "siprec-client: recording did not start:", firstLine(err))
		return 1
	}

	// One goroutine sends both streams in real time, 20 ms at a time.
	begin := time.Now()
	sendCtx, stopSending := context.WithCancel(ctx)
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		send(sendCtx, m, streams)
	}()

	status := 0
	at := func(d time.Duration) bool {
		t := time.NewTimer(time.Until(begin.Add(d)))
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	if cfg.pauseAt > 0 && at(cfg.pauseAt) {
		results, err := m.Pause(ctx)
		report(stdout, "pause", results)
		if err != nil {
			fmt.Fprintln(stderr, "siprec-client: pause:", firstLine(err))
			status = 1
		}
		if cfg.resumeAt > 0 && at(cfg.resumeAt) && m.Paused() {
			results, err := m.Resume(ctx)
			report(stdout, "resume", results)
			if err != nil {
				fmt.Fprintln(stderr, "siprec-client: resume:", firstLine(err))
				status = 1
			}
		}
	}
	at(cfg.duration)
	live := m.Recorders()
	stopSending()
	<-sent
	stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	results, err = m.Stop(stopCtx)
	if errors.Is(err, siprec.ErrNotRecording) {
		fmt.Fprintln(stdout, "stop    every recorder had hung up")
	} else {
		report(stdout, "stop", results)
		// A recorder that did not get the BYE keeps recording until its
		// own timeout: the call did not end as asked.
		for _, r := range results {
			if !r.OK() {
				fmt.Fprintln(stderr, "siprec-client: stop failed at", r.URI.String())
				status = 1
			}
		}
	}
	for _, r := range live {
		var parts []string
		for _, s := range r.Streams {
			parts = append(parts, fmt.Sprintf("stream %s: %d packets %s ssrc=%08x", s.Label, s.Packets, s.Codec, s.SSRC))
		}
		fmt.Fprintf(stdout, "sent    %s  %s\n", r.URI, strings.Join(parts, ", "))
	}
	return status
}

// report prints one line per recorder.
func report(w io.Writer, op string, results []siprec.RecorderResult) {
	for _, r := range results {
		if r.OK() {
			fmt.Fprintf(w, "%-7s %s  accepted: %d (%s, Call-ID %s)\n", op, r.URI, r.StatusCode, r.Target, r.CallID)
			continue
		}
		fmt.Fprintf(w, "%-7s %s  failed: %s\n", op, r.URI, r.Err)
	}
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// send writes the two streams to the forks every 20 ms until ctx ends,
// looping the audio. The sender keeps time from the start, so a late tick
// sends what is due.
func send(ctx context.Context, m *siprec.Manager, streams [2][]int16) {
	forks := m.Forks()
	const frame = 160
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	var pos [2]int
	for frames := 0; ; {
		due := int(time.Since(start)/(20*time.Millisecond)) + 1
		for ; frames < due; frames++ {
			for i, f := range forks[:2] {
				s := streams[i]
				if pos[i]+frame > len(s) {
					pos[i] = 0
				}
				_ = f.WritePCM(s[pos[i] : pos[i]+frame])
				pos[i] += frame
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// loadAudio returns the two streams' audio at 8 kHz: two tones, or a WAV
// file's channels.
func loadAudio(spec string) ([2][]int16, error) {
	if spec == "tone" {
		return [2][]int16{tone(440), tone(880)}, nil
	}
	f, err := os.Open(spec)
	if err != nil {
		return [2][]int16{}, fmt.Errorf("-audio: %w", err)
	}
	defer f.Close()
	d := wav.NewDecoder(f)
	if !d.IsValidFile() {
		return [2][]int16{}, fmt.Errorf("-audio %s: not a WAV file", spec)
	}
	buf, err := d.FullPCMBuffer()
	if err != nil {
		return [2][]int16{}, fmt.Errorf("-audio %s: %w", spec, err)
	}
	ch, depth, rate := buf.Format.NumChannels, int(d.BitDepth), buf.Format.SampleRate
	if d.WavAudioFormat != 1 || (depth != 16 && depth != 8 && depth != 24 && depth != 32) || ch < 1 || rate <= 0 {
		return [2][]int16{}, fmt.Errorf("-audio %s: want integer PCM WAV, got format %d, %d bits, %d channels, %d Hz", spec, d.WavAudioFormat, depth, ch, rate)
	}
	n := len(buf.Data) / ch
	if n < media.SampleRate/50 {
		return [2][]int16{}, fmt.Errorf("-audio %s: shorter than 20 ms", spec)
	}
	var out [2][]int16
	for s := range 2 {
		c := min(s, ch-1) // mono: both streams
		pcm := make([]int16, n)
		for i := range n {
			v := buf.Data[i*ch+c]
			switch depth {
			case 8:
				v = (v - 128) << 8
			case 24:
				v >>= 8
			case 32:
				v >>= 16
			}
			pcm[i] = int16(v)
		}
		out[s] = resample(pcm, rate)
	}
	return out, nil
}

// resample converts pcm at rate Hz to 8 kHz by linear interpolation.
func resample(pcm []int16, rate int) []int16 {
	if rate == media.SampleRate {
		return pcm
	}
	n := int(int64(len(pcm)) * media.SampleRate / int64(rate))
	out := make([]int16, n)
	for i := range out {
		x := float64(i) * float64(rate) / media.SampleRate
		j := int(x)
		if j+1 >= len(pcm) {
			out[i] = pcm[len(pcm)-1]
			continue
		}
		f := x - float64(j)
		out[i] = int16(float64(pcm[j])*(1-f) + float64(pcm[j+1])*f)
	}
	return out
}

// tone returns one second of a sine at hz, half scale: a whole number of
// periods, so it loops without a click.
func tone(hz float64) []int16 {
	pcm := make([]int16, media.SampleRate)
	for i := range pcm {
		pcm[i] = int16(16000 * math.Sin(2*math.Pi*hz*float64(i)/media.SampleRate))
	}
	return pcm
}

// loadTLSCA returns the TLS configuration trusting the certificates of the
// PEM file (nil: the system's roots).
func loadTLSCA(file string) (*tls.Config, error) {
	if file == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("-tls-ca: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("-tls-ca %s: no PEM certificate in the file", file)
	}
	return &tls.Config{RootCAs: roots}, nil
}
