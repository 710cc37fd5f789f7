package recording

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// LAMEConfig configures OpenLAMEConfig: where LAME is and the encoder
// pool that runs MP3 recordings' LAME calls and file writes (see
// MP3Config.Inline). The zero value loads libmp3lame.so.0 with a pool of
// GOMAXPROCS goroutines.
type LAMEConfig struct {
	// Path of the library. Default: libmp3lame.so.0 (libmp3lame.0.dylib
	// on macOS), found by the dynamic linker.
	Path string
	// Encoders is how many goroutines, at most, encode the MP3 recordings
	// made with this LAME: they are started when audio waits for them and
	// end after 2 s with nothing to do. 0: runtime.GOMAXPROCS(0) at
	// OpenLAMEConfig; negative is refused (ErrBadConfig). An encoder lets the scheduler poll the network
	// after each millisecond of work or so: with GOMAXPROCS 1 (or as many
	// encoders busy as Ps) a media worker waiting for its socket would
	// otherwise wait for the encoders' whole backlog, since the runtime
	// polls the network only when a P has nothing else to run
	// (BenchmarkMP3Pool, one core: 15 ms late at the 99th percentile
	// without, 1 ms with).
	Encoders int
	// QueueBytes bounds the PCM waiting for the encoders, over all
	// recordings of this LAME (2 bytes a sample). When a batch would pass
	// it, the recording's writer encodes its own waiting audio and the
	// batch itself, as with MP3Config.Inline: the audio is late, never
	// dropped, and memory never grows without bound. 0: 16 MiB, about a
	// second of 1,000 mono 8 kHz calls; negative is refused
	// (ErrBadConfig). Not counted: each recording keeps up to four spare
	// batch buffers (~10 KB each) for reuse.
	QueueBytes int
}

// validate refuses negative sizes, naming the field and value.
func (c LAMEConfig) validate() error {
	switch {
	case c.Encoders < 0:
		return fmt.Errorf("%w: LAMEConfig.Encoders %d (want 0 for GOMAXPROCS, or more)", ErrBadConfig, c.Encoders)
	case c.QueueBytes < 0:
		return fmt.Errorf("%w: LAMEConfig.QueueBytes %d (want 0 for 16 MiB, or more)", ErrBadConfig, c.QueueBytes)
	}
	return nil
}

const (
	defaultQueueBytes = 16 << 20
	// encoderLinger is how long an encoder goroutine waits for work
	// before it ends.
	encoderLinger = 2 * time.Second
	// mp3RunBatches is how many batches of one sink a pool goroutine
	// encodes before it lets the other sinks waiting have their turn.
	mp3RunBatches = 4
	// yieldEvery is how long an encoder goroutine works, at most about,
	// before it lets the scheduler poll the network (yielder). Each yield
	// costs system calls (a timer set, a read, the poll): at 200 µs they
	// were 8% of the encoders' CPU in a profile of BenchmarkMP3Pool; at
	// 1 ms they do not show against the inline encoding.
	yieldEvery = time.Millisecond
)

// encoderPool runs the queued batches of MP3 sinks (mp3Sink.run) on up to
// max goroutines, started when work comes and ending when idle: nothing
// to close. Each sink is in the ready queue at most once (its scheduled
// flag), so one goroutine at a time encodes it, in order.
//
// Lock order: a sink's mu, then the pool's mu.
type encoderPool struct {
	max   int
	limit int64 // bytes of queued PCM at most
	// noYield turns the yielder off (BenchmarkMP3Pool measures it).
	noYield bool

	mu      sync.Mutex
	ready   []*mp3Sink // FIFO from head
	head    int
	running int // goroutines
	idle    int // goroutines waiting for work
	queued  int64
	wake    chan struct{}
	work    func() // p.worker, made once: starting it allocates nothing more

	// inline counts the batches a writer encoded itself because the
	// queue was full (tests and benchmarks read it).
	inline atomic.Int64
	// ran counts the batches the pool's goroutines encoded.
	ran atomic.Int64
}

func newEncoderPool(workers, queueBytes int) *encoderPool {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if queueBytes <= 0 {
		queueBytes = defaultQueueBytes
	}
	p := &encoderPool{max: workers, limit: int64(queueBytes), wake: make(chan struct{}, workers)}
	p.work = p.worker
	return p
}

// reserve counts n bytes as queued, or reports that they would pass the
// bound.
func (p *encoderPool) reserve(n int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.queued+int64(n) > p.limit {
		return false
	}
	p.queued += int64(n)
	return true
}

// release uncounts n bytes that are no longer queued.
func (p *encoderPool) release(n int) {
	p.mu.Lock()
	p.queued -= int64(n)
	p.mu.Unlock()
}

// push puts s, newly scheduled, at the end of the ready queue and makes
// sure a goroutine will take it.
func (p *encoderPool) push(s *mp3Sink) {
	p.mu.Lock()
	if p.head > 0 && len(p.ready) == cap(p.ready) {
		n := copy(p.ready, p.ready[p.head:])
		clear(p.ready[n:])
		p.ready, p.head = p.ready[:n], 0
	}
	p.ready = append(p.ready, s)
	switch {
	case p.idle > 0:
		select {
		case p.wake <- struct{}{}:
		default: // enough wake-ups pending
		}
	case p.running < p.max:
		p.running++
		go p.work()
	}
	p.mu.Unlock()
}

// next waits for a ready sink; nil when none came for encoderLinger (the
// goroutine ends, uncounted). waited: it had to wait.
func (p *encoderPool) next(t *time.Timer) (s *mp3Sink, waited bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.head == len(p.ready) {
		waited = true
		p.idle++
		p.mu.Unlock()
		t.Reset(encoderLinger)
		timedOut := false
		select {
		case <-p.wake:
		case <-t.C:
			timedOut = true
		}
		p.mu.Lock()
		p.idle--
		if timedOut && p.head == len(p.ready) {
			p.running--
			return nil, true
		}
	}
	s = p.ready[p.head]
	p.ready[p.head] = nil
	p.head++
	if p.head == len(p.ready) {
		p.ready, p.head = p.ready[:0], 0
	}
	return s, waited
}

// worker is one encoder goroutine. Every yieldEvery of work it yields
// (yielder), so that a media worker waiting for its socket is not kept
// from its P until the backlog is encoded.
func (p *encoderPool) worker() {
	y := newYielder()
	defer y.close()
	t := time.NewTimer(encoderLinger)
	defer t.Stop()
	var since time.Time
	for {
		s, waited := p.next(t)
		if s == nil {
			return
		}
		if waited {
			since = time.Now()
		}
		if s.run() {
			p.push(s)
		}
		if !p.noYield && time.Since(since) >= yieldEvery {
			y.yield()
			since = time.Now()
		}
	}
}

// yieldPark is how long a yield parks: long enough that the timer has
// not fired before the read parks (setting it took up to 17 µs in a
// virtual machine, and at 10 µs one yield in four did not park: see
// TestYieldLetsNetworkPoll).
const yieldPark = 50 * time.Microsecond
