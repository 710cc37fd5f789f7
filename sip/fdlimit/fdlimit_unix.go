//go:build unix

package fdlimit

import (
	"fmt"
	"runtime"
	"syscall"
)

func get() (Limits, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return Limits{}, fmt.Errorf("fdlimit: getrlimit: %w", err)
	}
	return Limits{Soft: uint64(r.Cur), Hard: uint64(r.Max)}, nil
}

func raise() (Limits, error) {
	l, err := get()
	if err != nil {
		return l, err
	}
	want := l.Hard
	if runtime.GOOS == "darwin" && want > 10240 {
		want = 10240 // OPEN_MAX: the kernel refuses more for the soft limit
	}
	if l.Soft >= want {
		return l, nil
	}
	r := syscall.Rlimit{Cur: want, Max: l.Hard}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return l, fmt.Errorf("fdlimit: raising the soft limit from %d to %d: %w", l.Soft, want, err)
	}
	return get()
}
