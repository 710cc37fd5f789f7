package recording_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/voicegw/voicegw/internal/testenv"
	"github.com/voicegw/voicegw/media"
	. "github.com/voicegw/voicegw/recording"
	"github.com/voicegw/voicegw/recording/spool"
	"github.com/voicegw/voicegw/storage"
	"github.com/voicegw/voicegw/storage/storagetest"
)

// The tests of this file run the path of a recording server from the
// network to the bucket, with nothing mocked: RTP is sent over loopback by
// media.Sender, received by media.Receiver, whose handlers are the
// recording's MediaHandlers; Finish hands the file to a storage spool,
// which uploads it to an S3 server (storagetest's gofakes3 behind a SigV4
// check) or a file bucket; the test downloads the object and checks it
// with go-audio/wav and sox (WAV), go-mp3 and lame --decode (MP3).

var loopback = netip.MustParseAddr("127.0.0.1")

const (
	rtpAmp = 12000 // tone amplitude
	ptime  = 20 * time.Millisecond
	spp    = 160 // samples per 20 ms packet at 8 kHz
)

// packetAction is what a test's sender does with one 20 ms packet.
type packetAction uint8

const (
	// sendPacket (the zero value): sent as is.
	//lint:ignore U1000 named for the reader; actions default to it
	sendPacket packetAction = iota
	// losePacket: the Sender sends it (its sequence number is used) but it
	// is dropped before the socket: packet loss (media's GapLoss).
	losePacket
	// suppressPacket: nothing is sent and the timestamp advances
	// (Sender.Skip): silence suppression (media's GapSilence).
	suppressPacket
	// swapPacket: sent after the next packet: reordering on the wire.
	swapPacket
)

// party is what one side of a call sends: a tone in packets, some of them
// lost, suppressed or reordered.
type party struct {
	label   string
	freq    float64
	packets int
	actions map[int]packetAction
}

func (p party) silent(k int) bool {
	a := p.actions[k]
	return a == losePacket || a == suppressPacket
}

func (p party) count(a packetAction) (n int) {
	for _, v := range p.actions {
		if v == a {
			n++
		}
	}
	return n
}

// samples is the length of the party's stream timeline.
func (p party) samples() int64 { return int64(p.packets) * spp }

// lossyWriter is the network between a Sender and a Receiver: it drops or
// holds back the packets it is told to.
type lossyWriter struct {
	conn *net.UDPConn
	mu   sync.Mutex
	drop bool
	hold bool
	held []byte
	to   netip.AddrPort
}

func (l *lossyWriter) WriteToUDPAddrPort(b []byte, to netip.AddrPort) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.drop:
		l.drop = false
		return len(b), nil
	case l.hold:
		l.hold = false
		l.held, l.to = append(l.held[:0], b...), to
		return len(b), nil
	}
	n, err := l.conn.WriteToUDPAddrPort(b, to)
	if err == nil && len(l.held) > 0 {
		_, err = l.conn.WriteToUDPAddrPort(l.held, l.to)
		l.held = l.held[:0]
	}
	return n, err
}

func (l *lossyWriter) next(a packetAction) {
	l.mu.Lock()
	l.drop, l.hold = a == losePacket, a == swapPacket
	l.mu.Unlock()
}

// play sends p in real time, one packet per 20 ms, as a phone would.
func (p party) play(ctx context.Context, tx *media.Sender, w *lossyWriter) error {
	start := time.Now()
	for k := 0; k < p.packets; k++ {
		if d := time.Until(start.Add(time.Duration(k) * ptime)); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		a := p.actions[k]
		if a == suppressPacket {
			tx.Skip(spp)
			continue
		}
		w.next(a)
		if err := tx.WritePCM(Tone(p.freq, rtpAmp, Rate8k, int64(k)*spp, spp)); err != nil {
			return fmt.Errorf("%s: packet %d: %w", p.label, k, err)
		}
	}
	return nil
}

// callResult is what runCall observed of each party's stream.
type callResult struct {
	rx  []media.Stats
	err error
}

