//go:build linux

package recording

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/voicegw/voicegw/media"
)

// BenchmarkRecordCalls is the recording server's media path for many calls
// at once, as the gateway runs it, without the SIP: N two-party calls, each
// a WAV Recorder fed by two media.Receivers (strict latching on the
// sender's address) through their MediaHandlers, on one media.Poller with
// a worker per GOMAXPROCS. A sender thread of its own sends one 20 ms PCMU
// packet per stream every 20 ms, all of them in one burst with sendmmsg
// (as a SIPREC client forking many calls does), from a process of its own
// (this test binary again: TestRecordCallsSender). rx-ns/packet is the
// receiving process's CPU per packet (user + system: the kernel's reads
// and file writes, the garbage collector); on loopback the kernel's
// delivery of each datagram into the receiving socket is done by the
// sending call, and counted in tx-ns/packet. One op is one packet.
//
//	go test ./recording -run '^$' -bench RecordCalls -benchtime 1000000x -cpu 1
//	RECORDING_BENCH_SENDER_CPU=1 taskset -c 0 go test ...   # as capacity -pin
//
// RECORDING_BENCH_CALLS sets N (default 1000); files go to the test's
// temporary directory.
func BenchmarkRecordCalls(b *testing.B) {
	calls := 1000
	if v, err := strconv.Atoi(os.Getenv("RECORDING_BENCH_CALLS")); err == nil && v > 0 {
		calls = v
	}
	for _, steer := range []media.Steering{media.SteerOff, media.SteerOn} {
		b.Run(fmt.Sprintf("calls=%d/steering=%v", calls, steer), func(b *testing.B) { benchCalls(b, calls, steer) })
	}
}

func benchCalls(b *testing.B, calls int, steer media.Steering) {
	p, err := media.NewPoller(media.PollerConfig{Steering: steer})
	if errors.Is(err, media.ErrSteeringUnavailable) {
		b.Skipf("steering needs CAP_BPF and CAP_NET_ADMIN: %v", err)
	}
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	tx, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		b.Fatal(err)
	}
	from := tx.LocalAddr().(*net.UDPAddr).AddrPort()
	_ = tx.Close() // the sending process binds it
	dir := b.TempDir()
	pool, err := media.NewPortPool(media.PortPoolConfig{Address: loopback, MinPort: 10000, MaxPort: 29999}) // below the ephemeral ports the sender binds
	if err != nil {
		b.Fatal(err)
	}
	recs := make([]*Recorder, calls)
	rxs := make([]*media.Receiver, 0, 2*calls)
	ctx, cancel := context.WithCancel(context.Background())
	var runs sync.WaitGroup
	defer func() {
		cancel()
		runs.Wait()
		for _, rx := range rxs {
			_ = rx.Close()
		}
		for _, r := range recs {
			if r != nil {
				_, _ = r.Stop()
			}
		}
	}()
	for i := range recs {
		r, err := New(filepath.Join(dir, fmt.Sprintf("c%d.wav", i)), Config{Streams: twoStreams()})
		if err != nil {
			b.Fatal(err)
		}
		recs[i] = r
		for s := range 2 {
			h, _ := r.Stream(s).MediaHandler()
			ep, err := pool.Allocate()
			if err != nil {
				b.Fatal(err)
			}
			rx, err := media.NewReceiver(ep, media.ReceiverConfig{Handler: h, Remote: from, Poller: p})
			if err != nil {
				b.Fatal(err)
			}
			rxs = append(rxs, rx)
			runs.Add(1)
			go func() { defer runs.Done(); _ = rx.Run(ctx) }()
		}
	}
	received := func() uint64 {
		var n uint64
		for _, rx := range rxs {
			n += rx.Stats().Received
		}
		return n
	}
	ticks := (b.N + len(rxs) - 1) / len(rxs)
	total := uint64(ticks * len(rxs))
	sender, err := startSender(b, from, rxs, ticks)
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	close(sender.start)
	txCPU, err := sender.wait()
	if err != nil {
		b.Fatal(err)
	}
	// Polled every 100 ms: the Stats of thousands of receivers cost CPU
	// that the measurement would count (at 5 ms, up to 40% of it when a
	// packet was lost and the wait ran to its deadline).
	for deadline := time.Now().Add(10 * time.Second); received() < total && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	cpu := cpuTime() - cpu0
	b.StopTimer()
	got := received()
	if got < total {
		b.Logf("%d of %d packets arrived", got, total)
	}
	var late, lost, dgrams, strangers, ahead uint64
	for _, rx := range rxs {
		st := rx.Stats()
		late += st.Late
		lost += st.Lost
		dgrams += st.Datagrams
		strangers += st.Strangers
		ahead += st.Ahead
	}
	if late > 0 || lost > 0 || got < total {
		b.Logf("%d packets late, %d lost; %d datagrams, %d from strangers, %d ahead", late, lost, dgrams, strangers, ahead)
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(got), "rx-ns/packet")
	b.ReportMetric(float64(txCPU.Nanoseconds())/float64(total), "tx-ns/packet")
}

// benchSender is the sending process of BenchmarkRecordCalls: the test
// binary itself, running TestRecordCallsSender.
type benchSender struct {
	start chan struct{}
	done  chan struct{}
	cpu   time.Duration
	err   error
}

