package recording

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lameWithPool returns a LAME (the real library) whose recordings use p.
func lameWithPool(t testing.TB, p *encoderPool) *LAME {
	t.Helper()
	requireLAME(t)
	l, err := OpenLAMEConfig(LAMEConfig{})
	must(t, err)
	l.pool = p
	return l
}

// stalledPool is a pool that starts no goroutine: every batch stays
// queued until the writer takes it (flush, close, a full queue) or a test
// runs the sink as a pool goroutine would (mp3Sink.run).
func stalledPool(queueBytes int) *encoderPool {
	p := newEncoderPool(1, queueBytes)
	p.max = 0
	return p
}

// poolAudio is packet k of stream st of call i: a tone whose pitch moves
// every packet, so a batch written out of order changes the file.
func poolAudio(i, st int, k int64) []int16 {
	f := float64(300 + 40*((k+int64(7*i+3*st))%41))
	return tone(f, 8000, rate8k, k*160, 160)
}

// recordPool records packets 20 ms packets of the two parties of call i
// to path, with mc and l, and returns the recorder, not stopped.
func recordPool(t testing.TB, l *LAME, mc MP3Config, path string, i int, packets int64, cfg func(*Config)) *Recorder {
	t.Helper()
	r, err := feedPool(l, mc, path, i, packets, cfg)
	must(t, err)
	return r
}

