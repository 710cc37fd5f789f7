package recording

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/voicegw/voicegw/media"
)

// BenchmarkRecord measures a two-party call recorded as fast as one core
// can: one op is one 20 ms packet from each party (write, mix, encode,
// file write). xRT is the real-time factor per core: seconds of call
// recorded per second of CPU time the process used (user + system, so the
// kernel's file writes and the garbage collector count; unlike ns/op it
// does not grow when other processes share the machine). Files are rotated
// every 30 minutes of call.
func BenchmarkRecord(b *testing.B) {
	for _, f := range []Format{WAV, MP3} {
		b.Run(f.String(), func(b *testing.B) {
			var l *LAME
			if f == MP3 {
				l = requireLAME(b)
			}
			dir := b.TempDir()
			pa, pb := tone(1000, 8000, rate8k, 0, 160), tone(600, 8000, rate8k, 0, 160)
			var r *Recorder
			var n int
			open := func() {
				var err error
				n++
				r, err = New(filepath.Join(dir, fmt.Sprintf("b%d%s", n, f.Ext())), Config{Format: f, LAME: l, Streams: twoStreams(), Start: t0})
				if err != nil {
					b.Fatal(err)
				}
				_ = r.Stream(0).StartAt(0)
				_ = r.Stream(1).StartAt(0)
			}
			open()
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			var k int64
			for range b.N {
				if k == 90000 {
					b.StopTimer()
					res, err := r.Stop()
					if err != nil {
						b.Fatal(err)
					}
					_ = os.Remove(res.Path)
					open()
					k = 0
					b.StartTimer()
				}
				if err := r.Stream(0).Write(k*160, pa); err != nil {
					b.Fatal(err)
				}
				if err := r.Stream(1).Write(k*160, pb); err != nil {
					b.Fatal(err)
				}
				k++
			}
			b.StopTimer()
			used := (cpuTime() - cpu0).Seconds()
			if used <= 0 {
				used = b.Elapsed().Seconds()
			}
			b.ReportMetric(float64(b.N)*0.020/used, "xRT")
			_, _ = r.Stop()
		})
	}
}