// legs are a call's RTP legs: per stream of a recording, a Receiver whose
// handler is the stream's MediaHandler, and a Sender sending to it through
// a lossyWriter.
type legs struct {
	rxs  []*media.Receiver
	txs  []*media.Sender
	ws   []*lossyWriter
	runs sync.WaitGroup
	mu   sync.Mutex
	err  error // of the Receivers' Run
}

// openLegs connects n streams of rec; close releases everything.
func openLegs(rec *Recorder, n int) (*legs, error) {
	l := &legs{}
	for i := range n {
		h, err := rec.Stream(i).MediaHandler()
		if err != nil {
			return l, err
		}
		ep, err := media.Listen(loopback)
		if err != nil {
			return l, err
		}
		rx, err := media.NewReceiver(ep, media.ReceiverConfig{Handler: h})
		if err != nil {
			_ = ep.Close()
			return l, err
		}
		l.rxs = append(l.rxs, rx)
		l.runs.Add(1)
		go func() {
			defer l.runs.Done()
			if err := rx.Run(context.Background()); err != nil {
				l.mu.Lock()
				l.err = errors.Join(l.err, fmt.Errorf("Receiver.Run: %w", err))
				l.mu.Unlock()
			}
		}()
		conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
		if err != nil {
			return l, err
		}
		w := &lossyWriter{conn: conn}
		l.ws = append(l.ws, w)
		tx, err := media.NewSender(w, rx.LocalAddr(), media.SenderConfig{})
		if err != nil {
			return l, err
		}
		l.txs = append(l.txs, tx)
	}
	return l, nil
}