func feedPool(l *LAME, mc MP3Config, path string, i int, packets int64, cfg func(*Config)) (*Recorder, error) {
	c := Config{Format: MP3, LAME: l, MP3: mc, Streams: twoStreams(), Start: t0}
	if cfg != nil {
		cfg(&c)
	}
	r, err := New(path, c)
	if err != nil {
		return nil, err
	}
	if err := errors.Join(r.Stream(0).StartAt(0), r.Stream(1).StartAt(0)); err != nil {
		return nil, err
	}
	for k := range packets {
		if err := errors.Join(r.Stream(0).Write(k*160, poolAudio(i, 0, k)), r.Stream(1).Write(k*160, poolAudio(i, 1, k))); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// queuedBytes is what p counts queued.
func (p *encoderPool) queuedBytes() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.queued
}

// settled waits until no batch of s is queued or being encoded. No time
// limit is asserted: the test's deadline is the bound.
func (s *mp3Sink) settled() {
	for {
		s.mu.Lock()
		idle := len(s.pending) == 0 && !s.busy
		s.mu.Unlock()
		if idle {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func mp3SinkOf(r *Recorder) *mp3Sink { return r.out.files[0].sink.(*mp3Sink) }

func sameFile(t testing.TB, got, want string) {
	t.Helper()
	a, err := os.ReadFile(got)
	must(t, err)
	b, err := os.ReadFile(want)
	must(t, err)
	if !bytes.Equal(a, b) {
		n := 0
		for n < min(len(a), len(b)) && a[n] == b[n] {
			n++
		}
		t.Errorf("%s: %d bytes, differs from the inline encoding (%d bytes) at byte %d", filepath.Base(got), len(a), len(b), n)
	}
}

// TestMP3PoolSameFile: the encoder pool writes, byte for byte, the file
// that encoding inline writes — the batches of a recording go to LAME and
// to the file in order whichever goroutine runs them: the pool's, the
// writer's when the queue is full (a queue of one batch mixes both), or
// the writer's at flush and Stop (a pool that never runs). The inline file
// itself decodes (lame --decode, which reads the LAME tag) to exactly the
// audio's length.
func TestMP3PoolSameFile(t *testing.T) {
	requireLAME(t)
	// 8.4 s: the 1 s flushes, 58 batches of mono, 3 after the last flush
	// that the pool (when it runs) encodes.
	const packets = 420
	for _, mc := range []struct {
		name string
		c    MP3Config
	}{
		{"stereo", MP3Config{}},
		{"mono", MP3Config{Mono: true}},
		{"16k", MP3Config{SampleRate: 16000}},
	} {
		t.Run(mc.name, func(t *testing.T) {
			dir := t.TempDir()
			inline := mc.c
			inline.Inline = true
			ref := filepath.Join(dir, "inline.mp3")
			_, err := recordPool(t, requireLAME(t), inline, ref, 0, packets, nil).Stop()
			must(t, err)
			w := readWAV(t, lameDecode(t, ref))
			if w.frames() != packets*160*mc.c.withDefaults(8000, false).SampleRate/8000 {
				t.Fatalf("inline file decodes to %d frames, want %d s", w.frames(), packets/50)
			}
			for _, pc := range []struct {
				name string
				pool *encoderPool
				ran  bool // some batches are encoded by the pool
				any  bool // the pool may or may not get a batch (the writer, past the bound, holds the sink)
			}{
				{"pool", newEncoderPool(2, 0), true, false},
				{"one encoder", newEncoderPool(1, 0), true, false},
				{"queue of one batch", newEncoderPool(1, 2*2*(mp3Batch+2*(chunkFrames+hbTaps))), true, true},
				{"never run", stalledPool(0), false, false},
			} {
				t.Run(pc.name, func(t *testing.T) {
					path := filepath.Join(dir, pc.name+".mp3")
					r := recordPool(t, lameWithPool(t, pc.pool), mc.c, path, 0, packets, nil)
					if pc.ran && !pc.any {
						mp3SinkOf(r).settled()
					}
					res, err := r.Stop()
					must(t, err)
					sameFile(t, path, ref)
					if fi, err := os.Stat(path); err != nil || fi.Size() != res.Size {
						t.Errorf("Result.Size %d, file %v %v", res.Size, fi, err)
					}
					if !pc.any && pc.ran != (pc.pool.ran.Load() > 0) {
						t.Errorf("pool ran %d batches; want some: %v", pc.pool.ran.Load(), pc.ran)
					}
					t.Logf("batches: %d by the pool, %d by the writer past the bound", pc.pool.ran.Load(), pc.pool.inline.Load())
					if q := pc.pool.queuedBytes(); q != 0 {
						t.Errorf("%d bytes still counted queued after Stop", q)
					}
				})
			}
		})
	}
}

// TestMP3PoolCloseWaits: batches still queued at Stop (a pool that never
// ran them, and a FlushInterval longer than the call) are encoded before
// the stream ends: the size Stop returns is the file's, the LAME tag at
// the start counts every frame and the length is exact.
func TestMP3PoolCloseWaits(t *testing.T) {
	p := stalledPool(0)
	l := lameWithPool(t, p)
	path := filepath.Join(t.TempDir(), "c.mp3")
	r := recordPool(t, l, MP3Config{}, path, 1, 150, func(c *Config) { c.FlushInterval = time.Minute })
	s := mp3SinkOf(r)
	if len(s.pending) < 5 {
		t.Fatalf("%d batches queued before Stop, want the call's (at least 5)", len(s.pending))
	}
	res, err := r.Stop()
	must(t, err)
	fi, err := os.Stat(path)
	must(t, err)
	if res.Size != fi.Size() {
		t.Errorf("Stop says %d bytes, the file has %d", res.Size, fi.Size())
	}
	in, err := Inspect(path)
	must(t, err)
	if in.Duration != 3*time.Second || in.Frames != 24000 {
		t.Errorf("Inspect: %+v; want 3 s, 24000 frames (an exact LAME tag)", in)
	}
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	sc, err := scanMP3(f, fi.Size())
	must(t, err)
	if !sc.hasTag || sc.tag.Frames != sc.frames || sc.end != fi.Size() {
		t.Errorf("scan: tag %v %+v, %d frames, whole frames up to %d of %d", sc.hasTag, sc.tag, sc.frames, sc.end, fi.Size())
	}
}

// TestMP3PoolWriteFailure: a file write that fails on a pool goroutine is
// not lost: the sink's next write returns it, the recorder fails (Failed
// closed, Err wraps ErrWrite and the system's error) and Stop returns it.
// The file's descriptor is swapped for a read-only one on the same file,
// so the system refuses the pool's writes (EBADF).
func TestMP3PoolWriteFailure(t *testing.T) {
	for _, pc := range []struct {
		name string
		pool *encoderPool
	}{
		{"pool", newEncoderPool(1, 0)},
		{"run by the test", stalledPool(0)}, // the pool's part played by mp3Sink.run
	} {
		t.Run(pc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.mp3")
			// Mono: a 2 KiB buffer holds 3 batches, so the pool's writes
			// reach the file between flushes.
			r := recordPool(t, lameWithPool(t, pc.pool), MP3Config{Mono: true}, path, 2, 1,
				func(c *Config) { c.FlushInterval = time.Minute })
			s := mp3SinkOf(r)
			ro, err := os.Open(path)
			must(t, err)
			rw := s.out.f
			s.out.f = ro
			defer rw.Close()
			var k int64 = 1
			write := func() error {
				err := errors.Join(r.Stream(0).Write(k*160, poolAudio(2, 0, k)), r.Stream(1).Write(k*160, poolAudio(2, 1, k)))
				k++
				return err
			}
			for k < 50 { // 1 s: 6 batches, past the write buffer
				_ = write() // may fail already
			}
			if pc.pool.max == 0 {
				if s.run() {
					t.Error("run after a failure says there is more to do")
				}
			} else {
				// Wait for the pool (no time limit asserted: the test's
				// deadline is the bound).
				for !s.failed.Load() {
					time.Sleep(time.Millisecond)
				}
			}
			for i := 0; i < 20 && r.Err() == nil; i++ {
				_ = write()
			}
			select {
			case <-r.Failed():
			default:
				t.Fatal("the pool's write failure did not fail the recorder")
			}
			if err := r.Err(); !errors.Is(err, ErrWrite) || !errors.Is(err, syscall.EBADF) {
				t.Errorf("Err() = %v, want ErrWrite wrapping EBADF", err)
			}
			_, err = r.Stop()
			if !errors.Is(err, ErrWrite) || !errors.Is(err, syscall.EBADF) {
				t.Errorf("Stop: %v, want the pool's failure", err)
			}
		})
	}
}

// TestMP3PoolSinkErrors: the sink's own contract with a queued batch that
// failed: the next write, flush and close all return it.
func TestMP3PoolSinkErrors(t *testing.T) {
	p := stalledPool(0)
	l := lameWithPool(t, p)
	path := filepath.Join(t.TempDir(), "c.mp3")
	must(t, os.WriteFile(path, nil, 0o644))
	ro, err := os.Open(path)
	must(t, err)
	c := MP3Config{Mono: true}.withDefaults(8000, true)
	s, err := newMP3Sink(ro, l, c, 1, 8000, chunkFrames, 16, false) // a 16-byte buffer: every batch writes
	must(t, err)
	pcm := tone(500, 8000, rate8k, 0, chunkFrames)
	for range 4 * mp3Batch / chunkFrames { // 4 batches: LAME puts out frames
		if err := s.write(pcm); err != nil {
			t.Fatalf("write before the pool ran: %v", err)
		}
	}
	if len(s.pending) == 0 {
		t.Fatal("nothing queued")
	}
	s.run()
	if err := s.write(pcm); !errors.Is(err, syscall.EBADF) {
		t.Errorf("write after the failure: %v, want EBADF", err)
	}
	if err := s.flush(); !errors.Is(err, syscall.EBADF) {
		t.Errorf("flush after the failure: %v, want EBADF", err)
	}
	if _, err := s.close(); !errors.Is(err, syscall.EBADF) {
		t.Errorf("close after the failure: %v, want EBADF", err)
	}
	if q := p.queuedBytes(); q != 0 {
		t.Errorf("%d bytes still counted queued", q)
	}
}

// TestMP3PoolAbort: Abort with batches queued drops them, removes the file
// and releases their room in the queue; a pool goroutine that comes to the
// sink afterwards does nothing (its LAME handle is freed: encoding with it
// would crash the process).
func TestMP3PoolAbort(t *testing.T) {
	p := stalledPool(0)
	path := filepath.Join(t.TempDir(), "c.mp3")
	r := recordPool(t, lameWithPool(t, p), MP3Config{}, path, 3, 150, func(c *Config) { c.FlushInterval = time.Minute })
	s := mp3SinkOf(r)
	if len(s.pending) == 0 || p.queued == 0 {
		t.Fatalf("nothing queued: %d batches, %d bytes", len(s.pending), p.queued)
	}
	must(t, r.Abort())
	if _, err := os.Stat(r.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file after Abort: %v", err)
	}
	if q := p.queuedBytes(); q != 0 || len(s.pending) != 0 {
		t.Errorf("after Abort: %d bytes counted queued, %d batches", q, len(s.pending))
	}
	if s.run() {
		t.Error("run after Abort says there is more to do")
	}
}

// TestMP3PoolAbortRace: recordings aborted while the pool's goroutines
// encode their batches, and others stopped, all at once. Run with -race:
// an aborted file is not written after its close, nothing crashes, the
// stopped files are right.
func TestMP3PoolAbortRace(t *testing.T) {
	p := newEncoderPool(2, 64<<10)
	l := lameWithPool(t, p)
	dir := t.TempDir()
	const n = 12
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := feedPool(l, MP3Config{}, filepath.Join(dir, fmt.Sprintf("c%d.mp3", i)), i, int64(20+10*i), nil)
			if err != nil {
				errs[i] = err
				return
			}
			if i%2 == 0 {
				errs[i] = r.Abort()
				return
			}
			_, errs[i] = r.Stop()
		}()
	}
	wg.Wait()
	must(t, errors.Join(errs...))
	for i := range n {
		_, err := os.Stat(filepath.Join(dir, fmt.Sprintf("c%d.mp3", i)))
		if aborted := i%2 == 0; aborted != errors.Is(err, os.ErrNotExist) {
			t.Errorf("recording %d (aborted %v): %v", i, aborted, err)
		}
	}
	if q := p.queuedBytes(); q != 0 {
		t.Errorf("%d bytes counted queued after every recording ended", q)
	}
}

// TestMP3PoolBound: past QueueBytes the writer encodes itself — the
// sink's queued batches first, then its own — so the queue never holds
// more than the bound (here two batches, in a pool that never runs) and
// the file is still the inline one.
func TestMP3PoolBound(t *testing.T) {
	requireLAME(t)
	dir := t.TempDir()
	ref := filepath.Join(dir, "inline.mp3")
	_, err := recordPool(t, requireLAME(t), MP3Config{Mono: true, Inline: true}, ref, 4, 250, nil).Stop()
	must(t, err)
	most := 2 * (mp3Batch + chunkFrames) // bytes of one mono batch, at most
	p := stalledPool(2 * most)
	path := filepath.Join(dir, "c.mp3")
	r := recordPool(t, lameWithPool(t, p), MP3Config{Mono: true}, path, 4, 25, func(c *Config) { c.FlushInterval = time.Minute })
	s := mp3SinkOf(r)
	for k := int64(25); k < 250; k++ {
		must(t, r.Stream(0).Write(k*160, poolAudio(4, 0, k)))
		must(t, r.Stream(1).Write(k*160, poolAudio(4, 1, k)))
		if p.queued > p.limit || len(s.pending) > 2 {
			t.Fatalf("packet %d: %d bytes in %d batches queued, bound %d", k, p.queued, len(s.pending), p.limit)
		}
	}
	// 31 batches after the first 25 packets; with two queued the third is
	// past the bound and the writer encodes all three: one in three.
	if p.inline.Load() < 9 {
		t.Errorf("%d batches encoded by the writer past the bound, want one in three of 31", p.inline.Load())
	}
	_, err = r.Stop()
	must(t, err)
	sameFile(t, path, ref)
}

// TestMP3PoolManyRecordings: many recordings at once, each stream on its
// own goroutine, on a pool of 3 encoders whose queue is short (writers
// and the pool both encode, and writers drain their queues at flushes):
// every file is its inline twin. Run with -race.
func TestMP3PoolManyRecordings(t *testing.T) {
	requireLAME(t)
	const n, packets = 10, 200
	dir := t.TempDir()
	p := newEncoderPool(3, 12*2*(2*mp3Batch+2*chunkFrames))
	l := lameWithPool(t, p)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := New(filepath.Join(dir, fmt.Sprintf("c%d.mp3", i)), Config{Format: MP3, LAME: l, Streams: twoStreams(), Start: t0})
			if err != nil {
				errs[i] = err
				return
			}
			var sw sync.WaitGroup
			serr := make([]error, 2)
			bar := newBarrier(2)
			for st := range 2 {
				sw.Add(1)
				go func() {
					defer sw.Done()
					s := r.Stream(st)
					serr[st] = s.StartAt(0)
					for k := range int64(packets) {
						if k%10 == 0 {
							bar.wait()
						}
						if serr[st] == nil {
							serr[st] = s.Write(k*160, poolAudio(i, st, k))
						}
					}
				}()
			}
			sw.Wait()
			_, err = r.Stop()
			errs[i] = errors.Join(append(serr, err)...)
		}()
	}
	wg.Wait()
	must(t, errors.Join(errs...))
	// Which goroutine encoded what depends on the scheduling (writers
	// that outrun the pool drain their queues at each flush); that the
	// pool's goroutines encode is TestMP3PoolSameFile's to prove.
	t.Logf("batches: %d by the pool, %d by writers past the bound", p.ran.Load(), p.inline.Load())
	for i := range n {
		ref := filepath.Join(dir, fmt.Sprintf("inline%d.mp3", i))
		_, err := recordPool(t, requireLAME(t), MP3Config{Inline: true}, ref, i, packets, nil).Stop()
		must(t, err)
		sameFile(t, filepath.Join(dir, fmt.Sprintf("c%d.mp3", i)), ref)
	}
}