// BenchmarkHeapPerRecording keeps 200 two-party recordings active at once
// (2 s of audio each, so every buffer is in use) and reports the Go heap
// each holds, and the resident memory each adds to the process (which
// includes LAME's own C allocations for MP3, outside the Go heap).
func BenchmarkHeapPerRecording(b *testing.B) {
	const n = 200
	for _, f := range []Format{WAV, MP3} {
		b.Run(f.String(), func(b *testing.B) {
			var l *LAME
			if f == MP3 {
				l = requireLAME(b)
			}
			pcm := tone(1000, 8000, rate8k, 0, 160)
			var heap, rss float64
			for i := range b.N {
				dir := b.TempDir()
				recs := make([]*Recorder, n)
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				rss0 := residentBytes()
				for j := range recs {
					r, err := New(filepath.Join(dir, fmt.Sprintf("r%d-%d%s", i, j, f.Ext())), Config{Format: f, LAME: l, Streams: twoStreams(), Start: t0})
					if err != nil {
						b.Fatal(err)
					}
					_ = r.Stream(0).StartAt(0)
					_ = r.Stream(1).StartAt(0)
					for k := int64(0); k < 100; k++ {
						_ = r.Stream(0).Write(k*160, pcm)
						_ = r.Stream(1).Write(k*160, pcm)
					}
					recs[j] = r
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				heap += float64(after.HeapAlloc-before.HeapAlloc) / n
				rss += float64(residentBytes()-rss0) / n
				for _, r := range recs {
					_, _ = r.Stop()
				}
			}
			b.ReportMetric(heap/float64(b.N), "heapB/rec")
			b.ReportMetric(rss/float64(b.N), "rssB/rec")
		})
	}
}

// residentBytes returns the process's resident set size from /proc, or 0.
func residentBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// Benchmarks for the side-by-side comparison with the lame command (see
// BENCHMARKS.md): run the test binary with -test.benchtime=1x so that one
// op is one whole file, and time the process from outside.
//
//	RECORDING_BENCH_IN=in16k.raw RECORDING_BENCH_OUT=out.mp3 recording.test -test.run='^$' -test.bench=BenchmarkEncodeRawFile -test.benchtime=1x
//
// BenchmarkEncodeRawFile encodes raw 16 kHz stereo PCM16 (little-endian)
// with LAME through this package, 1152 frames per call as the lame command
// reads its input (RECORDING_BENCH_FRAMES changes that), CBR 48 kbit/s,
// quality 5, LAME's default lowpass (RECORDING_BENCH_LOWPASS=Hz sets one):
// the same work as
//
//	lame -r -s 16 --bitwidth 16 --signed --little-endian -m s -b 48 -q 5 --noreplaygain in16k.raw out.mp3
func BenchmarkEncodeRawFile(b *testing.B) {
	in, out := os.Getenv("RECORDING_BENCH_IN"), os.Getenv("RECORDING_BENCH_OUT")
	if in == "" || out == "" {
		b.Skip("set RECORDING_BENCH_IN (raw 16 kHz stereo s16le) and RECORDING_BENCH_OUT")
	}
	l := requireLAME(b)
	for range b.N {
		src, err := os.Open(in)
		if err != nil {
			b.Fatal(err)
		}
		dst, err := os.Create(out)
		if err != nil {
			b.Fatal(err)
		}
		frames := 1152
		if v, err := strconv.Atoi(os.Getenv("RECORDING_BENCH_FRAMES")); err == nil && v > 0 {
			frames = v
		}
		lowpass := 0
		if v, err := strconv.Atoi(os.Getenv("RECORDING_BENCH_LOWPASS")); err == nil {
			lowpass = v
		}
		enc, err := l.newEncoder(lameParams{rate: 16000, channels: 2, kbps: 48, quality: 5, lowpass: lowpass, maxFrames: frames})
		if err != nil {
			b.Fatal(err)
		}
		br := bufio.NewReaderSize(src, 1<<16)
		bw := bufio.NewWriterSize(dst, 1<<16)
		raw := make([]byte, frames*4)
		pcm := make([]int16, frames*2)
		for {
			n, err := io.ReadFull(br, raw)
			for i := 0; i < n/2; i++ {
				pcm[i] = int16(uint16(raw[2*i]) | uint16(raw[2*i+1])<<8)
			}
			if n >= 4 {
				mp3, eerr := enc.encode(pcm[:n/4*2])
				if eerr != nil {
					b.Fatal(eerr)
				}
				_, _ = bw.Write(mp3)
			}
			if err != nil {
				break
			}
		}
		tail, err := enc.flush()
		if err != nil {
			b.Fatal(err)
		}
		_, _ = bw.Write(tail)
		if err := bw.Flush(); err != nil {
			b.Fatal(err)
		}
		if tag := enc.lametag(); len(tag) > 0 {
			_, _ = dst.WriteAt(tag, 0)
		}
		enc.close()
		_ = src.Close()
		if err := dst.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecordRawFile records raw 8 kHz stereo PCM16 as a two-party call
// to MP3 through the whole recorder with the default MP3Config (two streams
// fed 20 ms packets, mixed, encoded at 8 kHz, 48 kbit/s, quality 7, 1152
// frames per LAME call): the full cost of an MP3 recording, to compare with
// lame encoding the same audio with the same settings,
//
//	lame -r -s 8 --bitwidth 16 --signed --little-endian -m s -b 48 -q 7 --noreplaygain in8k.raw out.mp3
//
// (RECORDING_BENCH_RATE=16000 records at 16 kHz, this package upsampling,
// to compare with lame given that PCM; see BenchmarkUpsampleRawFile).
//
//	RECORDING_BENCH_IN=in8k.raw RECORDING_BENCH_OUT=out.mp3 recording.test -test.run='^$' -test.bench=BenchmarkRecordRawFile -test.benchtime=1x
func BenchmarkRecordRawFile(b *testing.B) {
	in, out := os.Getenv("RECORDING_BENCH_IN"), os.Getenv("RECORDING_BENCH_OUT")
	if in == "" || out == "" {
		b.Skip("set RECORDING_BENCH_IN (raw 8 kHz stereo s16le) and RECORDING_BENCH_OUT")
	}
	l := requireLAME(b)
	for range b.N {
		_ = os.Remove(out)
		src, err := os.Open(in)
		if err != nil {
			b.Fatal(err)
		}
		var mc MP3Config
		if v, err := strconv.Atoi(os.Getenv("RECORDING_BENCH_RATE")); err == nil {
			mc.SampleRate = v
		}
		r, err := New(out, Config{Format: MP3, LAME: l, MP3: mc, Streams: twoStreams(), Start: time.Now()})
		if err != nil {
			b.Fatal(err)
		}
		_ = r.Stream(0).StartAt(0)
		_ = r.Stream(1).StartAt(0)
		br := bufio.NewReaderSize(src, 1<<16)
		raw := make([]byte, 160*4)
		left, right := make([]int16, 160), make([]int16, 160)
		for k := int64(0); ; k++ {
			n, err := io.ReadFull(br, raw)
			f := n / 4
			for i := 0; i < f; i++ {
				left[i] = int16(uint16(raw[4*i]) | uint16(raw[4*i+1])<<8)
				right[i] = int16(uint16(raw[4*i+2]) | uint16(raw[4*i+3])<<8)
			}
			if f > 0 {
				_ = r.Stream(0).Write(k*160, left[:f])
				_ = r.Stream(1).Write(k*160, right[:f])
			}
			if err != nil {
				break
			}
		}
		_ = src.Close()
		if _, err := r.Stop(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpsampleRawFile upsamples raw 8 kHz stereo PCM16 to 16 kHz with
// this package's half-band filter: it makes the input that lame gets in
// the side-by-side comparison of the whole MP3 path (the same PCM the
// recorder hands to LAME).
//
//	RECORDING_BENCH_IN=in8k.raw RECORDING_BENCH_OUT=in16k_ours.raw recording.test -test.run='^$' -test.bench=BenchmarkUpsampleRawFile -test.benchtime=1x
func BenchmarkUpsampleRawFile(b *testing.B) {
	in, out := os.Getenv("RECORDING_BENCH_IN"), os.Getenv("RECORDING_BENCH_OUT")
	if in == "" || out == "" {
		b.Skip("set RECORDING_BENCH_IN (raw 8 kHz stereo s16le) and RECORDING_BENCH_OUT")
	}
	for range b.N {
		raw, err := os.ReadFile(in)
		if err != nil {
			b.Fatal(err)
		}
		pcm := make([]int16, len(raw)/2)
		for i := range pcm {
			pcm[i] = int16(uint16(raw[2*i]) | uint16(raw[2*i+1])<<8)
		}
		up := upsample(pcm, 2, 160)
		res := make([]byte, 2*len(up))
		for i, v := range up {
			res[2*i], res[2*i+1] = byte(v), byte(uint16(v)>>8)
		}
		if err := os.WriteFile(out, res, 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMediaHandler compares feeding a two-party WAV recording through
// the MediaHandlers (as a media.Receiver does, through the media.Handler
// interface) with calling Stream.Write directly: one op is one 20 ms packet
// of each party. The difference is the adapter's cost per packet.
func BenchmarkMediaHandler(b *testing.B) {
	pa, pb := tone(1000, 8000, rate8k, 0, 160), tone(600, 8000, rate8k, 0, 160)
	for _, via := range []string{"Stream.Write", "MediaHandler"} {
		b.Run(via, func(b *testing.B) {
			dir := b.TempDir()
			var r *Recorder
			var ha, hb media.Handler
			n := 0
			open := func() {
				var err error
				n++
				r, err = New(filepath.Join(dir, fmt.Sprintf("b%d.wav", n)), Config{Streams: twoStreams(), Start: t0})
				if err != nil {
					b.Fatal(err)
				}
				a, _ := r.Stream(0).MediaHandler()
				c, _ := r.Stream(1).MediaHandler()
				ha, hb = a, c
				if via == "Stream.Write" {
					_ = r.Stream(0).StartAt(0)
					_ = r.Stream(1).StartAt(0)
				}
			}
			open()
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			var k int64
			for range b.N {
				if k == 90000 { // a new file every 30 minutes of call
					b.StopTimer()
					res, _ := r.Stop()
					_ = os.Remove(res.Path)
					open()
					k = 0
					b.StartTimer()
				}
				if via == "MediaHandler" {
					at := t0.Add(time.Duration(k) * 20 * time.Millisecond)
					ha.HandleAudio(media.Audio{Position: k * 160, PCM: pa, Arrival: at})
					hb.HandleAudio(media.Audio{Position: k * 160, PCM: pb, Arrival: at})
				} else {
					_ = r.Stream(0).Write(k*160, pa)
					_ = r.Stream(1).Write(k*160, pb)
				}
				k++
			}
			b.StopTimer()
			used := (cpuTime() - cpu0).Seconds()
			if used <= 0 {
				used = b.Elapsed().Seconds()
			}
			b.ReportMetric(float64(b.N)*0.020/used, "xRT")
			if st := r.Stream(0).Stats(); st.Late != 0 {
				b.Fatalf("late samples: %+v", st)
			}
			_, _ = r.Stop()
		})
	}
}

// BenchmarkRTPToWAV measures the recording server's real path per RTP
// packet: media.Senders send two parties' G.711 over loopback to two
// media.Receivers, whose handlers discard the audio (handler=discard) or
// are the MediaHandlers of a two-party WAV recording (handler=record). One
// op is one 20 ms packet; sender and receivers run in this process, so
// cpu-µs/packet (CPU time of the process, user + system, per packet)
// includes sending. The difference between the two is what recording adds
// to receiving; streams/core is 1 s / (cpu per packet × 50 packets).
func BenchmarkRTPToWAV(b *testing.B) {
	g711 := make([]byte, 160)
	media.EncodePCMU(g711, tone(1000, 8000, rate8k, 0, 160))
	for _, mode := range []string{"discard", "record"} {
		b.Run("handler="+mode, func(b *testing.B) {
			r, err := New(filepath.Join(b.TempDir(), "rtp.wav"), Config{Streams: twoStreams(), Start: t0})
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _, _ = r.Stop() }()
			var rxs [2]*media.Receiver
			var txs [2]*media.Sender
			var runs sync.WaitGroup
			// The packets go many times faster than real time: each
			// receiver's clock moves 20 ms per packet sent, so that the
			// timeline is not ahead of it (media drops what would be:
			// media.Stats.Ahead). A packet is stamped when it is read, up
			// to the window of packets in flight later than it was sent,
			// the first one too: the skew allows 10 s.
			var clocks [2]atomic.Int64
			for i := range rxs {
				clocks[i].Store(t0.UnixNano())
				clock := &clocks[i]
				var h media.Handler = media.HandlerFuncs{}
				if mode == "record" {
					h, _ = r.Stream(i).MediaHandler()
				}
				ep, err := media.Listen(loopback)
				if err != nil {
					b.Fatal(err)
				}
				conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
				if err != nil {
					b.Fatal(err)
				}
				defer conn.Close()
				rx, err := media.NewReceiver(ep, media.ReceiverConfig{Handler: h, Remote: conn.LocalAddr().(*net.UDPAddr).AddrPort(),
					Now: func() time.Time { return time.Unix(0, clock.Load()) }, MaxTimestampSkew: 10 * time.Second})
				if err != nil {
					b.Fatal(err)
				}
				rxs[i] = rx
				runs.Add(1)
				go func() { defer runs.Done(); _ = rx.Run(context.Background()) }()
				if txs[i], err = media.NewSender(conn, rx.LocalAddr(), media.SenderConfig{}); err != nil {
					b.Fatal(err)
				}
			}
			defer func() {
				for _, rx := range rxs {
					_ = rx.Close()
				}
				runs.Wait()
			}()
			const window = 64 // packets in flight per stream, well under the socket buffer
			received := func() uint64 { return rxs[0].Stats().Received + rxs[1].Stats().Received }
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := range b.N {
				clocks[i&1].Add(int64(20 * time.Millisecond))
				if err := txs[i&1].WriteEncoded(g711); err != nil {
					b.Fatal(err)
				}
				if i%window == window-1 {
					for received()+window < uint64(i+1) {
						time.Sleep(20 * time.Microsecond)
					}
				}
			}
			for deadline := time.Now().Add(10 * time.Second); received() < uint64(b.N) && time.Now().Before(deadline); {
				time.Sleep(20 * time.Microsecond)
			}
			b.StopTimer()
			used := cpuTime() - cpu0
			if got := received(); got < uint64(b.N) {
				b.Logf("%d of %d packets arrived", got, b.N)
			}
			if mode == "record" && b.N > 200 {
				if st := rxs[0].Stats(); st.Ahead > 0 {
					b.Fatalf("%d packets dropped as ahead of the clock", st.Ahead)
				}
			}
			perPacket := float64(used.Microseconds()) / float64(b.N)
			b.ReportMetric(perPacket, "cpu-µs/packet")
			if perPacket > 0 {
				b.ReportMetric(1e6/perPacket/50, "streams/core")
			}
		})
	}
}

// BenchmarkRecordMany feeds many two-party WAV recordings at once through
// their MediaHandlers, round robin, one 20 ms packet of each party of a
// call in turn (as a gateway's worker takes them from the network), with
// arrival times: each recording's state, windows and file buffer are cold
// in the caches when its packets come, as in a gateway with thousands of
// calls. One op is one packet (one party's 20 ms); cpu-ns/packet is the
// process's CPU time per packet (user + system: the file writes count).
//
//	go test ./recording -run '^$' -bench RecordMany -benchtime 2000000x
func BenchmarkRecordMany(b *testing.B) {
	for _, calls := range []int{2000} {
		b.Run(fmt.Sprintf("calls=%d", calls), func(b *testing.B) {
			dir := b.TempDir()
			pa, pb := tone(400, 8000, rate8k, 0, 160), tone(600, 8000, rate8k, 0, 160)
			recs := make([]*Recorder, calls)
			hs := make([][2]media.Handler, calls)
			for i := range recs {
				r, err := New(filepath.Join(dir, fmt.Sprintf("r%d.wav", i)), Config{Streams: twoStreams(), Start: t0})
				must(b, err)
				recs[i] = r
				for s := range 2 {
					h, err := r.Stream(s).MediaHandler()
					must(b, err)
					hs[i][s] = h
				}
			}
			defer func() {
				for _, r := range recs {
					_, _ = r.Stop()
				}
			}()
			runtime.GC()
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			packets := 0
			for k := int64(0); packets < b.N; k++ {
				at := t0.Add(time.Duration(k) * 20 * time.Millisecond)
				for i := range recs {
					hs[i][0].HandleAudio(media.Audio{Position: k * 160, PCM: pa, Arrival: at})
					hs[i][1].HandleAudio(media.Audio{Position: k * 160, PCM: pb, Arrival: at})
				}
				packets += 2 * calls
			}
			used := cpuTime() - cpu0
			b.StopTimer()
			b.ReportMetric(float64(used.Nanoseconds())/float64(packets), "cpu-ns/packet")
			for _, r := range recs[:1] {
				if st := r.Stream(0).Stats(); st.Late != 0 || st.Ahead != 0 {
					b.Fatalf("late or ahead samples: %+v", st)
				}
			}
		})
	}
}
