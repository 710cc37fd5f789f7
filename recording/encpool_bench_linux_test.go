//go:build linux

package recording

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// BenchmarkMP3Pool is what the encoder pool takes off the goroutine that
// delivers the audio (a media poller's worker): N two-party mono MP3
// calls (the gateway's MP3 default) fed round robin, one 20 ms packet per
// party per call in turn, by one goroutine locked to its thread, with
// MP3Config.Inline ("inline") or the LAME's pool ("pool", GOMAXPROCS
// encoders). After each round (20 ms of every call) the feeder waits,
// as a worker waits for its next datagrams: 100 µs asleep, and more
// until the pool has caught up (polled every 100 µs), so the pool keeps
// up, as it must in a gateway that is not overloaded. One op is one
// packet.
//
//	caller-ns/packet  CPU of the feeding thread (RUSAGE_THREAD)
//	cpu-ns/packet     CPU of the process (both, the pool's goroutines, GC)
//	inline-%          batches the feeder encoded itself: the queue was full
//
//	go test ./recording -run '^$' -bench MP3Pool -benchtime 200000x -cpu 1,2
//
// RECORDING_BENCH_CALLS sets N (default 500).
func BenchmarkMP3Pool(b *testing.B) {
	calls := 500
	if v, err := strconv.Atoi(os.Getenv("RECORDING_BENCH_CALLS")); err == nil && v > 0 {
		calls = v
	}
	for _, mode := range []string{"inline", "pool"} {
		b.Run(fmt.Sprintf("calls=%d/%s", calls, mode), func(b *testing.B) {
			l := lameWithPool(b, newEncoderPool(0, 0))
			p := l.pool
			dir := b.TempDir()
			recs := make([]*Recorder, calls)
			mc := MP3Config{Mono: true, Inline: mode == "inline"}
			for i := range recs {
				r, err := New(filepath.Join(dir, fmt.Sprintf("r%d.mp3", i)), Config{Format: MP3, LAME: l, MP3: mc, Streams: twoStreams(), Start: t0})
				must(b, err)
				must(b, r.Stream(0).StartAt(0))
				must(b, r.Stream(1).StartAt(0))
				recs[i] = r
			}
			defer func() {
				for _, r := range recs {
					_, _ = r.Stop()
				}
			}()
			pa, pb := tone(400, 8000, rate8k, 0, 160), tone(1000, 8000, rate8k, 0, 160)
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			runtime.GC()
			b.ReportAllocs()
			b.ResetTimer()
			ran0, inline0 := p.ran.Load(), p.inline.Load()
			cpu0, th0 := cpuTime(), threadCPU()
			packets := 0
			for k := int64(0); packets < b.N; k++ {
				for _, r := range recs {
					_ = r.Stream(0).Write(k*160, pa)
					_ = r.Stream(1).Write(k*160, pb)
				}
				packets += 2 * calls
				for wait := true; wait; wait = p.queuedBytes() > 0 {
					time.Sleep(100 * time.Microsecond) // inline too: the same sleeps
				}
			}
			th, cpu := threadCPU()-th0, cpuTime()-cpu0
			b.StopTimer()
			b.ReportMetric(float64(th.Nanoseconds())/float64(packets), "caller-ns/packet")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(packets), "cpu-ns/packet")
			if ran, inline := p.ran.Load()-ran0, p.inline.Load()-inline0; ran+inline > 0 {
				b.ReportMetric(100*float64(inline)/float64(ran+inline), "inline-%")
			}
		})
	}
}