// delivered waits until Receiver i delivered a timeline of n samples.
func (l *legs) delivered(ctx context.Context, i int, n int64) error {
	for {
		st := l.rxs[i].Stats()
		if st.Samples+st.GapSamples == n {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("stream %d: %d of %d samples delivered: %w", i, st.Samples+st.GapSamples, n, ctx.Err())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// hangUp closes the Receivers (they deliver what they hold), as a gateway
// does on BYE, and returns their final statistics.
func (l *legs) hangUp() ([]media.Stats, error) {
	var out []media.Stats
	var err error
	for _, rx := range l.rxs {
		err = errors.Join(err, rx.Close())
		out = append(out, rx.Stats())
	}
	l.runs.Wait()
	return out, errors.Join(err, l.err)
}

func (l *legs) close() {
	_, _ = l.hangUp()
	for _, w := range l.ws {
		_ = w.conn.Close()
	}
}

// runCall sends the parties' RTP to Receivers whose handlers are rec's
// MediaHandlers: the first party at once, the second lateBy after the
// first party's first packet arrived. When both are done and every packet
// is delivered, it closes the Receivers (as a gateway does on BYE, before
// Finish). It runs on its own goroutine, so it reports errors rather than
// failing the test.
func runCall(ctx context.Context, rec *Recorder, parties []party, lateBy time.Duration) (res callResult) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var errMu sync.Mutex
	fail := func(err error) {
		errMu.Lock()
		res.err = errors.Join(res.err, err)
		errMu.Unlock()
	}
	l, err := openLegs(rec, len(parties))
	defer l.close()
	if err != nil {
		return callResult{err: err}
	}
	rxs, txs, ws := l.rxs, l.txs, l.ws

	var sends sync.WaitGroup
	for i, p := range parties {
		sends.Add(1)
		go func() {
			defer sends.Done()
			if i > 0 {
				var first time.Time
				for first.IsZero() && ctx.Err() == nil {
					time.Sleep(time.Millisecond)
					first = rxs[0].Stats().FirstArrival
				}
				select {
				case <-time.After(time.Until(first.Add(lateBy))):
				case <-ctx.Done():
				}
			}
			if err := p.play(ctx, txs[i], ws[i]); err != nil {
				fail(err)
			}
		}()
	}
	sends.Wait()
	for i, p := range parties {
		if err := l.delivered(ctx, i, p.samples()); err != nil {
			fail(err)
			return res
		}
	}
	stats, err := l.hangUp()
	if err != nil {
		fail(err)
	}
	res.rx = stats
	return res
}

// g711 is what a PCMU round trip makes of pcm: the exact samples a
// Receiver decodes from what a Sender encoded.
func g711(pcm []int16) []int16 {
	enc := make([]byte, len(pcm))
	media.EncodePCMU(enc, pcm)
	out := make([]int16, len(pcm))
	media.DecodePCMU(out, enc)
	return out
}

// stretch is a span of the file's timeline in which one channel holds the
// party's tone (on) or silence.
type stretch struct {
	what     string
	ch       int
	freq     float64
	from, to float64 // seconds
	on       bool
}

// expectation builds the exact content of the stereo WAV file (party i in
// channel i, placed at offsets[i]) and its stretches of tone and silence.
func expectation(parties []party, offsets []int64) (Model, []stretch) {
	var frames int64
	for i, p := range parties {
		frames = max(frames, offsets[i]+p.samples())
	}
	m := NewModel(2, int(frames))
	var ss []stretch
	sec := func(n int64) float64 { return float64(n) / Rate8k }
	for i, p := range parties {
		o := offsets[i]
		if o > 0 {
			ss = append(ss, stretch{p.label + " not yet started", i, p.freq, 0, sec(o), false})
		}
		runStart, runOn := 0, !p.silent(0)
		for k := 0; k <= p.packets; k++ {
			if k < p.packets {
				pos := int64(k) * spp
				if !p.silent(k) {
					m.Put(i, o+pos, g711(Tone(p.freq, rtpAmp, Rate8k, pos, spp)))
				}
				if !p.silent(k) == runOn {
					continue
				}
			}
			what := p.label + " talks"
			if !runOn {
				what = p.label + "'s lost or suppressed packets"
			}
			ss = append(ss, stretch{fmt.Sprintf("%s (packets %d-%d)", what, runStart, k-1), i, p.freq,
				sec(o + int64(runStart)*spp), sec(o + int64(k)*spp), runOn})
			runStart, runOn = k, !runOn
		}
		if end := o + p.samples(); end < frames {
			ss = append(ss, stretch{p.label + " has hung up", i, p.freq, sec(end), sec(frames), false})
		}
	}
	return m, ss
}

// gateway is the storage side of a recording server: one spool for every
// account, resolving each account's bucket, and a recording Dir.
type gateway struct {
	s3       *storagetest.S3Server
	buckets  map[string]*storage.Bucket // by account
	spool    *testSpool
	uploader *spool.Uploader
	dir      *Dir
}

const (
	accountS3   = "ACs3"
	accountFile = "ACfile"
)

func newGateway(t *testing.T) *gateway {
	root := t.TempDir()
	g := &gateway{s3: storagetest.NewS3Server(t), buckets: map[string]*storage.Bucket{}}
	g.s3.CreateBucket("recordings")
	s3b, err := storage.Open(t.Context(), g.s3.Config("recordings", storage.Tags{{Name: "team", Value: "voice"}}), fastRetry)
	Must(t, err)
	t.Cleanup(func() { _ = s3b.Close() })
	g.buckets[accountS3] = s3b
	g.buckets[accountFile], _ = fileBucket(t)
	g.spool = startSpool(t, filepath.Join(root, "spool"), storage.SpoolConfig{
		Resolve: func(ctx context.Context, account string) (*storage.Bucket, error) {
			if b, ok := g.buckets[account]; ok {
				return b, nil
			}
			return nil, fmt.Errorf("no bucket configured for account %q", account)
		},
	})
	g.uploader = &spool.Uploader{Spool: g.spool.Spool, Tags: func(o Object) storage.Tags {
		return storage.Tags{{Name: "session", Value: o.ID.Session}}
	}}
	g.dir, err = OpenDir(DirConfig{Path: filepath.Join(root, "rec"), Uploader: g.uploader})
	Must(t, err)
	return g
}

// fetch downloads key from the account's bucket with the vendor's own
// client (the AWS SDK for S3; for the file bucket, the file under its key
// and the same bytes through storage), checks its content type and tags,
// and returns the local copy.
func (g *gateway) fetch(t *testing.T, account, key, contentType, session string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), filepath.Base(key))
	switch account {
	case accountS3:
		out, err := g.s3.Client().GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String("recordings"), Key: aws.String(key)})
		Must(t, err)
		defer out.Body.Close()
		b, err := io.ReadAll(out.Body)
		Must(t, err)
		Must(t, os.WriteFile(path, b, 0o600))
		if ct := aws.ToString(out.ContentType); ct != contentType {
			t.Errorf("S3 object content type %q, want %q", ct, contentType)
		}
		tags, err := g.s3.Tagging(t.Context(), "recordings", key)
		Must(t, err)
		if tags["session"] != session || tags["team"] != "voice" {
			t.Errorf("S3 object tags %v, want session=%s and the bucket's team=voice", tags, session)
		}
		if n := g.s3.Writes("recordings", key); n != 1 {
			t.Errorf("S3 object written %d times, want once", n)
		}
	case accountFile:
		b := g.buckets[accountFile]
		attrs, err := b.Attributes(t.Context(), key)
		Must(t, err)
		if attrs.ContentType != contentType || attrs.Metadata["session"] != session {
			t.Errorf("file bucket object: %+v; want %s, session=%s", attrs, contentType, session)
		}
		path = download(t, b, key)
	}
	return path
}