func (s *benchSender) wait() (time.Duration, error) {
	<-s.done
	return s.cpu, s.err
}

// startSender starts the sending process, which sends from the socket
// bound to from (the benchmark closes its own first) to every receiver once
// start is closed. RECORDING_BENCH_SENDER_CPU pins it (taskset -c).
func startSender(b *testing.B, from netip.AddrPort, rxs []*media.Receiver, ticks int) (*benchSender, error) {
	var ports strings.Builder
	for _, rx := range rxs {
		fmt.Fprintf(&ports, "%s\n", rx.LocalAddr())
	}
	list := filepath.Join(b.TempDir(), "ports")
	if err := os.WriteFile(list, []byte(ports.String()), 0o600); err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{exe, "-test.run=^TestRecordCallsSender$"}
	if cpu := os.Getenv("RECORDING_BENCH_SENDER_CPU"); cpu != "" {
		args = append([]string{"taskset", "-c", cpu}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "RECORDING_BENCH_SEND="+list, fmt.Sprintf("RECORDING_BENCH_TICKS=%d", ticks),
		"RECORDING_BENCH_FROM="+from.String(), "GOMAXPROCS=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &benchSender{start: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		<-s.start
		_, _ = stdin.Write([]byte("go\n"))
		err := cmd.Wait()
		_, after, ok := strings.Cut(out.String(), "sender-cpu-ns ")
		if err != nil || !ok {
			s.err = fmt.Errorf("sender: %v\n%s", err, out.String())
			return
		}
		ns, _ := strconv.ParseInt(strings.Fields(after)[0], 10, 64)
		s.cpu = time.Duration(ns)
	}()
	return s, nil
}

// TestRecordCallsSender is BenchmarkRecordCalls's sending process; it
// skips unless the benchmark started it. It sends RECORDING_BENCH_TICKS
// rounds, 20 ms apart, of one 20 ms PCMU packet to each address listed in
// the file RECORDING_BENCH_SEND, from RECORDING_BENCH_FROM, with sendmmsg,
// once a line arrives on stdin, and prints its CPU time.
func TestRecordCallsSender(t *testing.T) {
	list := os.Getenv("RECORDING_BENCH_SEND")
	if list == "" {
		t.Skip("the sending process of BenchmarkRecordCalls")
	}
	runtime.LockOSThread()
	ticks, _ := strconv.Atoi(os.Getenv("RECORDING_BENCH_TICKS"))
	b, err := os.ReadFile(list)
	if err != nil {
		t.Fatal(err)
	}
	var dsts []netip.AddrPort
	for _, f := range strings.Fields(string(b)) {
		dsts = append(dsts, netip.MustParseAddrPort(f))
	}
	from := netip.MustParseAddrPort(os.Getenv("RECORDING_BENCH_FROM"))
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: from.Addr().As4(), Port: int(from.Port())}); err != nil {
		t.Fatal(err)
	}
	n := len(dsts)
	g711 := make([]byte, 160)
	media.EncodePCMU(g711, tone(400, 8000, rate8k, 0, 160))
	pkts := make([][12 + 160]byte, n)
	names := make([]unix.RawSockaddrInet4, n)
	iovs := make([]unix.Iovec, n)
	msgs := make([]unix.Mmsghdr, n)
	for i, a := range dsts {
		p := &pkts[i]
		p[0], p[1] = 0x80, 0 // V=2, PCMU
		ssrc := uint32(i + 1)
		p[8], p[9], p[10], p[11] = byte(ssrc>>24), byte(ssrc>>16), byte(ssrc>>8), byte(ssrc)
		copy(p[12:], g711)
		names[i] = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.Addr().As4()}
		port := (*[2]byte)(unsafe.Pointer(&names[i].Port))
		port[0], port[1] = byte(a.Port()>>8), byte(a.Port())
		iovs[i].Base = &p[0]
		iovs[i].SetLen(len(p))
		msgs[i].Hdr.Name = (*byte)(unsafe.Pointer(&names[i]))
		msgs[i].Hdr.Namelen = unix.SizeofSockaddrInet4
		msgs[i].Hdr.Iov = &iovs[i]
		msgs[i].Hdr.SetIovlen(1)
	}
	var line [8]byte
	_, _ = os.Stdin.Read(line[:])
	cpu0 := threadCPU()
	next := time.Now()
	for tick := range ticks {
		seq, ts := uint16(tick), uint32(tick*160)
		for i := range pkts {
			p := &pkts[i]
			p[2], p[3] = byte(seq>>8), byte(seq)
			p[4], p[5], p[6], p[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
		}
		for off := 0; off < n; {
			k, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[off])), uintptr(min(n-off, 1024)), 0, 0, 0)
			if e != 0 && e != unix.EINTR && e != unix.EAGAIN {
				t.Fatal(e)
			}
			off += int(k)
		}
		next = next.Add(20 * time.Millisecond)
		time.Sleep(time.Until(next))
	}
	fmt.Printf("sender-cpu-ns %d\n", (threadCPU() - cpu0).Nanoseconds())
}

func threadCPU() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
