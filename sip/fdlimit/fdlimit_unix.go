//go:build unix

package fdlimit

import (
	"fmt"
	"runtime"
	"syscall"
)

func get() (Limits, error) {
	_, l, err := current()
	return l, err
}

// current returns the limits as the kernel keeps them and as Limits.
func current() (syscall.Rlimit, Limits, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return r, Limits{}, fmt.Errorf("fdlimit: getrlimit: %w", err)
	}
	return r, Limits{Soft: uint64(r.Cur), Hard: uint64(r.Max)}, nil
}

func raise() (Limits, error) {
	r, l, err := current()
	if err != nil {
		return l, err
	}
	// the field's own type (uint64 on Linux, darwin, OpenBSD and NetBSD; int64 on FreeBSD and DragonFly)
	r.Cur = r.Max
	if runtime.GOOS == "darwin" && l.Hard > darwinOpenMax {
		r.Cur = darwinOpenMax // OPEN_MAX: the kernel refuses more for the soft limit
	}
	want := uint64(r.Cur)
	if l.Soft >= want {
		return l, nil
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return l, fmt.Errorf("fdlimit: raising the soft limit from %d to %d: %w", l.Soft, want, err)
	}
	return get()
}

// darwinOpenMax is darwin's OPEN_MAX, the most its soft limit may be.
const darwinOpenMax = 10240