// TestRTPToBucket records four concurrent two-party calls sent as real RTP
// over loopback — WAV and MP3, to an S3 bucket and to a file bucket — and
// checks each object in its bucket: exact length, one party per channel,
// the late party starting at its arrival, silence exactly where packets
// were lost or suppressed.
func TestRTPToBucket(t *testing.T) {
	testenv.Short(t, "sends 3 s of real-time RTP per call")
	t.Parallel() // real time, little CPU: overlaps with TestRTPPauseResume
	g := newGateway(t)
	caller := party{label: "caller", freq: 1000, packets: 150, actions: map[int]packetAction{
		40: losePacket, 41: losePacket, 42: losePacket, 43: losePacket, 44: losePacket, // 100 ms lost
		100: losePacket, // one packet lost
		120: swapPacket, // 120 arrives after 121
	}}
	callee := party{label: "callee", freq: 600, packets: 90, actions: map[int]packetAction{
		30: suppressPacket, 31: suppressPacket, 32: suppressPacket, 33: suppressPacket, 34: suppressPacket,
		35: suppressPacket, 36: suppressPacket, 37: suppressPacket, 38: suppressPacket, 39: suppressPacket, // 200 ms suppressed
		60: losePacket, 61: losePacket, 62: losePacket, 63: losePacket, // 80 ms lost
	}}
	const lateBy = 1200 * time.Millisecond // longer than the recorder's Window
	parties := []party{caller, callee}

	type callCase struct {
		format  Format
		account string
		id      ID
		rec     *Recorder
		call    callResult
	}
	cases := []*callCase{{format: WAV, account: accountS3}, {format: WAV, account: accountFile}}
	var l *LAME
	if lame, err := LameOnce(); err == nil {
		l = lame
		cases = append(cases, &callCase{format: MP3, account: accountS3}, &callCase{format: MP3, account: accountFile})
	} else {
		t.Run("mp3", func(t *testing.T) { RequireLAME(t) }) // skips, or fails under CI
	}
	// The calls run at the same time, as on a gateway.
	var calls sync.WaitGroup
	for _, tc := range cases {
		tc.id = ID{Account: tc.account, Application: "AP1", Session: "call-" + tc.format.String()}
		var err error
		tc.rec, err = g.dir.Create(tc.id, Config{Format: tc.format, LAME: l, Streams: TwoStreams()})
		Must(t, err)
		calls.Add(1)
		go func() {
			defer calls.Done()
			tc.call = runCall(t.Context(), tc.rec, parties, lateBy)
		}()
	}
	calls.Wait()

	for _, tc := range cases {
		t.Run(tc.format.String()+"/"+tc.account, func(t *testing.T) {
			rec, call, id := tc.rec, tc.call, tc.id
			Must(t, call.err)

			// What media saw: the loss, the suppression, the reordering.
			for i, p := range parties {
				st := call.rx[i]
				if int(st.Lost) != p.count(losePacket) || st.GapSamples != int64(p.count(losePacket)+p.count(suppressPacket))*spp ||
					int(st.OutOfOrder) != p.count(swapPacket) {
					t.Fatalf("%s: receiver stats %+v; want %d lost, %d out of order, %d gap samples", p.label, st,
						p.count(losePacket), p.count(swapPacket), (p.count(losePacket)+p.count(suppressPacket))*spp)
				}
			}
			// Each stream starts where its first packet arrived.
			offsets := make([]int64, len(parties))
			for i, s := range rec.Streams() {
				st := s.Stats()
				want := DurationToFrames(call.rx[i].FirstArrival.Sub(rec.Start()), Rate8k)
				if !st.Started || st.Offset != want || st.Samples != parties[i].samples()-int64(parties[i].count(losePacket)+parties[i].count(suppressPacket))*spp {
					t.Fatalf("stream %d: %+v; want started at sample %d (its first arrival)", i, st, want)
				}
				h, _ := s.MediaHandler()
				if hs := h.Stats(); hs.Refused != 0 || hs.Audio == 0 {
					t.Errorf("stream %d: handler stats %+v", i, hs)
				}
				offsets[i] = st.Offset
			}
			if late := FramesToDuration(offsets[1]-offsets[0], Rate8k); late < lateBy-time.Millisecond {
				t.Fatalf("the callee starts %v after the caller in the file, want at least %v", late, lateBy)
			}
			t.Logf("caller at %v, callee at %v into the recording", FramesToDuration(offsets[0], Rate8k), FramesToDuration(offsets[1], Rate8k))
			m, stretches := expectation(parties, offsets)
			frames := int64(len(m[0]))

			res, err := rec.Finish(t.Context())
			Must(t, err)
			wantDur := FramesToDuration(frames, Rate8k)
			if res.Key != id.Key(tc.format) || !res.Uploaded || res.Format != tc.format || res.Channels != 2 || res.Duration != wantDur {
				t.Fatalf("Result %+v; want %s, uploaded, 2 channels, %v", res, id.Key(tc.format), wantDur)
			}
			notExist(t, res.Path)
			landed(t, g.uploader, res.Key)
			obj := g.fetch(t, tc.account, res.Key, tc.format.ContentType(), id.Session)
			info, err := Inspect(obj)
			Must(t, err)
			if info.Size != res.Size || info.Duration != wantDur || info.Channels != 2 || info.Format != tc.format {
				t.Fatalf("Inspect of the object: %+v; want %d bytes, %v, stereo %s", info, res.Size, wantDur, tc.format)
			}
			if tc.format == WAV {
				checkRTPWAV(t, obj, m, stretches)
			} else {
				checkRTPMP3(t, obj, frames, offsets[1], stretches)
			}
		})
	}
}

