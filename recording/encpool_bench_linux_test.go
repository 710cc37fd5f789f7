//go:build linux

package recording

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkMP3Pool is what the encoder pool takes off the goroutine that
// delivers the audio (a media poller's worker): N two-party mono MP3
// calls (the gateway's MP3 default) fed round robin, one 20 ms packet per
// party per call in turn, by one goroutine locked to its thread, with
// MP3Config.Inline ("inline") or the LAME's pool ("pool", GOMAXPROCS
// encoders). After each round (20 ms of every call) the feeder waits,
// as a worker waits for its next datagrams (on a timerfd in the network
// poller, as a worker on its socket): 100 µs, and more
// until the pool has caught up (polled every 1 ms), so the pool keeps
// up, as it must in a gateway that is not overloaded. One op is one
// packet.
//
//	caller-ns/packet  CPU of the feeding thread (RUSAGE_THREAD)
//	cpu-ns/packet     CPU of the process (both, the pool's goroutines, GC)
//	inline-%          batches the feeder encoded itself: the queue was full
//	wake-p50-µs       how late the feeder wakes from its first sleep after a
//	wake-p99-µs       round, when the pool has the round's batches to encode
//
// The wake metrics matter when the process is pinned to one core
// (taskset -c 0, as capacity -pin; GOMAXPROCS 1). Encoder threads at a
// lower priority (nice 10) were measured too and gave nothing (the
// feeder's wait is in Go's scheduler, not the kernel's): not kept.
//
//	go test ./recording -run '^$' -bench MP3Pool -benchtime 200000x -cpu 1,2
//
// RECORDING_BENCH_CALLS sets N (default 500).
func BenchmarkMP3Pool(b *testing.B) {
	calls := 500
	if v, err := strconv.Atoi(os.Getenv("RECORDING_BENCH_CALLS")); err == nil && v > 0 {
		calls = v
	}
	for _, mode := range []string{"inline", "pool", "pool-noyield"} {
		b.Run(fmt.Sprintf("calls=%d/%s", calls, mode), func(b *testing.B) {
			l := lameWithPool(b, newEncoderPool(0, 0))
			p := l.pool
			p.noYield = mode == "pool-noyield"
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
			// The feeder waits on a timerfd in the network poller, as a
			// media worker waits on its socket: waking it needs the
			// scheduler to poll, which a goroutine holding the only P
			// (GOMAXPROCS 1) delays.
			tfd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
			if err != nil {
				b.Fatal(err)
			}
			timer := os.NewFile(uintptr(tfd), "timerfd")
			defer timer.Close()
			var ticks [8]byte
			sleep := func(d time.Duration) {
				spec := unix.ItimerSpec{Value: unix.NsecToTimespec(d.Nanoseconds())}
				if err := unix.TimerfdSettime(tfd, 0, &spec, nil); err != nil {
					b.Fatal(err)
				}
				if _, err := timer.Read(ticks[:]); err != nil {
					b.Fatal(err)
				}
			}
			packets := 0
			late := make([]time.Duration, 0, b.N/(2*calls)+1)
			for k := int64(0); packets < b.N; k++ {
				for _, r := range recs {
					_ = r.Stream(0).Write(k*160, pa)
					_ = r.Stream(1).Write(k*160, pb)
				}
				packets += 2 * calls
				t := time.Now()
				sleep(100 * time.Microsecond) // inline too: the same sleep
				late = append(late, time.Since(t)-100*time.Microsecond)
				for p.queuedBytes() > 0 {
					sleep(time.Millisecond)
				}
			}
			th, cpu := threadCPU()-th0, cpuTime()-cpu0
			b.StopTimer()
			b.ReportMetric(float64(th.Nanoseconds())/float64(packets), "caller-ns/packet")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(packets), "cpu-ns/packet")
			slices.Sort(late)
			b.ReportMetric(float64(late[len(late)/2].Microseconds()), "wake-p50-µs")
			b.ReportMetric(float64(late[len(late)*99/100].Microseconds()), "wake-p99-µs")
			if ran, inline := p.ran.Load()-ran0, p.inline.Load()-inline0; ran+inline > 0 {
				b.ReportMetric(100*float64(inline)/float64(ran+inline), "inline-%")
			}
		})
	}
}
