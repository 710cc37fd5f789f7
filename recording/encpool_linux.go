//go:build linux

package recording

import (
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// yielder lets the scheduler poll the network. A goroutine that calls
// LAME keeps its P across the calls (a cgo call is a system call the
// runtime takes the P back from only when sysmon notices it, and sysmon,
// when the process was idle, looks every 10 ms), and the network is
// polled only by a P with nothing else to run: with GOMAXPROCS 1 (or as
// many encoders as Ps), a media worker waiting for its socket would wait
// for the encoders' whole backlog. yield parks the goroutine on a timerfd
// in the network poller for yieldPark: the scheduler, with nothing to
// run, polls the network, runs what it woke (the media worker) and wakes
// the encoder when the timer fires — with a system timer's precision, not
// the poller's millisecond.
type yielder struct {
	f    *os.File
	fd   int
	spec unix.ItimerSpec
	buf  [8]byte
}

func newYielder() *yielder {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil
	}
	return &yielder{f: os.NewFile(uintptr(fd), "encoder-yield"), fd: fd, spec: unix.ItimerSpec{Value: unix.NsecToTimespec(int64(yieldPark))}}
}

func (y *yielder) yield() {
	if y == nil {
		runtime.Gosched()
		return
	}
	if err := unix.TimerfdSettime(y.fd, 0, &y.spec, nil); err != nil {
		runtime.Gosched()
		return
	}
	_, _ = y.f.Read(y.buf[:])
}

func (y *yielder) close() {
	if y != nil {
		_ = y.f.Close()
	}
}