// checkRTPWAV checks the WAV object sample by sample (go-audio/wav) and
// with sox: length, channels, the tones and the silences.
func checkRTPWAV(t *testing.T, path string, m Model, stretches []stretch) {
	w := ReadWAV(t, path)
	if w.Rate() != Rate8k {
		t.Fatalf("go-audio/wav: %d Hz", w.Rate())
	}
	m.Compare(t, w)
	rate, ch, n := SoxInfo(t, path)
	if rate != Rate8k || ch != 2 || n != int64(len(m[0])) {
		t.Errorf("sox --i: %d Hz, %d channels, %d samples; want 8000, 2, %d", rate, ch, n, len(m[0]))
	}
	const edge = 0.005
	for _, s := range stretches {
		if s.to-s.from < 0.06 {
			continue // sox's frequency estimate needs some length; the sample comparison covered it
		}
		rms, _, freq := SoxStat(t, path, s.ch+1, s.from+edge, s.to-s.from-2*edge)
		if s.on && (rms < 0.18 || Abs(freq-int(s.freq)) > 30) {
			t.Errorf("sox: %s: RMS %.3f at %d Hz in channel %d, want the %.0f Hz tone", s.what, rms, freq, s.ch+1, s.freq)
		}
		if !s.on && rms != 0 {
			t.Errorf("sox: %s: RMS %.4f in channel %d, want silence", s.what, rms, s.ch+1)
		}
	}
}