// TestNoAllocationsPerPacketPool: the pool's path (batches queued, encoded
// and written by its goroutines, buffers handed back) costs no allocation
// per packet in steady state, in any goroutine.
func TestNoAllocationsPerPacketPool(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	p := newEncoderPool(1, 0)
	l := lameWithPool(t, p)
	r, _ := newTestRecorder(t, Config{Format: MP3, LAME: l, Streams: twoStreams()})
	a, b := r.Stream(0), r.Stream(1)
	must(t, a.StartAt(0))
	must(t, b.StartAt(0))
	pa, pb := tone(1000, 8000, rate8k, 0, 160), tone(600, 8000, rate8k, 0, 160)
	var k int64
	packet := func() {
		_ = a.Write(k*160, pa)
		_ = b.Write(k*160, pb)
		k++
		// A media worker waits for its next datagram: the pool's
		// goroutine runs (AllocsPerRun sets GOMAXPROCS to 1).
		runtime.Gosched()
	}
	for range 500 {
		packet()
	}
	ran := p.ran.Load()
	if n := testing.AllocsPerRun(5000, packet); n != 0 {
		t.Errorf("%.3f allocations per packet, want 0", n)
	}
	if p.ran.Load() == ran {
		t.Error("the pool encoded nothing: the test measured another path")
	}
	_, err := r.Stop()
	must(t, err)
}

// TestOpenLAMEConfigRefusesNegative: negative sizes are refused before
// anything is loaded, naming the field and the value.
func TestOpenLAMEConfigRefusesNegative(t *testing.T) {
	for _, tc := range []struct {
		c    LAMEConfig
		want string
	}{
		{LAMEConfig{Encoders: -1}, "LAMEConfig.Encoders -1"},
		{LAMEConfig{QueueBytes: -5}, "LAMEConfig.QueueBytes -5"},
	} {
		_, err := OpenLAMEConfig(tc.c)
		if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("OpenLAMEConfig(%+v) = %v, want ErrBadConfig naming %q", tc.c, err, tc.want)
		}
	}
}
