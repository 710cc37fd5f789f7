// Package fdlimit raises a program's limit of open files (RLIMIT_NOFILE)
// and says what it is, so a server can size its connection caps below it.
//
// Every TCP connection is a file descriptor. A server whose soft limit is
// the common 1,024 runs out at about a thousand connections, and then
// accept fails with "too many open files" (issue 14: ~1,100 idle
// connections stopped the gateway). Go's os package already raises the
// soft limit to the hard one when a program starts (Go 1.19 and later, on
// Unix); Raise does it explicitly, for programs built otherwise and for
// the record, and returns the figures to log and to size
// sip.ListenerConfig.MaxConns with (ConnBudget).
//
// The limit is process-wide state: programs call Raise (examples/gateway
// does at start), libraries never do; a library may read it with Get (the
// recording server of siprec/srs caps its SIP connections within half of
// it).
package fdlimit

import "errors"

// Limits are the soft and hard limits of open files.
type Limits struct {
	Soft, Hard uint64
}

// ErrUnsupported is returned where the system has no such limit (Windows).
var ErrUnsupported = errors.New("fdlimit: no open-file limit on this system")

// Raise sets the soft limit to the hard limit (on macOS, at most
// OPEN_MAX's 10,240 when the hard limit is unlimited) and returns the
// limits in force afterwards. When the soft limit cannot be raised, it
// returns the limits unchanged and the error.
func Raise() (Limits, error) { return raise() }

// Get returns the limits in force.
func Get() (Limits, error) { return get() }

// ConnBudget returns how many connections fit in the soft limit when
// reserve descriptors are kept for everything else (listening sockets,
// files, databases, RTP sockets): soft-reserve, at least 1.
func ConnBudget(l Limits, reserve int) int {
	if l.Soft <= uint64(reserve) {
		return 1
	}
	n := l.Soft - uint64(reserve)
	if n > 1<<30 {
		n = 1 << 30
	}
	return int(n)
}