// checkRTPMP3 checks the MP3 object (8 kHz, the default) decoded by lame
// --decode, sample by sample and measured by sox: exact length, tones and
// silences, and the late party's onset to the millisecond.
func checkRTPMP3(t *testing.T, path string, frames, lateOffset int64, stretches []stretch) {
	// MP3 smears a transient over a long block's window (1152 samples,
	// 144 ms at 8 kHz, so up to 72 ms either side of it): stretches are
	// checked 80 ms inside their edges, and only those long enough.
	const edge = 0.08
	long := func(s stretch) bool { return s.to-s.from >= 0.2 }
	t.Run("lame --decode", func(t *testing.T) {
		m := DecodeMP3(t, path)
		if m.Rate != 8000 || int64(len(m.Left)) != frames {
			t.Fatalf("lame --decode: %d Hz, %d samples; want 8000 Hz, %d", m.Rate, len(m.Left), frames)
		}
		chans := [][]int16{m.Left, m.Right}
		for _, s := range stretches {
			if !long(s) {
				continue
			}
			x := Window(chans[s.ch], 8000, s.from+edge, s.to-edge)
			other := Level(Window(chans[1-s.ch], 8000, s.from+edge, s.to-edge), 8000, s.freq)
			if l := Level(x, 8000, s.freq); s.on && (l < 0.75*rtpAmp || other > 300) {
				t.Errorf("lame --decode: %s: %.0f Hz level %.0f in channel %d (want ~%d), %.0f in the other", s.what, s.freq, l, s.ch, rtpAmp, other)
			}
			// Silence: no trace of the party's tone, and only the codec's
			// noise (its peaks near a transient reach a few hundred).
			if l, r := Level(x, 8000, s.freq), rms(x); !s.on && (l > 100 || r > 150) {
				t.Errorf("lame --decode: %s: %.0f Hz level %.0f, RMS %.0f in channel %d, want silence", s.what, s.freq, l, r, s.ch)
			}
		}
		onset := -1
		for i, v := range m.Right {
			if v > 2000 || v < -2000 {
				onset = i
				break
			}
		}
		if d := int64(onset) - lateOffset; d < -8 || d > 8 {
			t.Errorf("callee onset at sample %d (%.4f s), want %.4f s ± 1 ms", onset, float64(onset)/8000, float64(lateOffset)/Rate8k)
		}
	})
	t.Run("lame --decode and sox", func(t *testing.T) {
		dec := LameDecode(t, path)
		rate, ch, n := SoxInfo(t, dec)
		if rate != 8000 || ch != 2 || n != frames {
			t.Errorf("sox --i of lame's output: %d Hz, %d channels, %d samples; want 8000, 2, %d", rate, ch, n, frames)
		}
		for _, s := range stretches {
			if !long(s) {
				continue
			}
			rms, _, freq := SoxStat(t, dec, s.ch+1, s.from+edge, s.to-s.from-2*edge)
			if s.on && (rms < 0.18 || Abs(freq-int(s.freq)) > 40) {
				t.Errorf("%s: RMS %.3f at %d Hz in channel %d, want the %.0f Hz tone", s.what, rms, freq, s.ch+1, s.freq)
			}
			if !s.on && rms > 0.005 {
				t.Errorf("%s: RMS %.4f in channel %d, want silence", s.what, rms, s.ch+1)
			}
		}
	})
}

// rms returns the root mean square of x.
func rms(x []int16) float64 {
	var sum float64
	for _, v := range x {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(max(len(x), 1)))
}

// TestRTPPauseResume: a SIPREC pause over real RTP. Both parties talk for
// 1 s; the recording client then sends a re-INVITE with a=inactive (the
// gateway calls Pause) and stops sending for 0.5 s while its clock runs,
// then resumes (Resume) and both talk for 1 s more. With PauseCut the
// paused stretch of the call's timeline — from the Pause to the Resume —
// is cut out of the file and nothing else is.
func TestRTPPauseResume(t *testing.T) {
	testenv.Short(t, "sends 2.5 s of real-time RTP")
	t.Parallel()
	g := newGateway(t)
	id := ID{Account: accountFile, Application: "AP1", Session: "paused"}
	rec, err := g.dir.Create(id, Config{Streams: TwoStreams(), PauseMode: PauseCut})
	Must(t, err)
	l, err := openLegs(rec, 2)
	defer l.close()
	Must(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	const before, paused, after = 50, 25, 50 // packets
	freqs := []float64{1000, 600}
	start := time.Now()
	send := func(k int) {
		time.Sleep(time.Until(start.Add(time.Duration(k) * ptime)))
		for i, tx := range l.txs {
			Must(t, tx.WritePCM(Tone(freqs[i], rtpAmp, Rate8k, int64(k)*spp, spp)))
		}
	}
	for k := range before {
		send(k)
	}
	for i := range l.rxs {
		Must(t, l.delivered(ctx, i, before*spp))
	}
	pauseAt := time.Now()
	Must(t, rec.Pause(pauseAt))
	for _, tx := range l.txs {
		tx.Skip(paused * spp) // the sender's clock runs while it sends nothing
	}
	time.Sleep(time.Until(start.Add((before + paused) * ptime)))
	resumeAt := time.Now()
	Must(t, rec.Resume(resumeAt))
	for k := before + paused; k < before+paused+after; k++ {
		send(k)
	}
	for i := range l.rxs {
		Must(t, l.delivered(ctx, i, (before+paused+after)*spp))
	}
	stats, err := l.hangUp()
	Must(t, err)
	res, err := rec.Finish(t.Context())
	Must(t, err)

	// The call's timeline, uncut: each party at its first arrival, silent
	// while it sent nothing.
	var offsets [2]int64
	var frames int64
	for i, s := range rec.Streams() {
		offsets[i] = s.Stats().Offset
		if want := DurationToFrames(stats[i].FirstArrival.Sub(rec.Start()), Rate8k); offsets[i] != want {
			t.Fatalf("stream %d at %d, want %d (its first arrival)", i, offsets[i], want)
		}
		if stats[i].GapSamples != paused*spp {
			t.Fatalf("stream %d: media reported %d samples of gap, want %d", i, stats[i].GapSamples, paused*spp)
		}
		frames = max(frames, offsets[i]+(before+paused+after)*spp)
	}
	call := NewModel(2, int(frames))
	for i := range 2 {
		for k := 0; k < before+paused+after; k++ {
			if k < before || k >= before+paused {
				pos := int64(k) * spp
				call.Put(i, offsets[i]+pos, g711(Tone(freqs[i], rtpAmp, Rate8k, pos, spp)))
			}
		}
	}
	// The cut: from the Pause to the Resume, as the gateway timed them,
	// except that a pause cannot start before what the recorder had
	// already written out (the audio both parties had delivered).
	p0 := max(DurationToFrames(pauseAt.Sub(rec.Start()), Rate8k), min(offsets[0], offsets[1])+before*spp)
	p1 := max(DurationToFrames(resumeAt.Sub(rec.Start()), Rate8k), p0)
	if res.Paused != FramesToDuration(p1-p0, Rate8k) {
		t.Fatalf("Result.Paused %v, want %v (from the Pause to the Resume)", res.Paused, FramesToDuration(p1-p0, Rate8k))
	}
	m := NewModel(2, int(frames-(p1-p0)))
	for c := range m {
		copy(m[c], call[c][:p0])
		copy(m[c][p0:], call[c][p1:])
	}
	if want := FramesToDuration(frames-(p1-p0), Rate8k); res.Duration != want {
		t.Fatalf("Result.Duration %v, want %v", res.Duration, want)
	}
	t.Logf("paused from %v to %v of the call; the file is %v", FramesToDuration(p0, Rate8k), FramesToDuration(p1, Rate8k), res.Duration)
	landed(t, g.uploader, res.Key)
	obj := g.fetch(t, accountFile, res.Key, "audio/wav", id.Session)
	m.Compare(t, ReadWAV(t, obj))
	if _, ch, n := SoxInfo(t, obj); ch != 2 || n != int64(len(m[0])) {
		t.Errorf("sox: %d channels, %d samples; want 2, %d", ch, n, len(m[0]))
	}
}
